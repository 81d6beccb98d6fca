"""What a newcomer types first: the package's top-level names."""

from __future__ import annotations

import dataclasses
import inspect
import io
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import httpcache
from httpcache import CacheControl, CacheControlAdapter, CacheOptions, HTTPCacheError
from httpcache._demo import run_demo
from httpcache.heuristics import ExpiresAfter

README = (Path(__file__).resolve().parent.parent / "README.rst").read_text(encoding="utf-8")


def test_stores_import_from_the_top_level_without_importing_redis() -> None:
    code = (
        "import sys\n"
        "from httpcache import CacheControl, DictCache, FileCache, SQLiteCache, RedisCache\n"
        "assert 'redis' not in sys.modules, 'importing httpcache imported redis'\n"
        "print(SQLiteCache.__module__, FileCache.__module__, RedisCache.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["httpcache.caches.sqlite", "httpcache.caches.file", "httpcache.caches.redis"]


def test_every_public_name_is_in_the_readme() -> None:
    missing = [name for name in httpcache.__all__ if name != "__version__" and f"``{name}" not in README]
    assert not missing, f"public names not documented in README.rst: {missing}"


def test_readme_shows_the_import_line_of_a_persistent_store() -> None:
    assert "from httpcache import CacheControl, SQLiteCache" in README


def test_demo_says_what_reached_the_origin_and_which_store_it_used() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    steps = [line for line in text.splitlines() if line[:1].isdigit() and line[1:2] == "."]
    rows = {line[:44].strip(): line[44:].split() for line in steps}
    # status, from_cache, sent, origin total, ms, outcome (response.cache_info)
    assert rows["2. GET /fresh (hit: no origin request)"][:4] == ["200", "True", "no", "1"]
    assert rows["4. GET /validated (revalidated with a 304)"][:4] == ["200", "True", "yes", "2"]
    assert rows["8. GET /item (miss again: new version)"][:4] == ["200", "False", "yes", "2"]
    outcomes = [row[5] for row in rows.values()]
    stored, hit = "miss_stored", "hit"
    assert outcomes == [stored, hit, stored, "revalidated", stored, hit, "bypassed", stored]
    assert "8 requests, 2 hits, 1 revalidated, 4 misses stored, 1 bypassed, 1 invalidation(s)" in text
    assert "DictCache, in memory" in text and "SQLiteCache(" in text
    assert "50 ms" in text


NON_DEFAULT_OPTIONS: dict[str, object] = {
    "shared": True,
    "heuristic_fraction": 0.2,
    "heuristic_max": 10.0,
    "permanent_redirect_lifetime": 5.0,
    "max_variants": 3,
    "surrogate": "edge",
    "targeted_fields": ("Edge-Cache-Control", "CDN-Cache-Control"),
    "coalesce_timeout": 0.0,
    "cache_status": "edge-cache",
    "heuristic": ExpiresAfter(days=1),
    "cacheable_status_codes": frozenset({200, 203}),
    "revalidate": False,
    "expire_after": 60.0,
    "urls_expire_after": (("*/api/*", 30.0),),
    "max_ttl": 3600.0,
    "filter_fn": bool,
    "ignored_parameters": ("api_key",),
    "match_headers": ("accept-language",),
    "mode": "offline",
    "raise_on_miss": True,
    "cacheable_methods": ("GET", "POST"),
    "key_fn": str.lower,
}


def test_the_option_table_covers_every_option() -> None:
    assert set(NON_DEFAULT_OPTIONS) == {f.name for f in dataclasses.fields(CacheOptions)}
    defaults = CacheOptions()
    assert all(getattr(defaults, name) != value for name, value in NON_DEFAULT_OPTIONS.items())


@pytest.mark.parametrize("entry", [CacheControl, CacheControlAdapter])
def test_every_option_is_a_keyword_of_every_entry_point(entry: object) -> None:
    params = inspect.signature(entry).parameters  # type: ignore[arg-type]
    assert not [f.name for f in dataclasses.fields(CacheOptions) if f.name not in params]
    assert "options" in params


def test_keywords_reach_the_cache_options() -> None:
    expected = CacheOptions(**NON_DEFAULT_OPTIONS)  # type: ignore[arg-type]
    adapter = CacheControlAdapter(**NON_DEFAULT_OPTIONS)  # type: ignore[arg-type]
    assert adapter.controller.options == expected
    sess = CacheControl(requests.Session(), **NON_DEFAULT_OPTIONS)  # type: ignore[arg-type]
    mounted = sess.get_adapter("http://127.0.0.1/")
    assert isinstance(mounted, CacheControlAdapter) and mounted.controller.options == expected
    # options= is the base; a keyword given beside it replaces its field
    sess = CacheControl(requests.Session(), options=expected, max_variants=7)
    mounted = sess.get_adapter("https://127.0.0.1/")
    assert isinstance(mounted, CacheControlAdapter)
    assert mounted.controller.options == expected.replace(max_variants=7)
    sess.close()


def test_an_option_beside_a_controller_is_a_caller_mistake() -> None:
    with pytest.raises(HTTPCacheError):
        CacheControlAdapter(controller=CacheControlAdapter().controller, coalesce_timeout=0)

"""What a newcomer types first: the package's top-level names."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpcache
from httpcache._demo import run_demo

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
    # status, from_cache, sent, origin total, ms
    assert rows["2. GET /fresh (hit: no origin request)"][:4] == ["200", "True", "no", "1"]
    assert rows["4. GET /validated (revalidated with a 304)"][:4] == ["200", "True", "yes", "2"]
    assert rows["8. GET /item (miss again: new version)"][:4] == ["200", "False", "yes", "2"]
    assert "DictCache, in memory" in text and "SQLiteCache(" in text
    assert "50 ms" in text

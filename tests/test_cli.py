"""The command line, run as a user runs it (a subprocess): ``python -m httpcache inspect /
stats / purge / explain`` and ``doesitcache``, their output (``--json`` parsed) and exit
codes, and that ``inspect`` and ``stats`` change nothing (a missing store is not created)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from _e2e_helpers import validating
from origin import Origin, Reply
from stores_contract import redis_url

from httpcache import CacheControl, FileCache, SQLiteCache
from httpcache.cache import BaseCache
from httpcache.caches import RedisCache

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}
    return subprocess.run(
        [sys.executable, "-m", "httpcache", *args], capture_output=True, text=True, timeout=120, env=env
    )


def fill(origin: Origin, store: BaseCache) -> None:
    origin.route("/fresh", Reply(200, [("Cache-Control", "max-age=600"), ("ETag", '"f"')], b"fresh"))
    origin.route("/stale", Reply(200, [("Cache-Control", "max-age=0"), ("ETag", '"s"')], b"stale"))
    origin.route("/vary", Reply(200, [("Cache-Control", "max-age=600"), ("Vary", "Accept-Language")], b"v"))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, store)
    for path in ("/fresh", "/stale"):
        sess.get(origin.url(path)).close()
    for lang in ("en", "fr"):
        sess.get(origin.url("/vary"), headers={"Accept-Language": lang}).close()


def test_inspect_stats_and_purge_a_sqlite_store(origin: Origin, tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    store = SQLiteCache(path)
    fill(origin, store)
    spec = f"sqlite://{path}"
    listed = run("inspect", spec, "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert sorted((i["url"].rsplit("/", 1)[1], i["stale"]) for i in items) == [
        ("fresh", False),
        ("stale", True),
        ("vary", False),
        ("vary", False),
    ]
    fresh = next(i for i in items if i["url"].endswith("/fresh"))
    assert fresh["status"] == 200 and fresh["etag"] == '"f"' and fresh["lifetime"] == 600
    assert sorted(i["vary"].get("accept-language") for i in items if i["url"].endswith("/vary")) == ["en", "fr"]

    table = run("inspect", spec)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["STATUS", "METHOD", "SIZE", "AGE", "STATE", "URL", "VARY"]
    assert any("fresh 10 min" in line and line.rstrip().endswith("/fresh  -") for line in lines)
    assert lines[-1].startswith("4 responses, ")

    stats = run("stats", spec, "--json")
    assert stats.returncode == 0
    assert json.loads(stats.stdout) == {"count": 4, "size": sum(i["size"] for i in items), "fresh": 3, "stale": 1}

    matched = json.loads(run("inspect", spec, "--json", "--regex", "/(fresh|stale)$").stdout)
    assert sorted(i["url"] for i in matched) == [origin.url("/fresh"), origin.url("/stale")]
    assert len(json.loads(run("inspect", spec, "--json", "--expired").stdout)) == 1
    assert run("inspect", spec, "--regex", "(").returncode == 2
    assert run("purge", spec).returncode == 2  # says what to delete
    purged = run("purge", spec, "--expired")
    assert purged.returncode == 0 and purged.stdout.endswith("\ndeleted 1 responses\n")
    assert purged.stdout.startswith("judged stale by RFC 9111 as a private cache;")
    purged = run("purge", spec, "--url", "*/vary")
    assert purged.returncode == 0 and purged.stdout == "deleted 2 responses\n"
    assert [i["url"] for i in json.loads(run("inspect", spec, "--json").stdout)] == [origin.url("/fresh")]
    assert run("purge", spec, "--all").stdout == "deleted 1 responses\n"
    assert run("stats", spec).stdout == "0 responses, 0 bytes: 0 fresh, 0 stale\n"


def test_inspect_and_stats_change_nothing(origin: Origin, tmp_path: Path) -> None:
    directory = tmp_path / "files"
    fill(origin, FileCache(directory))
    before = sorted((p, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.rglob("*") if p.is_file())
    for command in ("inspect", "stats"):
        result = run(command, f"file://{directory}", "--json")
        assert result.returncode == 0, result.stderr
    after = sorted((p, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.rglob("*") if p.is_file())
    assert after == before
    assert json.loads(run("stats", f"file://{directory}", "--json").stdout)["count"] == 4


def test_a_missing_or_foreign_store_is_a_clear_error_and_is_not_created(tmp_path: Path) -> None:
    missing_db, missing_dir = tmp_path / "missing.db", tmp_path / "missing-dir"
    for command in ("inspect", "stats", "purge"):
        extra = ["--all"] if command == "purge" else []
        result = run(command, f"sqlite://{missing_db}", *extra)
        assert result.returncode == 3 and "no SQLite store at" in result.stderr
        result = run(command, f"file://{missing_dir}", *extra)
        assert result.returncode == 3 and "no FileCache directory at" in result.stderr
    assert not missing_db.exists() and not missing_dir.exists()
    assert list(tmp_path.iterdir()) == []

    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    content = foreign.read_bytes()
    result = run("inspect", f"sqlite://{foreign}")
    assert result.returncode == 4 and "not an httpcache SQLiteCache database" in result.stderr
    assert foreign.read_bytes() == content
    (tmp_path / "not-a-cache").mkdir()
    result = run("stats", f"file://{tmp_path / 'not-a-cache'}")
    assert result.returncode == 4 and "not a FileCache directory" in result.stderr
    assert list((tmp_path / "not-a-cache").iterdir()) == []

    assert run("inspect", "ftp://somewhere").returncode == 2
    unreachable = run("stats", "redis://127.0.0.1:1/0")
    assert unreachable.returncode == 4 and "cannot be reached" in unreachable.stderr
    for spec in ("redis://", "redis:///0", "rediss://", "unix://"):
        result = run("stats", spec)
        assert result.returncode == 2 and "needs a" in result.stderr, (spec, result.stderr)


def test_a_redis_store_is_named_with_its_prefix(origin: Origin) -> None:
    url = redis_url()
    prefix = f"httpcache-cli-test:{os.getpid()}:{time.time_ns()}:"
    store = RedisCache(url, prefix=prefix)
    other = RedisCache(url, prefix=prefix + "other:")
    try:
        fill(origin, store)
        other.set("unrelated", b"x")
        result = run("stats", f"{url}?prefix={prefix}", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["count"] == 4  # (the other prefix's keys are under ours: not responses)
        assert run("purge", f"{url}?prefix={prefix}", "--url", "*/fresh").stdout == "deleted 1 responses\n"
        assert json.loads(run("stats", f"{url}?prefix={prefix}", "--json").stdout)["count"] == 3
        assert other.get("unrelated") == b"x"
    finally:
        store.clear()
        store.close()
        other.close()


def test_explain_says_whether_and_why_a_url_caches(origin: Origin) -> None:
    origin.route("/fresh", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    origin.route("/nostore", Reply(200, [("Cache-Control", "no-store")], b"x"))
    origin.route("/etag", validating(b"x", [("Cache-Control", "no-cache")], etag='"e"'))
    fresh = run("explain", origin.url("/fresh"))
    assert fresh.returncode == 0
    assert "stored: yes (freshness lifetime 60 s: Cache-Control max-age, RFC 9111 §4.2.1)" in fresh.stdout
    assert "second request: served from the cache: fresh (RFC 9111 §4.2)" in fresh.stdout
    nostore = run("explain", origin.url("/nostore"))
    assert "stored: no: response no-store (RFC 9111 §5.2.2.5)" in nostore.stdout
    etag = run("explain", origin.url("/etag"), "--header", "Accept: text/plain")
    assert 'a revalidation would send: If-None-Match: "e"' in etag.stdout
    assert (
        "second request: not reused as it was: response no-cache (RFC 9111 §5.2.2.4); revalidated with "
        "If-None-Match: the origin answered 304: the stored response was reused (RFC 9111 §4.3.4)"
    ) in etag.stdout
    assert origin.last("/etag").headers.get("accept") == "text/plain"
    assert run("explain", origin.url("/x"), "--header", "no colon").returncode == 2
    failed = run("explain", "http://127.0.0.1:1/")
    assert failed.returncode == 5 and "the request failed" in failed.stdout


def test_doesitcache_answers_as_cachecontrols_command(origin: Origin) -> None:
    origin.route("/fresh", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    origin.route("/nostore", Reply(200, [("Cache-Control", "no-store")], b"x"))
    code = "import sys; from httpcache._cli import doesitcache; sys.exit(doesitcache())"
    for path, verdict in (("/fresh", "Cached!"), ("/nostore", "Not cached :(")):
        result = subprocess.run(
            [sys.executable, "-c", code, origin.url(path)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and result.stdout.splitlines()[-1] == verdict


def test_python_m_httpcache_demo_still_runs() -> None:
    result = run("demo")
    assert result.returncode == 0 and "DictCache, in memory" in result.stdout


def test_freshness_is_judged_with_the_expiry_settings_given(origin: Origin, tmp_path: Path) -> None:
    origin.route("/plain", Reply(200, [("ETag", '"p"')], b"no explicit freshness"))
    origin.route("/long", Reply(200, [("Cache-Control", "max-age=600")], b"long"))
    origin.route("/cdn", Reply(200, [("Cache-Control", "max-age=600, s-maxage=0")], b"cdn"))
    path = tmp_path / "cache.db"
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, SQLiteCache(path), expire_after=3600)
    for name in ("/plain", "/long", "/cdn"):
        sess.get(origin.url(name)).close()
    spec = f"sqlite://{path}"

    def stale(*options: str) -> list[str]:
        listed = run("inspect", spec, "--json", "--expired", *options)
        assert listed.returncode == 0, listed.stderr
        return sorted(i["url"].rsplit("/", 1)[1] for i in json.loads(listed.stdout))

    assert stale() == ["plain"]  # RFC 9111 alone: no freshness
    assert stale("--expire-after", "3600") == []  # as the application judges it
    assert stale("--expire-after", "3600", "--max-ttl", "0") == ["cdn", "long", "plain"]
    assert stale("--expire-after", "3600", "--shared") == ["cdn"]  # s-maxage=0 (RFC 9111 §5.2.2.10)
    stats = run("stats", spec, "--json", "--expire-after", "3600")
    assert {k: v for k, v in json.loads(stats.stdout).items() if k != "size"} == {"count": 3, "fresh": 3, "stale": 0}

    purged = run("purge", spec, "--expired", "--expire-after", "3600")
    assert purged.returncode == 0, purged.stderr
    rule, deleted = purged.stdout.splitlines()
    assert rule.startswith("judged stale by RFC 9111 as a private cache, --expire-after 3600 s")
    assert "CacheInspector(session).delete(expired=True)" in rule
    assert deleted == "deleted 0 responses"
    for bad in (["--expire-after", "-1"], ["--max-ttl", "soon"]):
        result = run("purge", spec, "--expired", *bad)
        assert result.returncode == 2 and ("--expire-after" in result.stderr or "--max-ttl" in result.stderr)
    assert run("stats", spec, "--json").returncode == 0 and len(stale()) == 1  # nothing was deleted
    for command in ("inspect", "stats", "purge"):
        helped = run(command, "--help")
        text = " ".join(helped.stdout.split())
        assert "judged by RFC 9111 plus only the options given here" in text
        assert "--expire-after SECONDS" in text and "--max-ttl SECONDS" in text and "--shared" in text

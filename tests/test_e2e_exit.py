"""A process exits at once after ``session.close()``, even with a background refresh
(stale-while-revalidate, RFC 5861 §3) in flight against a slow origin: the refresh is
abandoned and nothing half-written is left in the store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
from _e2e_helpers import http_date
from origin import Origin, Reply, Seen

from httpcache import CacheControl
from httpcache.caches import SQLiteCache

pytestmark = pytest.mark.e2e

CHILD = textwrap.dedent(
    """
    import sys, time, requests
    from httpcache import CacheControl
    from httpcache.caches import SQLiteCache

    url, db = sys.argv[1], sys.argv[2]
    store = SQLiteCache(db)
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=store)
    first = sess.get(url)
    second = sess.get(url)  # stale within stale-while-revalidate: served, refreshed in the background
    assert second.from_cache and second.content == first.content, (second.from_cache, second.content)
    time.sleep(0.3)  # the refresh is now waiting on the slow origin
    sess.close()
    store.close()
    print("closed", flush=True)
    """
)


def test_close_lets_the_process_exit_with_a_refresh_in_flight(origin: Origin, tmp_path: Path) -> None:
    calls = {"n": 0}

    def handler(seen: Seen) -> Reply:
        calls["n"] += 1
        headers = [("Cache-Control", "max-age=1, stale-while-revalidate=600"), ("Date", http_date(-30))]
        # the first answer is quick; the background refresh meets a slow origin
        return Reply(200, headers, b"payload", delay=0.0 if calls["n"] == 1 else 6.0)

    origin.route("/swr-exit", handler)
    db = tmp_path / "cache.db"
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, origin.url("/swr-exit"), str(db)], capture_output=True, text=True, timeout=30
    )
    took = time.monotonic() - started
    assert child.returncode == 0, child.stderr
    assert "closed" in child.stdout
    assert origin.count("/swr-exit") == 2, "the refresh did reach the origin"
    assert took < 4.0, f"the process took {took:.1f} s to exit: it waited for the 6 s refresh"
    # nothing half-written: the store still holds the first response, whole
    store = SQLiteCache(str(db))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=store)
    try:
        again = sess.get(origin.url("/swr-exit"), headers={"Cache-Control": "max-stale=3600, only-if-cached"})
        assert (again.status_code, again.content) == (200, b"payload")
    finally:
        sess.close()
        store.close()

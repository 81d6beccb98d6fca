"""Calls a store skips on its own (``BaseCache.skipped_call``: ``RedisCache``'s circuit
breaker while Redis is down) are counted by the caches using it (``store_skipped``)."""

from __future__ import annotations

from typing import Optional

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply

from httpcache import CacheControl
from httpcache.adapter import CacheControlAdapter
from httpcache.cache import BaseCache
from httpcache.caches import RedisCache

pytestmark = pytest.mark.e2e


def session_on(store: BaseCache) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, store)


def stats_of(sess: requests.Session) -> dict[str, object]:
    adapter = sess.get_adapter("http://x/")
    assert isinstance(adapter, CacheControlAdapter)
    return adapter.controller.stats.snapshot().as_dict()


def test_calls_skipped_while_redis_is_down_are_counted(origin: Origin) -> None:
    pytest.importorskip("redis")
    origin.route("/p", Reply(200, [("Cache-Control", "max-age=600")], b"p"))
    store = RedisCache("redis://127.0.0.1:1/0")  # nothing listens there
    sess = session_on(store)
    try:
        for _ in range(20):
            assert not from_cache(sess.get(origin.url("/p")))
    finally:
        store.close()
    assert origin.count("/p") == 20  # the requests still reach the origin
    counts = stats_of(sess)
    assert counts["store_skipped"] == store.skipped > 0
    assert stats_of(sess)["store_skipped"] == counts["store_skipped"]


class _Skipping(BaseCache):
    """A store of one's own that skips every read, telling the cache."""

    def get(self, key: str) -> Optional[bytes]:
        self.skipped_call()
        return None

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        pass

    def delete(self, key: str) -> None:
        pass


def test_a_store_of_your_own_tells_every_cache_using_it(origin: Origin) -> None:
    origin.route("/p", Reply(200, [("Cache-Control", "max-age=600")], b"p"))
    store = _Skipping()
    first = session_on(store)
    first.get(origin.url("/p")).close()
    once = stats_of(first)["store_skipped"]
    assert isinstance(once, int) and once > 0 and stats_of(first)["store_errors"] == 0
    second = session_on(store)
    second.get(origin.url("/p")).close()
    assert stats_of(second)["store_skipped"] == once
    assert stats_of(first)["store_skipped"] == 2 * once  # a store shared: each cache counts all its skips

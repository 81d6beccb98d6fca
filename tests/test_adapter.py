"""Adapter tests at the transport level, with ``responses`` standing in for the network."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter

from httpcache import CacheControl, CacheControlAdapter, CacheController, CacheOptions, DictCache, HTTPCacheError
from httpcache.cache import BaseCache
from httpcache.keys import cache_key
from httpcache.policy import STALE_GRACE

URL = "http://example.test/resource"


def _session(**kwargs: Any) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, **kwargs)


@responses.activate
def test_fresh_hit_sends_nothing() -> None:
    responses.add(responses.GET, URL, body=b"one", headers={"Cache-Control": "max-age=60"})
    sess = _session()
    first = sess.get(URL)
    second = sess.get(URL)
    assert (first.from_cache, second.from_cache) == (False, True)  # type: ignore[attr-defined]
    assert second.content == b"one"
    assert second.headers["Age"].isdigit()
    assert len(responses.calls) == 1


@responses.activate
def test_revalidation_adds_validators_and_serves_stored_body() -> None:
    responses.add(responses.GET, URL, body=b"body", headers={"ETag": '"e1"', "Cache-Control": "no-cache"})
    responses.add(responses.GET, URL, status=304, headers={"ETag": '"e1"', "X-New": "yes"})
    sess = _session()
    assert sess.get(URL).content == b"body"
    req = requests.Request("GET", URL).prepare()
    resp = sess.send(req)
    assert resp.status_code == 200
    assert resp.content == b"body"
    assert resp.headers["X-New"] == "yes"
    assert resp.from_cache is True  # type: ignore[attr-defined]
    assert responses.calls[1].request.headers["If-None-Match"] == '"e1"'
    assert "If-None-Match" not in req.headers  # the caller's request is not modified


@responses.activate
def test_unsafe_method_invalidates() -> None:
    responses.add(responses.GET, URL, body=b"v1", headers={"Cache-Control": "max-age=60"})
    responses.add(responses.POST, URL, status=200)
    responses.add(responses.GET, URL, body=b"v2", headers={"Cache-Control": "max-age=60"})
    sess = _session()
    assert sess.get(URL).content == b"v1"
    assert sess.get(URL).content == b"v1"
    sess.post(URL, data=b"x")
    assert sess.get(URL).content == b"v2"
    assert len(responses.calls) == 3


@responses.activate
def test_only_if_cached_miss_is_504_without_network() -> None:
    sess = _session()
    resp = sess.get(URL, headers={"Cache-Control": "only-if-cached"})
    assert resp.status_code == 504
    assert resp.from_cache is False  # type: ignore[attr-defined]
    assert len(responses.calls) == 0


def test_wrapped_adapter_keeps_sending() -> None:
    class CountingAdapter(HTTPAdapter):
        sent = 0

        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            CountingAdapter.sent += 1
            return super().send(request, *args, **kwargs)

    sess = requests.Session()
    mine = CountingAdapter(max_retries=3)
    sess.mount("http://", mine)
    CacheControl(sess)
    adapter = sess.get_adapter(URL)
    assert isinstance(adapter, CacheControlAdapter)
    assert adapter._inner is mine
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URL, body=b"x", headers={"Cache-Control": "max-age=60"})
        sess.get(URL)
        sess.get(URL)
    assert CountingAdapter.sent == 1
    assert mine.max_retries.total == 3


def test_rewrapping_does_not_nest() -> None:
    sess = requests.Session()
    CacheControl(sess)
    first = sess.get_adapter(URL)
    CacheControl(sess)
    second = sess.get_adapter(URL)
    assert isinstance(first, CacheControlAdapter) and isinstance(second, CacheControlAdapter)
    assert second._inner is first._inner


def test_caller_mistakes_raise_httpcacheerror() -> None:
    with pytest.raises(HTTPCacheError):
        CacheOptions(heuristic_fraction=2.0)
    with pytest.raises(HTTPCacheError):
        CacheControlAdapter(DictCache(), controller=CacheController())
    with pytest.raises(ValueError):
        CacheOptions(max_variants=0)


class TwoArgStore(BaseCache):
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:  # type: ignore[override]
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key)


class HintStore(TwoArgStore):
    def __init__(self) -> None:
        super().__init__()
        self.hints: list[Optional[float]] = []

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        self.hints.append(expires)
        self.data[key] = value


@responses.activate
def test_two_argument_store_and_expiry_hint_store() -> None:
    responses.add(responses.GET, URL, body=b"x", headers={"Cache-Control": "max-age=100"})
    two, hint = TwoArgStore(), HintStore()
    for store in (two, hint):
        sess = _session(cache=store)
        sess.get(URL)
        assert sess.get(URL).from_cache is True  # type: ignore[attr-defined]
        assert cache_key("GET", URL) in store.data
    assert len(hint.hints) == 1
    # freshness left (100 s) plus the grace a stale response is kept for max-stale
    assert hint.hints[0] is not None and 95 + STALE_GRACE <= hint.hints[0] <= 100 + STALE_GRACE


@responses.activate
def test_invalidating_a_missing_entry_with_raising_delete() -> None:
    """The seed store's delete raises KeyError on a missing key: never reaches the caller."""
    responses.add(responses.DELETE, URL, status=204)
    sess = _session(cache=TwoArgStore())
    assert sess.delete(URL).status_code == 204


def test_dictcache_under_threads() -> None:
    store = DictCache()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(2000):
            key = f"k{i % 50}"
            value = f"{key}:{worker}:{i}".encode()
            store.set(key, value, expires=60 if i % 2 else None)
            got = store.get(key)
            if got is not None and not got.startswith(key.encode() + b":"):
                errors.append(AssertionError(got))
            if i % 7 == 0:
                store.delete(key)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert errors == []
    assert len(store) <= 50


def test_dictcache_expiry_hint() -> None:
    store = DictCache()
    store.set("a", b"1", expires=0)
    store.set("b", b"2", expires=60)
    store.set("c", b"3")
    assert store.get("a") is None
    assert (store.get("b"), store.get("c")) == (b"2", b"3")

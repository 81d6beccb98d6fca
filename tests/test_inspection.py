"""Seeing into the store through the cache (``CacheInspector``), on every store: what is
listed (and what is not: indexes, leases, markers, damaged values), the filters, the
counts, deleting by URL (every variant and credentials' copy), by pattern and by expiry,
reading a stored response back, and all of it while another process uses the store."""

from __future__ import annotations

import multiprocessing
import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply, Seen
from stores_contract import StoreSpec, open_store, shared_spec

from httpcache import CacheControl, CacheInspector, DictCache, UnsupportedStoreError, _coalesce, read_response
from httpcache.cache import BaseCache
from httpcache.keys import cache_key

pytestmark = pytest.mark.e2e

BIG = b"0123456789abcdef" * (1 << 17)  # 2 MiB: read in pieces by the file and SQLite stores


def reply(seen: Seen) -> Reply:
    """/fresh, /stale (max-age=0 with an ETag), /vary (by Accept-Language: 'old' stale),
    /private (private), /big, /nostore."""
    path = seen.path.split("?", 1)[0]
    etag = [("ETag", f'"{path}"')]
    if path == "/stale":
        return Reply(200, [("Cache-Control", "max-age=0"), *etag], b"stale body")
    if path == "/vary":
        lang = seen.headers.get("accept-language", "")
        age = "0" if lang == "old" else "600"
        return Reply(200, [("Cache-Control", f"max-age={age}"), ("Vary", "Accept-Language"), *etag], lang.encode())
    if path == "/big":
        return Reply(200, [("Cache-Control", "max-age=600")], BIG)
    if path == "/nostore":
        return Reply(200, [("Cache-Control", "no-store")], b"x")
    return Reply(200, [("Cache-Control", "max-age=600"), *etag], f"body of {path}".encode())


@pytest.fixture(params=["dict", "file", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    if request.param == "dict":
        yield DictCache()
        return
    spec = shared_spec(request.param, tmp_path)
    made = open_store(spec)
    try:
        yield made
    finally:
        made.clear()
        made.close()


def session_on(store: BaseCache) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, store)


def fill(origin: Origin, sess: requests.Session) -> None:
    for path in ("/fresh", "/stale", "/big", "/nostore", "/other"):
        origin.route(path, reply)
    origin.route("/vary", reply)
    for path in ("/fresh", "/stale", "/big", "/nostore", "/other"):
        sess.get(origin.url(path)).close()
    for lang in ("en", "fr", "old"):
        sess.get(origin.url("/vary"), headers={"Accept-Language": lang}).close()
    sess.get(origin.url("/vary"), headers={"Accept-Language": "en", "Authorization": "Bearer a"}).close()


def test_lists_every_stored_response_with_its_facts(origin: Origin, store: BaseCache) -> None:
    sess = session_on(store)
    fill(origin, sess)
    # things in the store that are not responses: never listed, never an error
    store.set(_coalesce.pass_key(cache_key("GET", origin.url("/nostore"))), _coalesce.pass_marker(time.time()))
    store.acquire_lease(cache_key("GET", origin.url("/fresh")), 60)
    store.set("not ours", b"HTTPCACHE\x03R damaged")
    inspector = CacheInspector(sess)
    now = time.time()
    items = list(inspector.responses(now=now))
    by_url: dict[str, list[object]] = {}
    for item in items:
        by_url.setdefault(item.url.rsplit("/", 1)[1], []).append(item)
    assert sorted(by_url) == ["big", "fresh", "other", "stale", "vary"]
    assert len(by_url["vary"]) == 4  # three languages and one with credentials
    vary = sorted((dict(i.vary)["accept-language"], i.credentials) for i in items if i.url.endswith("/vary"))
    assert vary == [("en", False), ("en", True), ("fr", False), ("old", False)]
    fresh = next(i for i in items if i.url.endswith("/fresh"))
    assert (fresh.method, fresh.status, fresh.etag, fresh.stale) == ("GET", 200, '"/fresh"', False)
    assert fresh.lifetime == 600.0 and 0 <= fresh.age < 60
    assert abs(fresh.fresh_until - (now + 600 - fresh.age)) < 1e-6
    assert fresh.size > fresh.body_length == len(b"body of /fresh")
    assert now - 60 < fresh.stored_at <= now
    stale = next(i for i in items if i.url.endswith("/stale"))
    assert stale.stale and stale.lifetime == 0.0
    big = next(i for i in items if i.url.endswith("/big"))
    assert big.body_length == len(BIG)
    assert inspector.count() == 8
    assert inspector.total_size() == sum(i.size for i in items)
    stats = inspector.stats()
    assert (stats.count, stats.fresh, stats.stale) == (8, 6, 2)
    # listing changed nothing: everything is still served from the cache
    before = origin.count("/fresh")
    assert from_cache(sess.get(origin.url("/fresh")))
    assert origin.count("/fresh") == before


def test_filters_by_url_glob_regex_expiry_and_age(origin: Origin, store: BaseCache) -> None:
    sess = session_on(store)
    fill(origin, sess)
    inspector = CacheInspector(sess)
    assert {i.url for i in inspector.responses("*/vary")} == {origin.url("/vary")}
    assert inspector.count("*/vary") == 4
    assert inspector.count(re.compile(r"/(fresh|other)$")) == 2
    assert inspector.count("/fresh") == 0  # a glob matches the whole URL
    assert sorted(i.url.rsplit("/", 1)[1] for i in inspector.responses(expired=True)) == ["stale", "vary"]
    assert inspector.count(expired=False) == 6
    later = time.time() + 1000
    assert inspector.count(older_than=500, now=later) == 8
    assert inspector.count(older_than=5000, now=later) == 0
    assert inspector.count(expired=True, now=later) == 8  # all stale by then


def test_delete_url_removes_every_variant_and_credentials_copy(origin: Origin, store: BaseCache) -> None:
    sess = session_on(store)
    fill(origin, sess)
    inspector = CacheInspector(sess)
    assert inspector.delete_url(origin.url("/vary")) == 4
    assert inspector.count("*/vary") == 0
    assert inspector.count() == 4
    fetched = origin.count("/vary")
    for lang in ("en", "fr"):
        assert not from_cache(sess.get(origin.url("/vary"), headers={"Accept-Language": lang}))
    assert not from_cache(sess.get(origin.url("/vary"), headers={"Accept-Language": "en", "Authorization": "Bearer a"}))
    assert origin.count("/vary") == fetched + 3
    assert from_cache(sess.get(origin.url("/fresh")))  # other URLs untouched


def test_delete_expired_keeps_the_fresh_variants_of_the_same_url(origin: Origin, store: BaseCache) -> None:
    sess = session_on(store)
    fill(origin, sess)
    inspector = CacheInspector(sess)
    assert inspector.delete(expired=True) == 2
    assert inspector.count(expired=True) == 0
    assert inspector.count() == 6
    fetched = origin.count("/vary")
    assert from_cache(sess.get(origin.url("/vary"), headers={"Accept-Language": "fr"}))
    assert from_cache(sess.get(origin.url("/vary"), headers={"Accept-Language": "en"}))
    assert origin.count("/vary") == fetched
    old = sess.get(origin.url("/vary"), headers={"Accept-Language": "old"})
    assert not from_cache(old) and old.content == b"old"  # deleted: fetched in full, not revalidated
    assert "if-none-match" not in origin.last("/vary").headers


def test_delete_by_pattern_and_clear(origin: Origin, store: BaseCache) -> None:
    sess = session_on(store)
    fill(origin, sess)
    inspector = CacheInspector(sess)
    assert inspector.delete(re.compile(r"/(big|other)$")) == 2
    assert inspector.count() == 6 and inspector.count("*/big") == 0
    assert inspector.delete("*/vary") == 4
    assert sorted(i.url.rsplit("/", 1)[1] for i in inspector.responses()) == ["fresh", "stale"]
    inspector.clear()
    assert inspector.count() == 0
    assert not from_cache(sess.get(origin.url("/fresh")))


def test_a_stored_response_reads_back_as_a_requests_response(origin: Origin, store: BaseCache) -> None:
    sess = session_on(store)
    fill(origin, sess)
    inspector = CacheInspector(sess)
    for item in inspector.responses():
        resp = read_response(inspector, item)
        assert resp is not None
        assert isinstance(resp, requests.Response) and from_cache(resp)
        assert resp.status_code == item.status and resp.url == item.url
        assert int(resp.headers["Age"]) >= 0
        if item.url.endswith("/big"):
            assert resp.content == BIG
        elif item.url.endswith("/vary"):
            assert resp.content == (dict(item.vary)["accept-language"] or "").encode()
        else:
            assert resp.headers["ETag"] == item.etag
    item = next(inspector.responses("*/fresh"))
    inspector.delete_url(origin.url("/fresh"))
    assert read_response(inspector, item) is None  # gone since it was listed


def test_inspector_takes_a_session_adapter_controller_or_store(origin: Origin) -> None:
    store = DictCache()
    sess = session_on(store)
    origin.route("/fresh", reply)
    sess.get(origin.url("/fresh")).close()
    adapter = sess.get_adapter(origin.url("/"))
    for target in (sess, adapter, adapter.controller, store):  # type: ignore[attr-defined]
        assert [i.url for i in CacheInspector(target).responses()] == [origin.url("/fresh")]
    with pytest.raises(ValueError, match="CacheInspector needs"):
        CacheInspector(object())


class _NoListing(BaseCache):
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class _Listing(_NoListing):
    def keys(self) -> Iterator[str]:
        return iter(list(self.data))


class _Vanishing(_Listing):
    """Lists keys that are gone by the time they are read, and one that fails to read."""

    def keys(self) -> Iterator[str]:
        yield "deleted meanwhile"
        yield from super().keys()
        yield "failing"

    def get(self, key: str) -> Optional[bytes]:
        if key == "failing":
            raise OSError("read failed")
        return super().get(key)


def test_a_store_of_your_own_is_inspected_if_it_lists_its_keys(origin: Origin) -> None:
    origin.route("/fresh", reply)
    listing = session_on(_Listing())
    listing.get(origin.url("/fresh")).close()
    assert CacheInspector(listing).count() == 1
    vanishing = session_on(_Vanishing())
    vanishing.get(origin.url("/fresh")).close()
    assert [i.url for i in CacheInspector(vanishing).responses()] == [origin.url("/fresh")]
    plain = session_on(_NoListing())
    plain.get(origin.url("/fresh")).close()
    with pytest.raises(UnsupportedStoreError, match=r"_NoListing cannot list its keys: implement keys\(\)"):
        CacheInspector(plain).count()
    with pytest.raises(NotImplementedError):
        CacheInspector(plain).count()
    assert CacheInspector(plain).delete_url(origin.url("/fresh")) == 1  # (needs no listing)
    assert not from_cache(plain.get(origin.url("/fresh")))
    with pytest.raises(UnsupportedStoreError, match=r"_NoListing cannot be cleared: implement clear\(\)"):
        CacheInspector(plain).clear()
    with pytest.raises(UnsupportedStoreError, match=r"_NoListing .*clear\(\)"):
        _NoListing().clear()


def test_a_file_store_lists_values_not_keys(tmp_path: Path) -> None:
    from httpcache import FileCache

    files = FileCache(tmp_path / "c")
    files.set("k", b"v")
    with pytest.raises(UnsupportedStoreError, match="FileCache"):
        files.keys()
    assert list(files.values()) == [b"v"]


# -- while another process uses the store ----------------------------------------------------


def busy_writer(spec: StoreSpec, base: str, seconds: float, seed: int) -> int:
    """In a process of its own: fetch, refetch and invalidate URLs through the shared store."""
    rng = random.Random(seed)
    sess = requests.Session()
    sess.trust_env = False
    store = open_store(spec)
    CacheControl(sess, store, coalesce_timeout=0)
    inspector = CacheInspector(sess)
    done = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        n = rng.randrange(12)
        lang = rng.choice(["en", "fr", "old"])
        headers = {"Accept-Language": lang, "Cache-Control": "no-cache"} if rng.random() < 0.3 else {}
        sess.get(f"{base}/vary?n={n}" if rng.random() < 0.5 else f"{base}/p{n}", headers=headers).close()
        if rng.random() < 0.1:
            inspector.delete_url(f"{base}/p{n}")
        done += 1
    sess.close()
    store.close()
    return done


@pytest.mark.parametrize("kind", ["file", "sqlite", "redis"])
def test_inspecting_and_deleting_while_another_process_writes(origin: Origin, tmp_path: Path, kind: str) -> None:
    for n in range(12):
        origin.route(f"/p{n}", reply)
    origin.route("/vary", reply)
    spec = shared_spec(kind, tmp_path)
    store = open_store(spec)
    try:
        inspector = CacheInspector(store)
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(busy_writer, spec, origin.url(""), 4.0, seed) for seed in range(2)]
            rounds = 0
            while not all(f.done() for f in futures):
                for item in inspector.responses():
                    assert item.status == 200 and item.url.startswith(origin.url("/"))
                inspector.stats()
                inspector.delete(expired=True)
                inspector.delete(re.compile(r"/p[0-3]$"))
                rounds += 1
            assert all(f.result() > 0 for f in futures)
        assert rounds > 0
        # what is left is consistent: every listed response reads back, every URL still caches
        for item in inspector.responses():
            assert read_response(inspector, item) is not None
        sess = session_on(store)
        for n in range(12):
            url = origin.url(f"/p{n}")
            sess.get(url).close()
            assert from_cache(sess.get(url))
        for lang in ("en", "fr"):
            url = origin.url("/vary?n=1")
            sess.get(url, headers={"Accept-Language": lang}).close()
            assert from_cache(sess.get(url, headers={"Accept-Language": lang}))
    finally:
        store.clear()
        store.close()

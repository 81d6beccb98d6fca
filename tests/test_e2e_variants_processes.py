"""A URL's Vary variants written at once by several processes sharing a store (FileCache,
SQLiteCache, Redis): every variant is kept in the URL's index (RFC 9111 §4.1) and served
from the cache afterwards, and no variant value is left that the index does not list.
Also: in one process, a slow streamed write of one URL does not hold up a write of another."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import pytest
import requests
from _e2e_helpers import from_cache
from _policy_helpers import NOW
from origin import Origin, Reply, Seen
from stores_contract import StoreSpec, open_store, shared_spec

from httpcache import CacheControl
from httpcache._headers import Headers
from httpcache.cache import BaseCache, ValueWriter
from httpcache.caches import FileCache
from httpcache.controller import CacheController
from httpcache.keys import cache_key
from httpcache.models import RequestView, ResponseView

pytestmark = pytest.mark.e2e

PROCESSES = 6
URLS = 8


def body_for(path: str, variant: str) -> bytes:
    return f"{path} in variant {variant}\n".encode() * 4000


def store_variant(spec: StoreSpec, urls: list[str], variant: str, start: float) -> list[bool]:
    """In a fresh process: at ``start`` (wall clock), GET each URL as ``variant`` through the shared store."""
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=open_store(spec), coalesce_timeout=0)  # each process fetches its own variant
    time.sleep(max(0.0, start - time.time()))
    hits = []
    for url in urls:
        resp = sess.get(url, headers={"X-Variant": variant})
        assert resp.content == body_for(urlsplit(url).path, variant)
        hits.append(from_cache(resp))
    sess.close()
    return hits


@pytest.fixture(params=["file", "sqlite", "redis"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    return shared_spec(request.param, tmp_path)


def stored_keys(store: BaseCache, spec: StoreSpec) -> int:
    """How many values the store holds (Redis: under the test's prefix, leases aside)."""
    if spec.kind == "redis":
        client = store.client  # type: ignore[attr-defined]
        names = [
            n for n in client.scan_iter(match=spec.prefix + "*") if not n.startswith(b"%slease:" % spec.prefix.encode())
        ]
        return len(names)
    return len(store)  # type: ignore[arg-type]


def test_processes_storing_variants_of_one_url_keep_them_all(origin: Origin, spec: StoreSpec) -> None:
    paths = [f"/v{n}" for n in range(URLS)]
    # the origin answers a URL's requests together, once every process has asked: their
    # writes of the URL's variants then overlap
    together = {path: threading.Barrier(PROCESSES) for path in paths}
    racing = threading.Event()
    racing.set()

    def reply(seen: Seen) -> Reply:
        variant = seen.headers.get("x-variant", "")
        if racing.is_set():
            with contextlib.suppress(threading.BrokenBarrierError):
                together[seen.path].wait(10)
        headers = [("Cache-Control", "max-age=600"), ("Vary", "X-Variant")]
        return Reply(200, headers, body_for(seen.path, variant))

    for path in paths:
        origin.route(path, reply)
    urls = [origin.url(path) for path in paths]
    variants = [f"variant-{n}" for n in range(PROCESSES)]
    store = open_store(spec)  # created once, before the processes race to
    try:
        with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(time.sleep, [0.0] * PROCESSES * 2))  # interpreters up before the clock starts
            start = time.time() + 1.5
            futures = [pool.submit(store_variant, spec, urls, variant, start) for variant in variants]
            results = [f.result(timeout=120) for f in futures]
        racing.clear()
        assert not any(hit for hits in results for hit in hits), "each process fetched its own variant"
        fetched = sum(origin.count(path) for path in paths)
        assert fetched == PROCESSES * URLS

        sess = requests.Session()
        sess.trust_env = False
        CacheControl(sess, cache=open_store(spec))
        missing = []
        for url, path in zip(urls, paths):
            for variant in variants:
                resp = sess.get(url, headers={"X-Variant": variant})
                assert resp.content == body_for(path, variant)
                if not from_cache(resp):
                    missing.append((path, variant))
        sess.close()
        assert missing == [], "variants lost by concurrent writers"
        assert sum(origin.count(path) for path in paths) == fetched, "every lookup served from the cache"
        # one index per URL and its variants: no variant value outside an index
        assert stored_keys(store, spec) == URLS * (1 + PROCESSES)
    finally:
        store.clear()
        store.close()


class _HeldCommits(FileCache):
    """A FileCache whose streamed commits of ``held`` wait for ``release`` (``committing`` set meanwhile)."""

    def __init__(self, directory: Path, held: str) -> None:
        super().__init__(directory)
        self.held = held
        self.committing = threading.Event()
        self.release = threading.Event()

    def open_write(self) -> ValueWriter:
        writer = super().open_write()
        commit = writer.commit

        def slow_commit(key: str, expires: Optional[float] = None) -> None:
            if key == self.held:
                self.committing.set()
                self.release.wait(30)
            commit(key, expires)

        writer.commit = slow_commit  # type: ignore[method-assign]
        return writer


def test_slow_streamed_write_of_one_url_does_not_block_another(tmp_path: Path) -> None:
    slow_url, quick_url = "http://example.test/large", "http://example.test/small"
    store = _HeldCommits(tmp_path / "files", held=cache_key("GET", slow_url))
    ctl = CacheController(store, clock=lambda: NOW)
    resp = ResponseView(200, Headers([("Cache-Control", "max-age=600")]), "OK")

    def slow_write() -> None:
        spool = ctl.begin_store(RequestView("GET", slow_url, Headers()), resp, NOW, NOW)
        assert spool is not None
        for _ in range(3):
            spool.write(b"x" * (1024 * 1024))  # past SPILL_AT: streamed into a writer
        spool.complete()

    slow = threading.Thread(target=slow_write)
    slow.start()
    quick_done = threading.Event()
    try:
        assert store.committing.wait(30), "the slow write reached its commit"

        def quick_write() -> None:
            ctl.store(RequestView("GET", quick_url, Headers()), resp, b"small", NOW, NOW)
            quick_done.set()

        quick = threading.Thread(target=quick_write)
        quick.start()
        assert quick_done.wait(10), "the write of another URL waited for the slow commit"
        assert slow.is_alive(), "the slow write was still in progress"
    finally:
        store.release.set()
        slow.join(30)
    assert ctl.lookup(RequestView("GET", quick_url, Headers())).stored is not None
    assert ctl.lookup(RequestView("GET", slow_url, Headers())).stored is not None

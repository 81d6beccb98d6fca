"""Coalescing across processes: sessions in separate processes sharing one store send
one origin request per URL, through the store's lease (FileCache, SQLiteCache, Redis)."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import requests
from origin import Origin, Reply, Seen
from stores_contract import StoreSpec, open_store, shared_spec

from httpcache import CacheControl

pytestmark = pytest.mark.e2e

PROCESSES = 4
BODY = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2000))


def fetch_at(spec: StoreSpec, url: str, start: float) -> tuple[str, bool]:
    """In a fresh process: wait until ``start`` (wall clock), GET ``url`` through the shared store."""
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=open_store(spec), coalesce_timeout=20)
    time.sleep(max(0.0, start - time.time()))
    resp = sess.get(url)
    return hashlib.sha256(resp.content).hexdigest(), bool(getattr(resp, "from_cache", False))


@pytest.fixture(params=["file", "sqlite", "redis"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    return shared_spec(request.param, tmp_path)


def run_all(spec: StoreSpec, url: str) -> list[tuple[str, bool]]:
    open_store(spec).close()  # create it once, before the processes race to
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(time.sleep, [0.0] * PROCESSES * 2))  # interpreters up before the clock starts
        start = time.time() + 1.5
        futures = [pool.submit(fetch_at, spec, url, start) for _ in range(PROCESSES)]
        return [f.result(timeout=60) for f in futures]


def test_one_origin_request_for_processes_sharing_a_store(origin: Origin, spec: StoreSpec) -> None:
    origin.route("/slow", Reply(200, [("Cache-Control", "max-age=600")], BODY, delay=1.0))
    results = run_all(spec, origin.url("/slow"))
    assert {digest for digest, _ in results} == {hashlib.sha256(BODY).hexdigest()}
    assert origin.count("/slow") == 1, "one process fetched; the others waited for its stored response"
    assert sum(hit for _, hit in results) == PROCESSES - 1


def test_unstorable_response_is_fetched_by_each_process(origin: Origin, spec: StoreSpec) -> None:
    origin.route("/private", Reply(200, [("Cache-Control", "no-store")], BODY, delay=0.3))
    results = run_all(spec, origin.url("/private"))
    assert {digest for digest, _ in results} == {hashlib.sha256(BODY).hexdigest()}
    assert not any(hit for _, hit in results)
    assert origin.count("/private") == PROCESSES, "nothing to share: each waiter then fetched for itself"


def test_lease_is_exclusive_until_released_or_expired(spec: StoreSpec) -> None:
    store, other = open_store(spec), open_store(spec)
    try:
        token = store.acquire_lease("http://example.com/a", 30)
        assert token
        assert other.acquire_lease("http://example.com/a", 30) is None
        assert other.acquire_lease("http://example.com/b", 30), "leases are per key"
        other.release_lease("http://example.com/a", "not-the-token")
        assert other.acquire_lease("http://example.com/a", 30) is None, "only the holder releases"
        store.release_lease("http://example.com/a", token)
        second = other.acquire_lease("http://example.com/a", 0.2)
        assert second
        time.sleep(0.3)
        third = store.acquire_lease("http://example.com/a", 30)
        assert third and third != second, "an expired lease (a killed holder) is taken over"
        other.release_lease("http://example.com/a", second)  # too late: leaves the new holder's lease
        assert other.acquire_lease("http://example.com/a", 30) is None
    finally:
        store.close()
        other.close()


def test_processes_do_not_queue_behind_a_url_that_is_not_storable(origin: Origin, spec: StoreSpec) -> None:
    lock, seen = threading.Lock(), {"now": 0, "most": 0}

    def slow(_: Seen) -> Reply:  # a polled endpoint: no freshness, no validator
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        threading.Event().wait(1.0)
        with lock:
            seen["now"] -= 1
        return Reply(200, [("Content-Type", "application/json")], BODY)

    origin.route("/poll", slow)
    url = origin.url("/poll")
    first, store = requests.Session(), open_store(spec)
    first.trust_env = False
    CacheControl(first, cache=store)
    first.get(url)  # answers "not storable": marked "pass" in the shared store for a while
    first.close()
    store.close()
    results = run_all(spec, url)
    assert {digest for digest, _ in results} == {hashlib.sha256(BODY).hexdigest()}
    assert origin.count("/poll") == PROCESSES + 1
    # queued behind one another they would never overlap (a loaded machine may start one late)
    assert seen["most"] >= PROCESSES - 1, "each process's request was at the origin at once, as without a cache"

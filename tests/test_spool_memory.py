"""What collecting a body for the store costs in memory (issue #10 item 5).

A body a store would not keep is not collected (its Content-Length is over the store's
``max_value_size()``), or stops being collected the moment it passes it (no
Content-Length); a store that is down (``max_value_size() == 0``) costs nothing; a body
that is kept costs about one copy of itself. Measured with ``tracemalloc`` in a process
of its own downloading from a real origin on 127.0.0.1, which counts its requests.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Optional

import pytest
from origin import Origin, Reply

from httpcache import DictCache
from httpcache._headers import Headers
from httpcache.cache import BaseCache
from httpcache.controller import CacheController
from httpcache.keys import cache_key, normalize_url
from httpcache.models import RequestView, ResponseView

MiB = 1024 * 1024
BODY = 50 * MiB
HEADERS = [("Cache-Control", "max-age=600"), ("Content-Type", "application/octet-stream")]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The client: imports and a first small request before tracemalloc starts; then one
# stream=True download read in 64 KiB pieces and dropped, as a caller saving it would;
# then the same URL again (a hit, or a second origin request).
CLIENT = r"""
import json, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
import requests
from httpcache import CacheControl, DictCache
from httpcache.caches import RedisCache

kind, url, warm = sys.argv[2], sys.argv[3], sys.argv[4]
MiB = 1024 * 1024
if kind == "dict":
    store = DictCache()
elif kind == "dict-10mib":
    store = DictCache(max_bytes=10 * MiB)
elif kind == "redis-down":
    store = RedisCache(f"redis://127.0.0.1:{sys.argv[5]}/0", max_entry_size=1 * MiB)
session = requests.Session()
session.trust_env = False
sess = CacheControl(session, cache=store)
sess.get(warm).content

def download():
    got = 0
    with sess.get(url, stream=True) as resp:
        for piece in resp.iter_content(64 * 1024):
            got += len(piece)
        return got, resp.from_cache

tracemalloc.start()
got, cached = download()
current, peak = tracemalloc.get_traced_memory()
again, cached_again = download()
print(json.dumps({"got": got, "from_cache": cached, "peak": peak, "kept": current,
                  "again": again, "again_from_cache": cached_again}))
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _measure(origin: Origin, kind: str, path: str) -> dict[str, object]:
    args = [sys.executable, "-c", CLIENT, ROOT, kind, origin.url(path), origin.url("/warm"), str(_closed_port())]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["got"] == result["again"] == BODY
    return result


@pytest.fixture(scope="module")
def big_origin() -> Iterator[Origin]:
    body = bytes(range(256)) * (BODY // 256)
    with Origin() as origin:
        origin.route("/warm", Reply(200, HEADERS, b"warm"))
        origin.route("/length", Reply(200, HEADERS, body))
        origin.route("/chunked", Reply(200, HEADERS, [body[n : n + 256 * 1024] for n in range(0, BODY, 256 * 1024)]))
        yield origin


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("kind", "path", "most", "stored"),
    [
        # kept: the value is built once (no list of pieces joined, then joined again)
        pytest.param("dict", "/length", 1.5, True, id="dict-unbounded-length"),
        pytest.param("dict", "/chunked", 1.5, True, id="dict-unbounded-chunked"),
        # announced over the bound: nothing collected
        pytest.param("dict-10mib", "/length", 0.15, False, id="dict-10mib-length"),
        # no length announced: collected up to the bound (10 MiB), then let go
        pytest.param("dict-10mib", "/chunked", 0.4, False, id="dict-10mib-chunked"),
        # Redis down (the breaker open after the first failed read): nothing collected
        pytest.param("redis-down", "/length", 0.15, False, id="redis-down-length"),
        pytest.param("redis-down", "/chunked", 0.15, False, id="redis-down-chunked"),
    ],
)
def test_peak_memory_of_a_50_mib_stream_download(
    big_origin: Origin, kind: str, path: str, most: float, stored: bool
) -> None:
    before = big_origin.count(path)
    result = _measure(big_origin, kind, path)
    peak = result["peak"]
    assert isinstance(peak, int)
    assert peak < most * BODY, f"peak {peak / MiB:.1f} MiB for a {BODY / MiB:.0f} MiB body"
    assert result["from_cache"] is False
    assert result["again_from_cache"] is stored
    assert big_origin.count(path) - before == (1 if stored else 2)


# -- the spool alone, in this process ----------------------------------------------------


class BoundedStore(BaseCache):
    """A store keeping values up to ``bound`` bytes (or taking no writes: 0, or failing to say)."""

    def __init__(self, bound: Optional[int], fail: bool = False) -> None:
        self.data: dict[str, bytes] = {}
        self.bound = bound
        self.fail = fail

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        if self.bound is None or len(value) <= self.bound:
            self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def max_value_size(self) -> Optional[int]:
        if self.fail:
            raise OSError("store down")
        return self.bound


URL = "http://example.test/big"
GET = RequestView("GET", URL, Headers())
OK = ResponseView(200, Headers(HEADERS), "OK")


def _feed(ctl: CacheController, size: int, expected: Optional[int], piece: int = 64 * 1024) -> tuple[bool, int]:
    """Tee a body of ``size`` bytes into the store as the adapter does; (collected?, the peak
    memory traced while the body went by, the pieces themselves excluded)."""
    block = b"x" * piece
    tracemalloc.start()
    try:
        spool = ctl.begin_store(GET, OK, 0.0, 0.0, expected)
        if spool is not None:
            for _ in range(size // piece):
                spool.write(block)
            spool.complete()
        return spool is not None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _stored(store: BoundedStore) -> bool:
    return cache_key("GET", normalize_url(URL)) in store.data


@pytest.mark.parametrize("expected", [None, 20 * MiB], ids=["unannounced", "announced"])
def test_a_body_over_the_bound_is_not_collected(expected: Optional[int]) -> None:
    store = BoundedStore(1 * MiB)
    collected, peak = _feed(CacheController(store), 20 * MiB, expected)
    assert not _stored(store)
    assert peak < 2 * MiB  # collected up to the bound at most
    assert collected is (expected is None)


def test_a_body_within_the_bound_is_stored_and_costs_one_copy() -> None:
    store = BoundedStore(21 * MiB)
    collected, peak = _feed(CacheController(store), 20 * MiB, 20 * MiB)
    assert collected and _stored(store)
    assert peak < 20 * MiB * 1.3  # the value, built once (BytesIO growth included)


@pytest.mark.parametrize("bound", [0, -1])
def test_a_store_taking_no_writes_collects_nothing(bound: int) -> None:
    store = BoundedStore(bound)
    assert CacheController(store).begin_store(GET, OK, 0.0, 0.0, None) is None
    assert CacheController(store).begin_store(GET, OK, 0.0, 0.0, 10) is None


def test_a_store_failing_to_say_its_bound_is_taken_as_down(caplog: pytest.LogCaptureFixture) -> None:
    store = BoundedStore(None, fail=True)
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert CacheController(store).begin_store(GET, OK, 0.0, 0.0, 10) is None
    assert "max_value_size" in caplog.text


def test_a_body_exactly_at_the_bound_is_stored() -> None:
    store = BoundedStore(None)
    ctl = CacheController(store)
    _feed(ctl, 64 * 1024, None)
    size = len(next(iter(store.data.values())))
    for bound, kept in ((size, True), (size - 1, False)):
        store.data.clear()
        store.bound = bound
        _feed(ctl, 64 * 1024, 64 * 1024)
        assert _stored(store) is kept
        store.data.clear()
        _feed(ctl, 64 * 1024, None)
        assert _stored(store) is kept


def test_what_a_spool_stored_is_what_a_lookup_serves() -> None:
    """The decoded-entry memo primed by the spool describes the value stored."""
    store = DictCache()
    ctl = CacheController(store)
    spool = ctl.begin_store(GET, OK, 0.0, 0.0, None)
    assert spool is not None
    for piece in (b"one ", b"two ", b"three"):
        spool.write(piece)
    spool.complete()
    found = ctl.lookup(GET).entry
    assert found is not None and found.body == b"one two three"
    other = CacheController(store)  # a memo of its own: decodes the value
    decoded = other.lookup(GET).entry
    assert decoded is not None and (decoded.head, decoded.body) == (found.head, found.body)

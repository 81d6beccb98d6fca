"""Large bodies through a streaming store, end to end against a real origin.

``PiecewiseCache`` is an in-memory ``StreamingCache`` that records how it was
used: the largest piece ever written at once, readers left open, writers
aborted. The spill threshold is lowered so that a body of a few hundred KB takes
the path a 500 MB one takes. The disk stores' own streaming is tested in
test_file_streaming.py / test_sqlite_streaming.py; their memory bound is
measured by benchmarks/stream_rss.py.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Union

import pytest
import requests
from _e2e_helpers import from_cache, validating
from origin import Origin, Reply

from httpcache import CacheControl, _spool
from httpcache.cache import StreamingCache, ValueReader, ValueWriter

pytestmark = pytest.mark.e2e

SPILL = 16 * 1024
BODY = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(12_000))  # 384 000 bytes


class _Reader(ValueReader):
    def __init__(self, store: PiecewiseCache, data: bytes) -> None:
        self.store = store
        self.data = data
        self.length = len(data)
        self.closed = False

    def pread(self, size: int, offset: int) -> bytes:
        assert not self.closed, "read after close"
        if self.store.fail_pread or size > self.store.fail_pread_over:
            raise OSError("disk on fire")
        self.store.largest_read = max(self.store.largest_read, size)
        return self.data[offset : offset + size]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with self.store.lock:
                self.store.open_readers -= 1


class _Writer(ValueWriter):
    def __init__(self, store: PiecewiseCache) -> None:
        self.store = store
        self.pieces: list[bytes] = []
        self.spent = False

    def write(self, data: bytes) -> None:
        assert not self.spent
        if self.store.fail_write_after is not None and len(self.pieces) >= self.store.fail_write_after:
            raise OSError("disk full")
        self.store.largest_write = max(self.store.largest_write, len(data))
        self.pieces.append(bytes(data))

    def commit(self, key: str, expires: Optional[float] = None) -> None:
        assert not self.spent
        if self.store.fail_commit:
            raise OSError("rename refused")
        self.spent = True
        with self.store.lock:
            self.store.data[key] = b"".join(self.pieces)
            self.store.commits += 1

    def abort(self) -> None:
        if not self.spent:
            self.spent = True
            with self.store.lock:
                self.store.aborts += 1


class PiecewiseCache(StreamingCache):
    """Values above ``inline_max`` are read through a ``ValueReader``."""

    def __init__(self, inline_max: int = 1024) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, bytes] = {}
        self.inline_max = inline_max
        self.open_readers = 0
        self.largest_write = 0
        self.largest_read = 0
        self.sets = 0
        self.commits = 0
        self.aborts = 0
        self.fail_write_after: Optional[int] = None
        self.fail_commit = False
        self.fail_pread = False
        self.fail_pread_over = math.inf  # reads larger than this fail
        self.fail_open = False

    def get(self, key: str) -> Optional[bytes]:
        with self.lock:
            return self.data.get(key)

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        with self.lock:
            self.data[key] = value
            self.sets += 1

    def delete(self, key: str) -> None:
        with self.lock:
            self.data.pop(key, None)

    def open_read(self, key: str) -> Union[bytes, ValueReader, None]:
        if self.fail_open:
            raise OSError("store unreachable")
        with self.lock:
            value = self.data.get(key)
            if value is None or len(value) <= self.inline_max:
                return value
            self.open_readers += 1
        return _Reader(self, value)

    def open_write(self) -> ValueWriter:
        return _Writer(self)

    def responses(self) -> list[bytes]:
        with self.lock:
            return [v for v in self.data.values() if v[10:11] == b"R"]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> PiecewiseCache:
    monkeypatch.setattr(_spool, "SPILL_AT", SPILL)
    return PiecewiseCache()


@pytest.fixture
def sess(store: PiecewiseCache) -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False
    yield CacheControl(s, cache=store)
    s.close()


def read_streamed(resp: requests.Response, piece: int = 7000) -> bytes:
    with resp:
        return b"".join(resp.iter_content(piece))


def test_large_body_is_written_and_served_in_pieces(
    origin: Origin, sess: requests.Session, store: PiecewiseCache
) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    first = sess.get(origin.url("/big"), stream=True)
    assert not from_cache(first)
    assert read_streamed(first) == BODY
    assert store.commits == 1 and store.sets == 0, "a large body goes through a writer, not set()"
    assert store.largest_write < len(BODY) // 4, "the body was never written whole"
    (value,) = store.responses()
    assert BODY in value

    second = sess.get(origin.url("/big"), stream=True)
    assert from_cache(second)
    assert store.open_readers == 1, "the hit holds its reader until the body is read"
    assert read_streamed(second) == BODY
    assert store.open_readers == 0
    assert store.largest_read <= 1024 * 1024
    third = sess.get(origin.url("/big"))  # stream=False reads it all
    assert from_cache(third) and third.content == BODY
    assert store.open_readers == 0
    assert origin.count("/big") == 1


def test_small_body_is_still_one_set(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/small", Reply(200, [("Cache-Control", "max-age=600")], BODY[:SPILL]))
    assert sess.get(origin.url("/small")).content == BODY[:SPILL]
    assert (store.sets, store.commits) == (1, 0)
    assert sess.get(origin.url("/small")).content == BODY[:SPILL]
    assert origin.count("/small") == 1


def test_chunked_body_of_unknown_length(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    pieces = [BODY[i : i + 50_000] for i in range(0, len(BODY), 50_000)]
    origin.route("/chunked", Reply(200, [("Cache-Control", "max-age=600")], pieces))
    assert read_streamed(sess.get(origin.url("/chunked"), stream=True)) == BODY
    hit = sess.get(origin.url("/chunked"), stream=True)
    assert from_cache(hit) and read_streamed(hit) == BODY
    assert origin.count("/chunked") == 1 and store.open_readers == 0


def test_body_closed_early_is_not_stored(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    resp = sess.get(origin.url("/big"), stream=True)
    it = resp.iter_content(SPILL)
    for _ in range(4):
        next(it)
    resp.close()
    assert store.responses() == [] and store.aborts == 1
    assert sess.get(origin.url("/big")).content == BODY
    assert origin.count("/big") == 2


def test_hit_closed_early_lets_go_of_its_reader(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/big")).content  # noqa: B018
    hit = sess.get(origin.url("/big"), stream=True)
    assert next(hit.iter_content(1000)) == BODY[:1000]
    hit.close()
    assert store.open_readers == 0
    abandoned = sess.get(origin.url("/big"), stream=True)
    assert from_cache(abandoned)
    del abandoned  # never read, never closed: collected
    assert store.open_readers == 0


def test_revalidated_large_body_is_freshened_and_served(
    origin: Origin, sess: requests.Session, store: PiecewiseCache
) -> None:
    origin.route("/v", validating(BODY, [("Cache-Control", "max-age=0")], etag='"v1"'))
    assert sess.get(origin.url("/v")).content == BODY
    again = sess.get(origin.url("/v"), stream=True)
    assert from_cache(again), "a 304 answer is served from the stored body"
    assert read_streamed(again) == BODY
    assert origin.count("/v") == 2 and origin.last("/v").headers.get("if-none-match") == '"v1"'
    assert store.commits == 2, "the freshened entry was copied, in pieces, under its key"
    assert store.largest_write <= 1024 * 1024
    (value,) = store.responses()
    assert BODY in value
    assert store.open_readers == 0


def test_range_of_a_large_stored_body(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/big")).content  # noqa: B018
    part = sess.get(origin.url("/big"), headers={"Range": "bytes=100000-100099"})
    assert part.status_code == 206 and from_cache(part)
    assert part.content == BODY[100_000:100_100]
    assert part.headers["Content-Range"] == f"bytes 100000-100099/{len(BODY)}"
    assert origin.count("/big") == 1 and store.open_readers == 0


def test_head_from_a_large_stored_get(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/big")).content  # noqa: B018
    head = sess.head(origin.url("/big"))
    assert from_cache(head) and head.content == b""
    assert origin.count("/big") == 1 and store.open_readers == 0


def test_vary_turns_a_large_lone_entry_into_a_variant(
    origin: Origin, sess: requests.Session, store: PiecewiseCache
) -> None:
    origin.route("/n", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/n")).content  # noqa: B018
    other = BODY[::-1]
    origin.route("/n", Reply(200, [("Cache-Control", "max-age=600"), ("Vary", "Accept")], other))
    got = sess.get(origin.url("/n"), headers={"Accept": "x/y", "Cache-Control": "max-age=0"})
    assert got.content == other
    hit = sess.get(origin.url("/n"), headers={"Accept": "x/y"}, stream=True)
    assert from_cache(hit) and read_streamed(hit) == other
    assert len(store.responses()) == 2, "the lone entry was copied to a variant key"
    assert store.open_readers == 0


def test_store_failing_mid_body_never_reaches_the_caller(
    origin: Origin, sess: requests.Session, store: PiecewiseCache, caplog: pytest.LogCaptureFixture
) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    store.fail_write_after = 3
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        assert read_streamed(sess.get(origin.url("/big"), stream=True)) == BODY
    assert store.responses() == [] and store.aborts == 1
    assert any("disk full" in r.getMessage() for r in caplog.records)


def test_commit_failing_is_a_skipped_write(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    store.fail_commit = True
    assert sess.get(origin.url("/big")).content == BODY
    assert store.responses() == []
    store.fail_commit = False
    assert sess.get(origin.url("/big")).content == BODY
    hit = sess.get(origin.url("/big"))
    assert from_cache(hit) and hit.content == BODY
    assert origin.count("/big") == 2


def test_hit_not_streamed_is_read_in_one_piece(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/big")).content  # noqa: B018
    store.largest_read = 0
    hit = sess.get(origin.url("/big"))
    assert from_cache(hit) and hit.content == BODY
    assert store.largest_read == len(BODY), "one read for a caller who reads it all anyway"
    assert store.open_readers == 0
    # a store that cannot give it in one piece: streamed in pieces instead, still a hit
    store.fail_pread_over = 64 * 1024
    again = sess.get(origin.url("/big"))
    assert from_cache(again) and again.content == BODY
    assert store.open_readers == 0 and origin.count("/big") == 1


def test_unreadable_store_is_a_miss(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/big")).content  # noqa: B018
    store.fail_open = True
    resp = sess.get(origin.url("/big"))
    assert not from_cache(resp) and resp.content == BODY
    store.fail_open, store.fail_pread = False, True
    resp = sess.get(origin.url("/big"))
    assert not from_cache(resp) and resp.content == BODY, "a reader failing on open is a miss"
    assert origin.count("/big") == 3 and store.open_readers == 0


def test_stale_while_revalidate_with_a_large_body(
    origin: Origin, sess: requests.Session, store: PiecewiseCache
) -> None:
    origin.route("/swr", validating(BODY, [("Cache-Control", "max-age=0, stale-while-revalidate=600")], etag='"s"'))
    sess.get(origin.url("/swr")).content  # noqa: B018
    stale = sess.get(origin.url("/swr"), stream=True)
    assert from_cache(stale)
    assert read_streamed(stale) == BODY
    deadline = time.monotonic() + 10
    while origin.count("/swr") < 2 or store.open_readers:
        assert time.monotonic() < deadline, "background revalidation did not finish"
        time.sleep(0.01)
    assert store.commits >= 2  # the 304 freshened the entry, copying its body in pieces


def test_threads_share_large_hits(origin: Origin, sess: requests.Session, store: PiecewiseCache) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=600")], BODY))
    sess.get(origin.url("/big")).content  # noqa: B018

    def fetch(_: int) -> bool:
        resp = sess.get(origin.url("/big"), stream=True)
        return from_cache(resp) and read_streamed(resp, 5000 + _) == BODY

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(fetch, range(64)))
    assert origin.count("/big") == 1 and store.open_readers == 0

"""SQLiteCache as a StreamingCache: chunked values written with ``open_write`` and read
with ``open_read`` / ``pread``, on real database files (no mock of sqlite3).

Most tests shrink the chunk to 4 KiB (``small_chunks``) so that a value of a few
dozen KiB has many chunks; ``test_real_chunk_size`` and the memory test use 1 MiB.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import math
import multiprocessing
import os
import random
import signal
import sqlite3
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

import httpcache.caches.sqlite as sqlite_module
from httpcache.cache import ValueReader
from httpcache.caches import SQLiteCache

SMALL = 4096


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sqlite_module, "_CHUNK", SMALL)
    return SMALL


@pytest.fixture
def store(tmp_path: Path, small_chunks: int) -> Iterator[SQLiteCache]:
    cache = SQLiteCache(tmp_path / "cache.sqlite", timeout=0.05)
    yield cache
    cache.close()


def _query(path: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows from a raw connection of our own (what is really in the file)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def _count(path: str, table: str) -> int:
    return int(_query(path, f"SELECT count(*) FROM {table}")[0][0])


def _stream(store: SQLiteCache, key: str, value: bytes, piece: int = 1000, expires: Optional[float] = None) -> None:
    writer = store.open_write()
    for pos in range(0, len(value), piece):
        writer.write(value[pos : pos + piece])
    writer.commit(key, expires)


def _in_transaction(db: sqlite3.Connection) -> bool:
    return db.in_transaction


def _reader(store: SQLiteCache, key: str) -> ValueReader:
    value = store.open_read(key)
    assert isinstance(value, ValueReader), f"expected a reader, got {type(value).__name__}"
    return value


def _read_all(reader: ValueReader, piece: int = 1000) -> bytes:
    return b"".join(reader.pread(piece, pos) for pos in range(0, reader.length, piece))


def _value(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sealed(key: str, rng: random.Random, size: int) -> bytes:
    """``size`` random bytes tagged with ``key`` and sealed with a SHA-256 (as stores_contract.make_value)."""
    body = key.encode() + b"\0" + rng.randbytes(size)
    return body + hashlib.sha256(body).digest()


def _sealed_ok(key: str, value: bytes) -> bool:
    body, seal = value[:-32], value[-32:]
    return len(value) >= 32 and hashlib.sha256(body).digest() == seal and body.startswith(key.encode() + b"\0")


# -- round trips -----------------------------------------------------------------------


def test_multi_chunk_round_trip(store: SQLiteCache) -> None:
    value = _value(10 * SMALL + 123)
    _stream(store, "k", value, piece=777)
    assert [row[0] for row in _query(store.path, "SELECT length(data) FROM httpcache_chunks ORDER BY seq")] == [
        SMALL
    ] * 10 + [123]
    assert _query(store.path, "SELECT value IS NULL, size, blob IS NOT NULL FROM httpcache") == [(1, len(value), 1)]
    reader = _reader(store, "k")
    try:
        assert reader.length == len(value)
        assert _sha(_read_all(reader, 1000)) == _sha(value)
    finally:
        reader.close()
    assert store.get("k") == value
    assert _count(store.path, "httpcache_pending") == 0


def test_real_chunk_size(tmp_path: Path) -> None:
    store = SQLiteCache(tmp_path / "cache.sqlite")
    try:
        value = _value(8 * 1024 * 1024 + 4567, seed=1)
        _stream(store, "big", value, piece=64 * 1024)
        lengths = [row[0] for row in _query(store.path, "SELECT length(data) FROM httpcache_chunks ORDER BY seq")]
        chunk = sqlite_module._CHUNK
        assert lengths == [chunk] * (len(value) // chunk) + [len(value) % chunk]
        reader = _reader(store, "big")
        try:
            assert _sha(_read_all(reader, 64 * 1024)) == _sha(value)
        finally:
            reader.close()
    finally:
        store.close()


def test_pread_at_any_offset_and_size(store: SQLiteCache) -> None:
    value = _value(5 * SMALL + 10, seed=2)
    _stream(store, "k", value)
    reader = _reader(store, "k")
    rng = random.Random(3)
    cases = [(0, 0), (SMALL, 0), (SMALL - 1, 2), (SMALL, SMALL), (1, 3 * SMALL), (0, len(value)), (5, 10**9)]
    cases += [(len(value) - 1, 5), (len(value), 5), (len(value) + 100, 5), (2 * SMALL - 3, SMALL + 6)]
    cases += [(rng.randrange(len(value) + 50), rng.randrange(3 * SMALL)) for _ in range(300)]
    try:
        for offset, size in cases:
            assert reader.pread(size, offset) == value[offset : offset + size], (offset, size)
        with pytest.raises(ValueError):
            reader.pread(-1, 0)
        with pytest.raises(ValueError):
            reader.pread(1, -1)
    finally:
        reader.close()


def test_pread_from_threads(store: SQLiteCache) -> None:
    value = _value(20 * SMALL + 1, seed=4)
    _stream(store, "k", value)
    reader = _reader(store, "k")
    problems: list[tuple[int, int]] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            offset, size = rng.randrange(len(value)), rng.randrange(2 * SMALL)
            if reader.pread(size, offset) != value[offset : offset + size]:
                problems.append((offset, size))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader.close()
    assert problems == []


@pytest.mark.parametrize("extra", [-100, -1, 0])
def test_a_value_of_one_chunk_or_less_stays_inline(store: SQLiteCache, extra: int) -> None:
    value = _value(SMALL + extra, seed=5)
    _stream(store, "k", value, piece=100)
    assert store.open_read("k") == value
    assert _count(store.path, "httpcache_chunks") == 0
    assert _count(store.path, "httpcache_pending") == 0
    _stream(store, "k", _value(SMALL + 1, seed=5), piece=100)  # one byte more than a chunk: two chunks
    reader = _reader(store, "k")
    reader.close()
    assert _count(store.path, "httpcache_chunks") == 2


def test_empty_value(store: SQLiteCache) -> None:
    store.open_write().commit("empty")
    assert store.open_read("empty") == b""
    assert store.get("empty") == b""


def test_get_of_a_chunked_value_is_the_whole_value(store: SQLiteCache) -> None:
    value = _value(7 * SMALL + 5, seed=6)
    _stream(store, "k", value)
    assert store.get("k") == value
    store.set("k", b"inline now")  # ``set`` replaces it, and frees its chunks
    assert store.get("k") == b"inline now"
    assert _count(store.path, "httpcache_chunks") == 0


def test_threads_streaming_the_same_keys_never_see_a_torn_value(tmp_path: Path, small_chunks: int) -> None:
    store = SQLiteCache(tmp_path / "cache.sqlite", max_entries=6)
    verified = {"inline": 0, "chunked": 0}
    problems: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        rng = random.Random(worker)
        for _ in range(60):
            key = f"shared-{rng.randrange(8)}"
            roll = rng.random()
            if roll < 0.4:
                _stream(store, key, _sealed(key, rng, rng.randrange(8 * SMALL)), piece=rng.randrange(1, 3 * SMALL))
            elif roll < 0.9:
                value = store.open_read(key)
                if isinstance(value, ValueReader):
                    data, kind = _read_all(value, rng.randrange(1, 2 * SMALL)), "chunked"
                    value.close()
                elif value is None:
                    continue
                else:
                    data, kind = value, "inline"
                with lock:
                    if _sealed_ok(key, data):
                        verified[kind] += 1
                    else:
                        problems.append(f"{key}: a torn or foreign value of {len(data)} bytes")
            else:
                store.delete(key)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert problems == []
        assert verified["inline"] > 0 and verified["chunked"] > 0
        assert _count(store.path, "httpcache_pending") == 0
        ((chunks,),) = _query(store.path, "SELECT count(*) FROM httpcache_chunks")
        sizes = _query(store.path, "SELECT size FROM httpcache WHERE blob IS NOT NULL")
        expected = sum(math.ceil(size / SMALL) for (size,) in sizes)
        assert chunks == expected  # no orphan chunk
        assert len(store) <= 6
    finally:
        store.close()


# -- snapshots -------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["overwrite streamed", "overwrite inline", "delete", "clear", "purge"])
def test_a_reader_keeps_its_snapshot(store: SQLiteCache, change: str) -> None:
    old, new = _value(6 * SMALL + 7, seed=8), _value(9 * SMALL + 1, seed=9)
    _stream(store, "k", old, expires=3600)
    reader = _reader(store, "k")
    try:
        assert reader.pread(10, 0) == old[:10]  # a chunk fetched (and kept) before the change
        if change == "overwrite streamed":
            _stream(store, "k", new)
        elif change == "overwrite inline":
            store.set("k", b"small")
        elif change == "delete":
            store.delete("k")
        elif change == "clear":
            store.clear()
        else:
            _query(store.path, "UPDATE httpcache SET expires = 1")  # its deadline has passed
            assert store.purge_expired() == 1
        assert _sha(_read_all(reader, 999)) == _sha(old)
        now = store.open_read("k")
        if change == "overwrite streamed":
            assert isinstance(now, ValueReader)
            assert _read_all(now) == new
            now.close()
        else:
            assert now == (b"small" if change == "overwrite inline" else None)
    finally:
        reader.close()
    expected = math.ceil(len(new) / SMALL) if change == "overwrite streamed" else 0
    assert _count(store.path, "httpcache_chunks") == expected  # the old chunks were freed


def test_sequential_small_preads_fetch_each_chunk_once(store: SQLiteCache) -> None:
    value = _value(5 * SMALL + 1, seed=40)
    _stream(store, "k", value)
    reader = _reader(store, "k")
    statements: list[str] = []
    reader._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    try:
        assert _read_all(reader, 100) == value
    finally:
        reader.close()
    assert len([sql for sql in statements if "httpcache_chunks" in sql]) == 6


def test_reader_close_is_idempotent_and_collected_readers_close(store: SQLiteCache) -> None:
    _stream(store, "k", _value(3 * SMALL, seed=10))
    reader = _reader(store, "k")
    reader.close()
    reader.close()
    with pytest.raises(ValueError):
        reader.pread(1, 0)
    reader = _reader(store, "k")
    db = reader._db  # type: ignore[attr-defined]
    assert isinstance(db, sqlite3.Connection)
    assert db.in_transaction  # the snapshot is held
    del reader
    gc.collect()
    assert not _in_transaction(db)  # __del__ ended the snapshot ...
    assert db in store._idle_readers  # ... and kept the connection for the next reader
    again = _reader(store, "k")
    assert again._db is db  # type: ignore[attr-defined]
    assert again.pread(3 * SMALL, 0) == _value(3 * SMALL, seed=10)
    again.close()
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")  # closed with the store


def test_idle_reader_connections_are_bounded(store: SQLiteCache) -> None:
    _stream(store, "k", _value(3 * SMALL, seed=12))
    readers = [_reader(store, "k") for _ in range(sqlite_module._IDLE_READERS + 3)]
    conns = [r._db for r in readers]  # type: ignore[attr-defined]
    assert len({id(c) for c in conns}) == len(readers)  # each reader its own snapshot
    for r in readers:
        r.close()
    assert len(store._idle_readers) == sqlite_module._IDLE_READERS
    closed = [c for c in conns if c not in store._idle_readers]
    for conn in closed:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")


# -- writers ---------------------------------------------------------------------------


def test_abort_leaves_nothing(store: SQLiteCache) -> None:
    store.set("k", b"old")
    writer = store.open_write()
    writer.write(_value(8 * SMALL, seed=11))
    assert _count(store.path, "httpcache_chunks") == 7  # written as they filled (the last one is buffered)
    assert _count(store.path, "httpcache_pending") == 1
    writer.abort()
    writer.abort()
    assert _count(store.path, "httpcache_chunks") == 0
    assert _count(store.path, "httpcache_pending") == 0
    assert store.get("k") == b"old"
    with pytest.raises(ValueError):
        writer.commit("k")


def test_abort_after_commit_keeps_the_value(store: SQLiteCache) -> None:
    value = _value(4 * SMALL + 1, seed=12)
    writer = store.open_write()
    writer.write(value)
    writer.commit("k")
    writer.abort()  # (the controller may abort a writer whose commit it thinks failed)
    assert store.get("k") == value
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_abandoned_writer_is_aborted_when_collected(store: SQLiteCache) -> None:
    writer = store.open_write()
    writer.write(_value(4 * SMALL, seed=13))
    assert _count(store.path, "httpcache_chunks") == 3
    del writer
    gc.collect()
    assert _count(store.path, "httpcache_chunks") == 0
    assert _count(store.path, "httpcache_pending") == 0


@pytest.mark.parametrize("expires", [0.0, -5.0])
def test_commit_with_expires_at_or_below_zero_deletes(store: SQLiteCache, expires: float) -> None:
    _stream(store, "k", _value(3 * SMALL, seed=14))
    _stream(store, "k", _value(5 * SMALL, seed=15), expires=expires)
    assert store.get("k") is None
    assert _count(store.path, "httpcache_chunks") == 0
    assert _count(store.path, "httpcache_pending") == 0


@pytest.mark.parametrize("expires", [None, math.nan, math.inf, 3600.0])
def test_commit_deadlines(store: SQLiteCache, expires: Optional[float]) -> None:
    before = time.time()
    _stream(store, "k", _value(3 * SMALL, seed=16), expires=expires)
    ((deadline,),) = _query(store.path, "SELECT expires FROM httpcache")
    if expires == 3600.0:
        assert before + 3600 <= deadline <= time.time() + 3600
    else:
        assert deadline is None


def test_an_expired_chunked_value_is_a_miss_and_freed(store: SQLiteCache) -> None:
    _stream(store, "k", _value(3 * SMALL, seed=17), expires=3600)
    _query(store.path, "UPDATE httpcache SET expires = 1")  # its deadline has passed
    assert store.open_read("k") is None
    assert _count(store.path, "httpcache") == 0
    assert _count(store.path, "httpcache_chunks") == 0


def test_commit_over_max_bytes_is_not_stored(tmp_path: Path, small_chunks: int) -> None:
    store = SQLiteCache(tmp_path / "cache.sqlite", max_bytes=10 * SMALL)
    try:
        _stream(store, "k", b"old value")
        writer = store.open_write()
        writer.write(_value(9 * SMALL, seed=18))
        assert _count(store.path, "httpcache_chunks") == 8
        writer.write(_value(2 * SMALL, seed=19))  # over max_bytes: dropped at once
        assert _count(store.path, "httpcache_chunks") == 0
        writer.write(b"more")
        writer.commit("k")
        assert store.get("k") is None  # (as for ``set``: the old value does not outlive the new one)
        assert _count(store.path, "httpcache_pending") == 0
        _stream(store, "k", _value(10 * SMALL, seed=20))  # exactly max_bytes: kept
        assert store.get("k") == _value(10 * SMALL, seed=20)
    finally:
        store.close()


@pytest.mark.parametrize("bound", ["max_entries", "max_bytes"])
def test_bounds_evict_chunked_entries_and_free_their_chunks(tmp_path: Path, small_chunks: int, bound: str) -> None:
    bounds = {"max_entries": 2} if bound == "max_entries" else {"max_bytes": 25 * SMALL}
    store = SQLiteCache(tmp_path / "cache.sqlite", **bounds)
    values = {f"k{n}": _value(10 * SMALL + n, seed=n) for n in range(4)}
    try:
        _stream(store, "k0", values["k0"])
        time.sleep(0.01)
        _stream(store, "k1", values["k1"])
        time.sleep(0.01)
        reader = _reader(store, "k0")  # k0 is now the most recently used
        reader.close()
        time.sleep(0.01)
        _stream(store, "k2", values["k2"])
        assert store.get("k1") is None
        assert store.get("k0") == values["k0"]
        assert store.get("k2") == values["k2"]
        kept = sum(math.ceil(len(values[k]) / SMALL) for k in ("k0", "k2"))
        assert _count(store.path, "httpcache_chunks") == kept
        assert _query(store.path, "SELECT entries, bytes FROM httpcache_totals") == [
            (2, len(values["k0"]) + len(values["k2"]))
        ]
    finally:
        store.close()


# -- killed and stalled writers --------------------------------------------------------


def _write_until_killed(path: str, chunk: int, old: bytes, flushed: Any) -> None:
    """In a child process: commit ``old`` under "big", then stream a new value and stall half-way."""
    sqlite_module._CHUNK = chunk
    store = SQLiteCache(path)
    _stream(store, "big", old, piece=chunk // 3)
    writer = store.open_write()
    writer.write(_value(5 * chunk, seed=99))  # 4 chunks written, 1 buffered
    flushed.set()
    while True:  # a download that goes on (a chunk every ~40 ms) until the process is killed
        writer.write(b"x" * 100)
        time.sleep(0.001)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writer_killed_mid_write_leaves_the_old_value_and_sweepable_chunks(tmp_path: Path, small_chunks: int) -> None:
    path = str(tmp_path / "cache.sqlite")
    old = _value(6 * SMALL + 3, seed=21)
    ctx = multiprocessing.get_context("spawn")
    flushed = ctx.Event()
    child = ctx.Process(target=_write_until_killed, args=(path, SMALL, old, flushed))
    child.start()
    try:
        assert flushed.wait(60), "the child never wrote its chunks"
        time.sleep(random.uniform(0.05, 0.3))  # somewhere in its loop of chunk transactions
    finally:
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(10)
    assert child.exitcode == -signal.SIGKILL
    store = SQLiteCache(path)  # temp_max_age: the killed writer's chunks are too young to sweep
    try:
        assert _sha(store.get("big") or b"") == _sha(old)
        assert _count(path, "httpcache_pending") == 1
        assert _count(path, "httpcache_chunks") >= 7 + 4
        assert store.sweep_pending() == 0
        assert store.sweep_pending(max_age=0) == 1
        assert _count(path, "httpcache_pending") == 0
        assert _count(path, "httpcache_chunks") == 7  # the old value's
        assert store.get("big") == old
    finally:
        store.close()


def test_leftovers_are_swept_on_open_and_by_purge_expired(
    tmp_path: Path, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "cache.sqlite")
    store = SQLiteCache(path)
    writers = [store.open_write() for _ in range(2)]
    for writer in writers:
        writer.write(_value(3 * SMALL, seed=22))
    assert _count(path, "httpcache_pending") == 2
    monkeypatch.setattr(SQLiteCache, "temp_max_age", 0.0)
    assert store.purge_expired() == 0
    assert _count(path, "httpcache_pending") == 0
    writers.append(store.open_write())
    writers[-1].write(_value(3 * SMALL, seed=23))
    assert _count(path, "httpcache_chunks") == 2
    store.close()
    reopened = SQLiteCache(path)
    assert _count(path, "httpcache_chunks") == 0
    assert _count(path, "httpcache_pending") == 0
    for writer in writers:  # swept writers: their commits are skipped writes, leaving nothing
        writer.write(_value(3 * SMALL, seed=24))
        writer.commit("k")
    assert reopened.get("k") is None
    assert _count(path, "httpcache_chunks") == 0
    assert _count(path, "httpcache_pending") == 0
    reopened.close()
    store.close()


def test_a_slow_writer_is_alive_for_the_sweep(store: SQLiteCache) -> None:
    store.temp_max_age = 1.6
    value = _value(SMALL + 50, seed=25)
    writer = store.open_write()
    writer.write(value[: SMALL + 1])  # one chunk written (the pending row touched), one byte buffered
    time.sleep(0.6)
    writer.write(value[SMALL + 1 : SMALL + 20])  # no chunk, but a sign of life: the last is older than 1.6 / 4 s
    assert _count(store.path, "httpcache_chunks") == 1
    time.sleep(1.1)  # 1.7 s since the chunk, 1.1 s since the last sign of life
    assert store.sweep_pending() == 0
    writer.write(value[SMALL + 20 :])
    writer.commit("k")
    assert store.get("k") == value


def test_clear_during_a_write_skips_its_commit(store: SQLiteCache) -> None:
    writer, other = store.open_write(), store.open_write()
    writer.write(_value(3 * SMALL, seed=26))
    other.write(_value(3 * SMALL, seed=27))
    store.clear()
    assert _count(store.path, "httpcache_pending") == 0
    assert _count(store.path, "httpcache_chunks") == 0
    writer.write(_value(3 * SMALL, seed=27))  # its next chunk finds the writer swept: a no-op from now on
    writer.commit("k")
    other.commit("other")  # its commit finds it swept: nothing published
    assert _count(store.path, "httpcache") == 0
    assert store.get("k") is None
    assert store.get("other") is None
    assert _count(store.path, "httpcache_chunks") == 0
    assert _count(store.path, "httpcache_pending") == 0


# -- damage, busy and foreign databases ------------------------------------------------


def test_missing_chunk_is_a_miss_and_deleted(store: SQLiteCache) -> None:
    _stream(store, "k", _value(5 * SMALL, seed=28))
    _query(store.path, "DELETE FROM httpcache_chunks WHERE seq = 2")
    assert store.open_read("k") is None
    assert _count(store.path, "httpcache") == 0
    assert _count(store.path, "httpcache_chunks") == 0


def test_a_chunk_of_the_wrong_size_raises_oserror_in_pread(store: SQLiteCache) -> None:
    value = _value(5 * SMALL, seed=29)
    _stream(store, "k", value)
    # same total length, so only pread can tell: chunk 1 one byte short, chunk 2 one byte long
    _query(store.path, "UPDATE httpcache_chunks SET data = ? WHERE seq = 1", (value[SMALL : 2 * SMALL - 1],))
    _query(store.path, "UPDATE httpcache_chunks SET data = ? WHERE seq = 2", (value[2 * SMALL : 3 * SMALL] + b"!",))
    reader = _reader(store, "k")
    try:
        assert reader.pread(100, 0) == value[:100]
        with pytest.raises(OSError):
            reader.pread(100, SMALL + 5)
    finally:
        reader.close()
    assert store.get("k") is None  # get reads it all: a miss, deleted
    assert _count(store.path, "httpcache") == 0


def test_malformed_chunked_row_is_a_miss_and_deleted(store: SQLiteCache) -> None:
    _stream(store, "k", _value(3 * SMALL, seed=30))
    _query(store.path, "UPDATE httpcache SET value = x'00'")  # a value and a blob
    assert store.open_read("k") is None
    assert _count(store.path, "httpcache") == 0
    assert _count(store.path, "httpcache_chunks") == 0


def test_busy_database_fails_open(store: SQLiteCache, caplog: pytest.LogCaptureFixture) -> None:
    big = _value(5 * SMALL, seed=31)
    store.set("small", b"before")
    _stream(store, "big", big)
    early = store.open_write()
    early.write(_value(3 * SMALL, seed=32))  # chunks written before the lock is taken
    other = sqlite3.connect(store.path, isolation_level=None, timeout=5.0)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with caplog.at_level(logging.DEBUG, logger="httpcache"):
            late = store.open_write()
            late.write(_value(3 * SMALL, seed=33))  # its first chunk: busy, a failed writer
            late.write(_value(3 * SMALL, seed=34))  # a no-op
            early.commit("small")  # busy: skipped
            assert store.open_read("small") == b"before"  # WAL: reads are not blocked by a writer
            reader = _reader(store, "big")
            assert _read_all(reader) == big
            reader.close()
        assert any("locked" in r.getMessage() for r in caplog.records)
        other.execute("ROLLBACK")
        late.write(_value(3 * SMALL, seed=35))  # still a no-op, and commit does nothing
        late.commit("big")
        assert store.get("small") == b"before"
        assert store.get("big") == big
        assert _count(store.path, "httpcache_chunks") == 5 + 2  # ``early``'s: not removed while busy
        assert store.sweep_pending(max_age=0) == 1
        assert _count(store.path, "httpcache_chunks") == 5
        store.close()  # (an exclusive lock can only be had while no one else has the file open)
        other.execute("PRAGMA locking_mode=EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("DELETE FROM httpcache WHERE key = 'none'")
        other.execute("COMMIT")  # exclusive locking mode keeps the lock: now readers are locked out too
        assert store.open_read("small") is None
        assert store.open_read("big") is None
        assert store.get("big") is None
        writer = store.open_write()
        writer.write(_value(3 * SMALL, seed=35))
        writer.commit("k")
    finally:
        other.close()
    assert store.open_read("small") == b"before"
    assert store.get("big") == big
    assert store.get("k") is None


V1_SCHEMA = """
CREATE TABLE httpcache (key TEXT PRIMARY KEY, value BLOB, expires REAL, accessed REAL, size INTEGER);
CREATE INDEX httpcache_accessed ON httpcache (accessed);
CREATE TABLE httpcache_totals (id INTEGER PRIMARY KEY CHECK (id = 0), entries INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT INTO httpcache_totals VALUES (0, 1, 3);
CREATE TRIGGER httpcache_inserted AFTER INSERT ON httpcache BEGIN
    UPDATE httpcache_totals SET entries = entries + 1, bytes = bytes + coalesce(length(NEW.value), 0) WHERE id = 0;
END;
INSERT INTO httpcache VALUES ('old', x'010203', NULL, 0, 3);
PRAGMA user_version = 1;
"""


def test_version_1_database_is_migrated(tmp_path: Path, small_chunks: int) -> None:
    path = str(tmp_path / "cache.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(V1_SCHEMA)
    conn.close()
    store = SQLiteCache(path)
    try:
        assert _query(path, "PRAGMA user_version") == [(2,)]
        assert [row[1] for row in _query(path, "PRAGMA table_info(httpcache)")][-1] == "blob"
        assert store.get("old") is None  # a cache: dropped, not converted
        value = _value(3 * SMALL, seed=36)
        _stream(store, "k", value)
        store.set("small", b"v")
        assert store.get("k") == value
        assert _query(path, "SELECT entries, bytes FROM httpcache_totals") == [(2, len(value) + 1)]
    finally:
        store.close()


def test_unknown_version_still_fails_open(tmp_path: Path, small_chunks: int) -> None:
    path = str(tmp_path / "cache.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    store = SQLiteCache(path)
    try:
        _stream(store, "k", _value(3 * SMALL, seed=37))
        store.set("small", b"v")
        assert store.open_read("k") is None
        assert store.get("small") is None
        assert _query(path, "PRAGMA user_version") == [(7,)]
        assert _query(path, "SELECT name FROM sqlite_master") == []
    finally:
        store.close()


# -- memory ----------------------------------------------------------------------------


def test_memory_stays_bounded(tmp_path: Path) -> None:
    """64 MiB written in 64 KiB pieces and read back in 10 KiB preads: never whole in memory."""
    store = SQLiteCache(tmp_path / "cache.sqlite")
    block = _value(64 * 1024, seed=38)
    pieces = 1024
    written = hashlib.sha256()
    tracemalloc.start()
    try:
        writer = store.open_write()
        for n in range(pieces):
            piece = n.to_bytes(4, "big") + block[4:]
            written.update(piece)
            writer.write(piece)
        writer.commit("big")
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        reader = _reader(store, "big")
        read = hashlib.sha256()
        try:
            assert reader.length == pieces * len(block)
            for pos in range(0, reader.length, 10 * 1024):
                read.update(reader.pread(10 * 1024, pos))
        finally:
            reader.close()
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    assert read.hexdigest() == written.hexdigest()
    assert write_peak < 8 * 1024 * 1024, write_peak
    assert read_peak < 8 * 1024 * 1024, read_peak


def test_large_inline_value_is_read_through_blob_io(store: SQLiteCache, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = SQLiteCache._read_large

    def counting(conn: sqlite3.Connection, key: str) -> Optional[tuple[object, object, object, object]]:
        calls.append(key)
        return real(conn, key)

    monkeypatch.setattr(SQLiteCache, "_read_large", staticmethod(counting))
    small = _value(sqlite_module._SELECT_INLINE_MAX, seed=13)
    large = _value(sqlite_module._SELECT_INLINE_MAX + 1, seed=14)
    store.set("small", small)
    store.set("large", large)
    assert store.get("small") == small and calls == []
    assert store.get("large") == large and calls == ["large"]
    assert store.open_read("large") == large and calls == ["large", "large"]
    assert not store._conn().in_transaction  # its read transaction ended
    store.set("large", large[::-1])
    assert store.get("large") == large[::-1]
    # the row gone between the first SELECT and the blob read: a miss, not an error
    assert SQLiteCache._read_large(store._conn(), "gone") is None
    assert not store._conn().in_transaction

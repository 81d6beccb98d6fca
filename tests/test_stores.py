"""Stores: every store runs the contract (``stores_contract.py``); then what is particular to each:
LRU bounds, corrupt files and rows, a writer killed mid-write, a busy database, a fork,
an unreachable Redis."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
import responses
from _e2e_helpers import ReadmeDictCache
from stores_contract import (
    PersistentStoreContract,
    StoreContract,
    StoreSpec,
    child_command,
    exercise,
    make_value,
    open_store,
    redis_url,
    value_ok,
)

from httpcache import CacheControl, HTTPCacheError
from httpcache.cache import BaseCache, DictCache
from httpcache.caches import FileCache, RedisCache, SQLiteCache
from httpcache.caches.file_cache import SeparateBodyFileCache

# -- the contract, store by store -------------------------------------------------------


class TestDictCache(StoreContract):
    def make_store(self, tmp_path: Path) -> BaseCache:
        return DictCache()


class TestBoundedDictCache(StoreContract):
    def make_store(self, tmp_path: Path) -> BaseCache:
        return DictCache(max_entries=1000, max_bytes=64 * 2**20)


class TestReadmeStore(StoreContract):
    supports_expiry = False
    delete_missing_raises = True
    supports_clear = False  # BaseCache's default: NotImplementedError naming the class

    def make_store(self, tmp_path: Path) -> BaseCache:
        return ReadmeDictCache()  # type: ignore[no-untyped-call]


class TestFileCache(PersistentStoreContract):
    def make_spec(self, tmp_path: Path) -> StoreSpec:
        return StoreSpec("file", str(tmp_path / "cache"))


class TestSeparateBodyFileCache(StoreContract):
    def make_store(self, tmp_path: Path) -> BaseCache:
        return SeparateBodyFileCache(tmp_path / "cache")


class TestForeverFileCache(StoreContract):
    supports_expiry = False  # forever=True keeps entries past their expiry hint

    def make_store(self, tmp_path: Path) -> BaseCache:
        return FileCache(tmp_path / "cache", forever=True, filemode=0o640, dirmode=0o750)


class TestSQLiteCache(PersistentStoreContract):
    def make_spec(self, tmp_path: Path) -> StoreSpec:
        return StoreSpec("sqlite", str(tmp_path / "cache.sqlite"))


class TestRedisCache(PersistentStoreContract):
    def make_spec(self, tmp_path: Path) -> StoreSpec:
        return StoreSpec("redis", redis_url(), f"httpcache-test:{uuid.uuid4().hex}:")


# -- LRU bounds -------------------------------------------------------------------------

BOUNDED: dict[str, Callable[..., BaseCache]] = {
    "dict": lambda tmp_path, **bounds: DictCache(**bounds),
    "file": lambda tmp_path, **bounds: FileCache(tmp_path / "cache", **bounds),
    "sqlite": lambda tmp_path, **bounds: SQLiteCache(tmp_path / "cache.sqlite", **bounds),
}


@pytest.fixture(params=sorted(BOUNDED))
def bounded(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., BaseCache]:
    made: list[BaseCache] = []

    def make(**bounds: Any) -> BaseCache:
        made.append(BOUNDED[request.param](tmp_path, **bounds))
        return made[-1]

    def close_all() -> None:
        for store in made:
            store.close()

    request.addfinalizer(close_all)
    return make


def test_least_recently_used_is_evicted_first(bounded: Callable[..., BaseCache]) -> None:
    store = bounded(max_entries=3)
    for key in "abc":
        store.set(key, key.encode())
    assert store.get("a") == b"a"  # a is now more recent than b and c
    store.set("d", b"d")
    assert store.get("b") is None
    assert (store.get("a"), store.get("d")) == (b"a", b"d")
    assert len(store) <= 3  # type: ignore[arg-type]


def test_entry_count_stays_within_max_entries(bounded: Callable[..., BaseCache]) -> None:
    store = bounded(max_entries=10)
    for n in range(60):
        store.set(f"k{n}", b"v" * n)
        assert len(store) <= 10  # type: ignore[arg-type]
        assert store.get(f"k{n}") == b"v" * n  # the newest entry is never the one evicted


def test_bytes_stay_within_max_bytes(bounded: Callable[..., BaseCache]) -> None:
    store = bounded(max_bytes=1000)
    for n in range(40):
        store.set(f"k{n}", bytes(100))
        assert len(store) <= 10  # type: ignore[arg-type]
        assert store.get(f"k{n}") == bytes(100)
    store.set("k0", bytes(2000))  # larger than the bound: not stored, and no older value is left
    assert store.get("k0") is None
    assert store.get("k39") == bytes(100)


def test_bounds_hold_under_threads(bounded: Callable[..., BaseCache]) -> None:
    store = bounded(max_entries=8)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda worker: exercise(store, worker, 20, max_size=2048, evicting=True), range(8)))
    assert [p for _, ps in results for p in ps] == []
    assert len(store) <= 8  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_invalid_bounds_are_caller_mistakes(tmp_path: Path, bad: Any) -> None:
    for make in BOUNDED.values():
        with pytest.raises(HTTPCacheError):
            make(tmp_path, max_entries=bad)
        with pytest.raises(HTTPCacheError):
            make(tmp_path, max_bytes=bad)


def test_dict_cache_unbounded_keeps_its_behaviour() -> None:
    seed = {"a": b"1"}
    store = DictCache(seed)
    assert store.data is seed
    store.set("b", b"2", 3600)
    assert (store.get("a"), store.get("b"), len(store)) == (b"1", b"2", 2)
    assert list(store.data) == ["a", "b"]  # reads do not reorder an unbounded store


def test_dict_cache_bounds_trim_a_seed() -> None:
    store = DictCache({f"k{n}": b"x" for n in range(10)}, max_entries=4)
    assert list(store.data) == ["k6", "k7", "k8", "k9"]


def test_dict_cache_clear_empties_it_and_its_byte_count() -> None:
    store = DictCache(max_bytes=1000)
    store.set("a", bytes(900), 3600)
    store.clear()
    assert (store.get("a"), len(store)) == (None, 0)
    store.set("b", bytes(600))
    store.set("c", bytes(400))  # 1000 bytes: both fit, nothing is still counted for "a"
    assert (store.get("b"), store.get("c")) == (bytes(600), bytes(400))


@pytest.mark.parametrize("edit", ["data.clear()", "del data[key]", "data = {}"])
def test_dict_cache_data_emptied_by_hand_keeps_its_accounting(edit: str) -> None:
    store = DictCache(max_bytes=1000)
    store.set("a", bytes(500), 0.05)
    store.set("b", bytes(500), 0.05)
    if edit == "data.clear()":
        store.data.clear()
    elif edit == "del data[key]":
        del store.data["a"]
        del store.data["b"]
    else:
        store.data = {}
    store.set("c", bytes(600))
    store.set("d", bytes(400))  # counted afresh: c and d fit in the 1000 bytes
    assert (store.get("c"), store.get("d")) == (bytes(600), bytes(400))
    store.data["a"] = b"put back by hand, without an expiry"
    time.sleep(0.1)  # past the expiry hint the old "a" had
    assert store.get("a") == b"put back by hand, without an expiry"


def test_max_value_size_is_what_a_store_keeps(tmp_path: Path) -> None:
    stores: list[BaseCache] = [
        DictCache(max_bytes=5000),
        FileCache(tmp_path / "files", max_bytes=5000),
        SQLiteCache(tmp_path / "cache.sqlite", max_bytes=5000),
    ]
    for store in stores:
        try:
            bound = store.max_value_size()
            assert bound is not None and 0 < bound <= 5000
            store.set("at", bytes(bound))
            store.set("over", bytes(bound + 1))
            assert (store.get("at"), store.get("over")) == (bytes(bound), None), type(store).__name__
        finally:
            store.close()
    for store in (DictCache(), FileCache(tmp_path / "f2"), SQLiteCache(tmp_path / "c2.sqlite"), ReadmeDictCache()):  # type: ignore[no-untyped-call]
        assert store.max_value_size() is None  # no bound
        store.close()


# -- FileCache ------------------------------------------------------------------------


@pytest.fixture
def file_cache(tmp_path: Path) -> Iterator[FileCache]:
    store = FileCache(tmp_path / "cache")
    yield store
    store.close()


def _entry_path(store: FileCache, key: str) -> Path:
    name = hashlib.sha256(key.encode()).hexdigest()
    return Path(store.directory) / name[:2] / name


def _temp_files(root: Path) -> list[Path]:
    return list(root.rglob(".tmp-*"))


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "truncated header": lambda data: data[:10],
    "truncated value": lambda data: data[:-1],
    "trailing garbage": lambda data: data + b"x",
    "flipped value byte": lambda data: data[:-5] + bytes([data[-5] ^ 1]) + data[-4:],
    "flipped header byte": lambda data: data[:12] + bytes([data[12] ^ 1]) + data[13:],
    "foreign bytes": lambda data: random.Random(1).randbytes(len(data)),
    "another version": lambda data: data[:4] + b"\x09" + data[5:],
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_file_cache_damaged_file_is_a_miss_and_deleted(file_cache: FileCache, damage: str) -> None:
    file_cache.set("k", b"a value of some length", 3600)
    path = _entry_path(file_cache, "k")
    path.write_bytes(CORRUPTIONS[damage](path.read_bytes()))
    assert file_cache.get("k") is None
    assert not path.exists()
    file_cache.set("k", b"fine again")
    assert file_cache.get("k") == b"fine again"


def test_file_cache_expired_entry_is_removed_on_read(file_cache: FileCache) -> None:
    file_cache.set("k", b"v", 1e-9)
    assert _entry_path(file_cache, "k").exists()
    assert file_cache.get("k") is None
    assert not _entry_path(file_cache, "k").exists()


def test_file_cache_purge_expired(file_cache: FileCache) -> None:
    file_cache.set("gone", b"v", 1e-9)
    file_cache.set("kept", b"v", 3600)
    file_cache.set("forever", b"v")
    _entry_path(file_cache, "broken").parent.mkdir(exist_ok=True)
    _entry_path(file_cache, "broken").write_bytes(b"garbage")
    assert file_cache.purge_expired() == 2
    assert len(file_cache) == 2
    assert file_cache.get("kept") == file_cache.get("forever") == b"v"


def test_file_cache_modes_and_layout(file_cache: FileCache) -> None:
    for n in range(20):
        file_cache.set(f"k{n}", b"v")
    root = Path(file_cache.directory)
    assert root.stat().st_mode & 0o077 == 0
    top = sorted(p.name for p in root.iterdir())
    assert top[0] == ".lock"  # the one lock file: none per entry
    assert all(len(name) == 2 for name in top[1:])
    for shard in top[1:]:
        assert (root / shard).stat().st_mode & 0o077 == 0
        for entry in (root / shard).iterdir():
            assert len(entry.name) == 64 and entry.name.startswith(shard)
            assert entry.stat().st_mode & 0o777 == 0o600
    assert _temp_files(root) == []


def test_file_cache_sweeps_old_temp_files_on_open(tmp_path: Path) -> None:
    FileCache(tmp_path / "cache").set("k", b"v")
    shard = _entry_path(FileCache(tmp_path / "cache"), "k").parent
    old, young = shard / ".tmp-old", shard / ".tmp-young"
    old.write_bytes(b"left by a killed writer")
    young.write_bytes(b"a writer at work")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    reopened = FileCache(tmp_path / "cache")
    assert (old.exists(), young.exists()) == (False, True)
    assert reopened.sweep_temp_files(max_age=0) == 1
    assert _temp_files(tmp_path) == []
    assert reopened.get("k") == b"v"


def test_file_cache_clear_leaves_foreign_files(file_cache: FileCache) -> None:
    root = Path(file_cache.directory)
    file_cache.set("k", b"v")
    (root / "README").write_text("not ours")
    file_cache.clear()
    assert file_cache.get("k") is None
    assert len(file_cache) == 0
    assert (root / "README").read_text() == "not ours"


def test_file_cache_durable_writes(tmp_path: Path) -> None:
    store = FileCache(tmp_path / "cache", durable=True)
    store.set("k", b"v", 60)
    assert store.get("k") == b"v"


def test_file_cache_write_failure_leaves_no_temp_file(file_cache: FileCache, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        file_cache.set("k", b"v")  # the controller turns this into a skipped write
    assert _temp_files(Path(file_cache.directory)) == []


# -- SQLiteCache ----------------------------------------------------------------------


@pytest.fixture
def sqlite_cache(tmp_path: Path) -> Iterator[SQLiteCache]:
    store = SQLiteCache(tmp_path / "cache.sqlite", timeout=0.05)
    yield store
    store.close()


def _raw(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=5.0)


ROWS: dict[str, tuple[object, object, object]] = {  # (value, expires, size)
    "text value": ("text, not a blob", None, 16),
    "null value": (None, None, 0),
    "size mismatch": (b"abcd", None, 3),
    "null size": (b"abcd", None, None),
    "text size": (b"abcd", None, "four"),
    "text expiry": (b"abcd", "soon", 4),
    "truncated": (b"abc", None, 4),
    "empty": (b"", None, 100),
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_sqlite_cache_malformed_row_is_a_miss_and_deleted(sqlite_cache: SQLiteCache, row: str) -> None:
    sqlite_cache.set("k", b"first")  # creates the schema
    value, expires, size = ROWS[row]
    raw = _raw(sqlite_cache.path)
    try:
        raw.execute("UPDATE httpcache SET value = ?, expires = ?, size = ? WHERE key = 'k'", (value, expires, size))
        assert sqlite_cache.get("k") is None
        assert raw.execute("SELECT count(*) FROM httpcache").fetchone()[0] == 0
    finally:
        raw.close()
    sqlite_cache.set("k", b"fine again")
    assert sqlite_cache.get("k") == b"fine again"


def test_sqlite_cache_not_a_database_fails_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(random.Random(2).randbytes(8192))
    store = SQLiteCache(path)
    try:
        with caplog.at_level(logging.DEBUG, logger="httpcache"):
            store.set("k", b"v")
            assert store.get("k") is None
            store.delete("k")
            assert store.purge_expired() == 0
        assert any(r.levelno == logging.WARNING and "SQLiteCache" in r.getMessage() for r in caplog.records)
    finally:
        store.close()


def test_sqlite_cache_truncated_database_reads_whole_or_miss(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    store = SQLiteCache(path)
    rng = random.Random(3)
    for n in range(30):
        store.set(f"k{n}", make_value(f"k{n}", rng, 20_000))
    store.close()  # checkpoints the WAL into the file
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    store = SQLiteCache(path)
    try:
        for n in range(30):
            value = store.get(f"k{n}")
            assert value is None or value_ok(f"k{n}", value)
        store.set("new", b"v")  # may be skipped, never raises
    finally:
        store.close()


def test_sqlite_cache_busy_database_skips_writes_and_misses_reads(
    sqlite_cache: SQLiteCache, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_cache.set("k", b"before")
    writer = _raw(sqlite_cache.path)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            sqlite_cache.set("k", b"during")  # skipped after the 0.05 s busy timeout
        assert any("locked" in r.getMessage() for r in caplog.records)
        assert sqlite_cache.get("k") == b"before"  # WAL: readers are not blocked by a writer
        writer.execute("ROLLBACK")
        sqlite_cache.close()  # (an exclusive lock can only be had while no one else has the file open)
        writer.execute("PRAGMA locking_mode=EXCLUSIVE")
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("DELETE FROM httpcache WHERE key = 'none'")
        writer.execute("COMMIT")  # exclusive locking mode keeps the lock: now readers are locked out too
        assert sqlite_cache.get("k") is None
    finally:
        writer.close()
    assert sqlite_cache.get("k") == b"before"


def test_sqlite_cache_wal_and_file_mode(sqlite_cache: SQLiteCache) -> None:
    sqlite_cache.set("k", b"v")
    raw = _raw(sqlite_cache.path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [row[1] for row in raw.execute("PRAGMA table_info(httpcache)")] == [
            "key",
            "value",
            "expires",
            "accessed",
            "size",
            "blob",
        ]
    finally:
        raw.close()
    assert os.stat(sqlite_cache.path).st_mode & 0o777 == 0o600


def test_sqlite_cache_purge_expired_and_clear(sqlite_cache: SQLiteCache) -> None:
    sqlite_cache.set("gone", b"v", 1e-9)
    sqlite_cache.set("kept", b"v", 3600)
    sqlite_cache.set("forever", b"v")
    assert sqlite_cache.purge_expired() == 1
    assert len(sqlite_cache) == 2
    sqlite_cache.clear()
    assert len(sqlite_cache) == 0


def test_sqlite_cache_records_reads_of_a_store_seldom_written(tmp_path: Path) -> None:
    store = SQLiteCache(tmp_path / "cache.sqlite", max_entries=10)
    raw = _raw(store.path)
    try:
        store.set("k", b"v")
        written = raw.execute("SELECT accessed FROM httpcache").fetchone()[0]
        for _ in range(999):
            store.get("k")  # noted in memory: reads do not write
        assert raw.execute("SELECT accessed FROM httpcache").fetchone()[0] == written
        store.get("k")  # the 1000th pending read: recorded
        assert raw.execute("SELECT accessed FROM httpcache").fetchone()[0] > written
    finally:
        raw.close()
        store.close()


def test_sqlite_cache_refuses_memory_databases() -> None:
    with pytest.raises(HTTPCacheError):
        SQLiteCache(":memory:")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sqlite_cache_forked_child_opens_its_own_connection(sqlite_cache: SQLiteCache) -> None:
    sqlite_cache.set("parent", b"p")
    parent_conn = sqlite_cache._conn()
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() of a multi-threaded process"
        pid = os.fork()
    if pid == 0:  # the child: report, and leave without running any of pytest's teardown
        code = b"E"
        try:
            ok = sqlite_cache._conn() is not parent_conn and sqlite_cache.get("parent") == b"p"
            sqlite_cache.set("child", b"c")
            code = b"Y" if ok else b"N"
        finally:
            os.write(write, code)
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        reported = pipe.read(1)
    os.waitpid(pid, 0)
    assert reported == b"Y"
    assert sqlite_cache._conn() is parent_conn
    assert sqlite_cache.get("child") == b"c"


# -- a writer killed mid-write ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_writer_killed_mid_write_leaves_whole_entries_or_misses(tmp_path: Path, kind: str) -> None:
    location = str(tmp_path / ("cache" if kind == "file" else "cache.sqlite"))
    rng = random.Random(4)
    for _ in range(2):
        with subprocess.Popen(child_command(kind, location), stdout=subprocess.PIPE) as child:
            assert child.stdout is not None
            assert child.stdout.readline() == b"ready\n"
            if kind == "file":  # kill it while a temporary file is being written, if we catch one in 5 s
                deadline = time.monotonic() + 5.0
                while not _temp_files(tmp_path) and time.monotonic() < deadline:
                    pass
            else:
                time.sleep(rng.uniform(0.02, 0.2))  # somewhere in the loop of write transactions
            child.send_signal(signal.SIGKILL)
            child.wait()
        store = open_store(StoreSpec(kind, location))
        try:
            for n in range(6):
                value = store.get(f"big-{n}")
                assert value is None or value_ok(f"big-{n}", value)
            if isinstance(store, FileCache):
                store.sweep_temp_files(max_age=0)
                assert _temp_files(tmp_path) == []
        finally:
            store.close()


# -- RedisCache -------------------------------------------------------------------------


@pytest.fixture
def redis_store() -> Iterator[RedisCache]:
    store = RedisCache(redis_url(), prefix=f"httpcache-test:{uuid.uuid4().hex}:")
    yield store
    store.clear()
    store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _StubClient:
    """Stands in for ``redis.Redis``: records the calls, answers from a dict."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.data: dict[str, bytes] = {}

    def get(self, name: str) -> Optional[bytes]:
        self.calls.append(("get", name))
        return self.data.get(name)

    def set(self, name: str, value: bytes, px: Optional[int] = None) -> None:
        self.calls.append(("set", name, px))
        self.data[name] = value

    def delete(self, *names: str) -> None:
        self.calls.append(("delete", *names))


def test_redis_outage_never_raises_and_the_breaker_skips_calls() -> None:
    store = RedisCache(f"redis://127.0.0.1:{_closed_port()}/0")
    real_client = store.client
    clock = store._clock = _Clock()
    calls: list[tuple[Any, ...]] = []
    real_execute = real_client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_execute(*args, **kwargs)

    real_client.execute_command = counting
    try:
        assert store.get("k") is None
        assert (len(calls), store.failures, store.breaker_open) == (1, 1, True)
        for _ in range(100):
            assert store.get("k") is None
            store.set("k", b"v", 60)
            store.delete("k")
        assert (len(calls), store.skipped) == (1, 300)  # no connection attempted while open

        clock.now += 1.0  # the first pause is over: one call probes, fails, and the pause doubles
        store.set("k", b"v")
        assert (len(calls), store.failures, store.breaker_open) == (2, 2, True)
        clock.now += 1.5
        assert store.breaker_open  # still within the doubled pause
        clock.now += 0.6
        store.client = _StubClient()  # Redis is back
        store.client.data["httpcache:k"] = b"v"
        assert store.get("k") == b"v"
        assert not store.breaker_open
    finally:
        real_client.close()


def test_redis_outage_with_your_own_client() -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(port=_closed_port(), socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0))
    store = RedisCache(client)
    try:
        store.set("k", b"v")
        assert store.get("k") is None
        store.delete("k")
        assert (store.failures, store.skipped) == (1, 2)
        store.close()  # leaves your client open: it is yours
    finally:
        client.close()


def test_redis_ttl_is_clamped_into_what_redis_accepts() -> None:
    stub = _StubClient()
    store = RedisCache(stub, prefix="p:")
    for expires in (None, float("nan"), 1e-6, 0.0015, 2.0, float("inf"), 1e15):
        store.set("k", b"v", expires)
    store.set("k", b"v", 0)  # expired already: deleted, not set
    pxs = [call[2] for call in stub.calls if call[0] == "set"]
    ten_years = 10 * 365 * 24 * 3600 * 1000
    assert pxs == [None, None, 1, 2, 2000, ten_years, ten_years]
    assert stub.calls[-1] == ("delete", "p:k")


def test_redis_max_value_size_is_zero_while_the_breaker_is_open() -> None:
    store = RedisCache(f"redis://127.0.0.1:{_closed_port()}/0", max_entry_size=1024)
    store._clock = clock = _Clock()
    assert store.max_value_size() == 1024
    assert store.get("k") is None  # Redis unreachable: the breaker opens
    assert store.max_value_size() == 0  # takes no writes now
    clock.now += 1.0
    assert store.max_value_size() == 1024  # the pause is over: the next write may probe
    store.max_entry_size = None
    assert store.max_value_size() is None
    store.close()


def test_redis_max_entry_size(redis_store: RedisCache) -> None:
    redis_store.max_entry_size = 10
    redis_store.set("k", b"small")
    redis_store.set("k", b"more than ten bytes")
    assert redis_store.get("k") is None  # not stored, and the older value is gone
    redis_store.set("k", b"0123456789")
    assert redis_store.get("k") == b"0123456789"


def test_redis_ttl_is_set(redis_store: RedisCache) -> None:
    redis_store.set("k", b"v", 60)
    redis_store.set("forever", b"v")
    ttl = redis_store.client.pttl(redis_store.prefix + "k")
    assert 0 < ttl <= 60_000
    assert redis_store.client.pttl(redis_store.prefix + "forever") == -1


def test_redis_clear_deletes_only_its_prefix(redis_store: RedisCache) -> None:
    base = redis_store.prefix
    globby = RedisCache(redis_url(), prefix=base + "a*")  # a glob character in a prefix is literal
    neighbour = RedisCache(redis_url(), prefix=base + "ab")
    try:
        for n in range(1200):  # more than one SCAN/DEL batch
            globby.set(f"k{n}", b"v")
        neighbour.set("k", b"kept")
        globby.clear()
        assert globby.get("k0") is None and globby.get("k1199") is None
        assert neighbour.get("k") == b"kept"
    finally:
        globby.close()
        neighbour.close()


def test_redis_without_the_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(HTTPCacheError, match=r"pip install httpcache\[redis\]"):
        RedisCache("redis://127.0.0.1:6379/0")


def test_redis_refuses_a_decoding_client() -> None:
    import redis

    client = redis.Redis(decode_responses=True)
    try:
        with pytest.raises(HTTPCacheError, match="decode_responses"):
            RedisCache(client)
    finally:
        client.close()


# -- through a cached session -----------------------------------------------------------

URL = "http://example.test/cached"


@pytest.mark.parametrize("kind", ["file", "sqlite", "redis", "unreachable redis"])
@responses.activate
def test_a_cached_session_on_each_store(tmp_path: Path, kind: str) -> None:
    responses.add(responses.GET, URL, body=b"hello", headers={"Cache-Control": "max-age=60"})
    if kind == "unreachable redis":
        store: BaseCache = RedisCache(f"redis://127.0.0.1:{_closed_port()}/0")
    elif kind == "redis":
        store = RedisCache(redis_url(), prefix=f"httpcache-test:{uuid.uuid4().hex}:")
    else:
        store = open_store(StoreSpec(kind, str(tmp_path / kind)))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=store)
    try:
        first, second = sess.get(URL), sess.get(URL)
        assert first.content == second.content == b"hello"
        hit = kind != "unreachable redis"  # a dead store is only ever a miss
        assert (first.from_cache, second.from_cache) == (False, hit)  # type: ignore[attr-defined]
        assert len(responses.calls) == (1 if hit else 2)
    finally:
        sess.close()
        if isinstance(store, RedisCache) and kind == "redis":
            store.clear()
        store.close()

"""The store contract: one test class every store subclasses in three lines.

``StoreContract`` holds what every ``BaseCache`` must do, alone and under eight
threads; ``PersistentStoreContract`` adds what a store shared between processes
must do (the same work under a ``ProcessPoolExecutor``, reopening). Values are
self-verifying (``make_value`` / ``value_ok``): a reader can tell a whole value
of the right key from a torn, mixed or foreign one. The worker functions live at
module level so that they pickle for spawned processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, NamedTuple, Optional

import pytest

from httpcache.cache import BaseCache

__all__ = [
    "PersistentStoreContract",
    "StoreContract",
    "StoreSpec",
    "exercise",
    "kill_me_writer",
    "make_value",
    "open_store",
    "process_incrementer",
    "redis_url",
    "shared_spec",
    "start_together",
    "value_ok",
]

SHARED_KEYS = 16
THREADS = 8
PROCESSES = 4


class StoreSpec(NamedTuple):
    """How to open a persistent store in any process."""

    kind: str  # "file", "sqlite" or "redis"
    location: str  # a directory, a database file or a Redis URL
    prefix: str = ""  # Redis only
    max_entries: Optional[int] = None


def open_store(spec: StoreSpec) -> BaseCache:
    """A new store instance for ``spec``."""
    from httpcache.caches import FileCache, RedisCache, SQLiteCache

    if spec.kind == "file":
        return FileCache(spec.location, max_entries=spec.max_entries)
    if spec.kind == "sqlite":
        return SQLiteCache(spec.location, max_entries=spec.max_entries)
    if spec.kind == "redis":
        return RedisCache(spec.location, prefix=spec.prefix)
    raise AssertionError(spec)


def redis_url() -> str:
    """The test Redis server's URL; skips the test when it is unreachable, or fails it under ``CI=true``."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable Redis here
        reason = f"Redis unreachable at {url} ({type(exc).__name__}: {exc}); set REDIS_URL or start redis-server"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return url


def make_value(key: str, rng: random.Random, size: int) -> bytes:
    """``size`` random bytes tagged with ``key`` and sealed with a SHA-256."""
    body = key.encode() + b"\0" + rng.randbytes(size)
    return body + hashlib.sha256(body).digest()


def value_ok(key: str, value: bytes) -> bool:
    """Is ``value`` a whole value made by ``make_value`` for ``key``?"""
    body, seal = value[:-32], value[-32:]
    return len(value) >= 32 and hashlib.sha256(body).digest() == seal and body.startswith(key.encode() + b"\0")


def exercise(
    store: BaseCache, worker: int, rounds: int, max_size: int = 32 * 1024, evicting: bool = False
) -> tuple[int, list[str]]:
    """The contract's basic operations on keys of this worker's own, and random operations on
    shared keys with every read verified. Returns (verified shared reads, problems).
    ``evicting``: a bounded store may have evicted a value just written (a miss is fine)."""
    rng = random.Random(worker)
    verified = 0
    problems: list[str] = []
    for i in range(rounds):
        own = f"own-{worker}-{i}"
        first, second = make_value(own, rng, rng.randrange(64)), make_value(own, rng, rng.randrange(4096))
        store.set(own, first)
        if store.get(own) not in ((first, None) if evicting else (first,)):
            problems.append(f"{own}: not read back")
        store.set(own, second)
        if store.get(own) not in ((second, None) if evicting else (second,)):
            problems.append(f"{own}: overwrite not read back")
        store.delete(own)
        if store.get(own) is not None:
            problems.append(f"{own}: still there after delete")
        for _ in range(4):
            key = f"shared-{rng.randrange(SHARED_KEYS)}"
            roll = rng.random()
            if roll < 0.45:
                store.set(key, make_value(key, rng, rng.randrange(max_size)))
            elif roll < 0.9:
                value = store.get(key)
                if value is not None:
                    if value_ok(key, value):
                        verified += 1
                    else:
                        problems.append(f"{key}: torn or foreign value of {len(value)} bytes")
            else:
                with contextlib.suppress(KeyError):  # the README's store raises on a missing key
                    store.delete(key)
    return verified, problems


def check_shared(store: BaseCache) -> list[str]:
    """Every shared key holds a whole value of its own, or nothing."""
    problems = []
    for n in range(SHARED_KEYS):
        key = f"shared-{n}"
        value = store.get(key)
        if value is not None and not value_ok(key, value):
            problems.append(f"{key}: torn or foreign value of {len(value)} bytes after the workers")
    return problems


def start_together(store: BaseCache, worker: int) -> None:
    """Say ``worker`` has started, then wait (at most a minute) for the other processes,
    so that their work overlaps."""
    store.set(f"started-{worker}", b"1")
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and any(store.get(f"started-{n}") is None for n in range(PROCESSES)):
        time.sleep(0.01)


def shared_spec(kind: str, directory: Path) -> StoreSpec:
    """A store shared by processes, of ``kind`` (file, sqlite, redis), in ``directory``
    (Redis: under a prefix of its own)."""
    if kind == "file":
        return StoreSpec("file", str(directory / "files"))
    if kind == "sqlite":
        return StoreSpec("sqlite", str(directory / "cache.db"))
    return StoreSpec("redis", redis_url(), prefix=f"httpcache-test:{os.getpid()}:{time.time_ns()}:")


def process_worker(spec: StoreSpec, worker: int, rounds: int) -> tuple[int, list[str]]:
    """``exercise`` in a process of its own, on its own store instance."""
    store = open_store(spec)
    try:
        start_together(store, worker)
        return exercise(store, worker, rounds)
    finally:
        store.close()


def process_writer(spec: StoreSpec, worker: int, seconds: float) -> list[str]:
    """``exercise`` over and over for ``seconds`` in a process of its own, while another
    clears the store: the torn values it read (a value cleared under it is a miss)."""
    store = open_store(spec)
    try:
        problems: list[str] = []
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            problems += [p for p in exercise(store, worker, 5, evicting=True)[1] if "torn" in p]
        return problems
    finally:
        store.close()


def process_clearer(spec: StoreSpec, seconds: float) -> None:
    """``clear()`` the store over and over for ``seconds`` from a process of its own."""
    store = open_store(spec)
    try:
        stop = time.monotonic() + seconds
        while True:
            store.clear()
            if time.monotonic() >= stop:
                return
            time.sleep(0.02)
    finally:
        store.close()


def process_incrementer(spec: StoreSpec, worker: int, rounds: int) -> int:
    """Add 1 to the counter at ``"counter"`` ``rounds`` times by ``compare_and_set`` (read,
    add, retry until it takes), on its own store instance; how many retries it took."""
    store = open_store(spec)
    try:
        start_together(store, worker)
        retries = 0
        for _ in range(rounds):
            while True:
                current = store.get("counter")
                if store.compare_and_set("counter", current, b"%d" % (int(current or b"0") + 1)):
                    break
                retries += 1
        return retries
    finally:
        store.close()


def kill_me_writer(kind: str, location: str) -> None:
    """Write large values in a loop until killed; print ``ready`` once every key has been written."""
    store = open_store(StoreSpec(kind, location))
    rng = random.Random(os.getpid())
    keys = [f"big-{n}" for n in range(6)]
    values = [make_value(key, rng, 1_000_000 + rng.randrange(1_000_000)) for key in keys]
    for key, value in zip(keys, values):
        store.set(key, value)
    print("ready", flush=True)  # the parent waits for this line on our stdout
    while True:
        n = rng.randrange(len(keys))
        store.set(keys[n], values[n])


class StoreContract:
    """What every store does. Subclass it as ``TestX`` and implement ``make_store``."""

    supports_expiry: ClassVar[bool] = True  # does ``set`` take an ``expires`` hint?
    delete_missing_raises: ClassVar[bool] = False  # the README's store: KeyError, which the controller ignores
    supports_clear: ClassVar[bool] = True  # False: ``clear()`` raises NotImplementedError naming the class

    def make_store(self, tmp_path: Path) -> BaseCache:
        raise NotImplementedError

    def dispose(self, store: BaseCache) -> None:
        store.close()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BaseCache]:
        store = self.make_store(tmp_path)
        try:
            yield store
        finally:
            self.dispose(store)

    def test_missing_key_is_none(self, store: BaseCache) -> None:
        assert store.get("never stored") is None

    def test_round_trip(self, store: BaseCache) -> None:
        store.set("GET http://example.test/", b"one")
        assert store.get("GET http://example.test/") == b"one"

    def test_overwrite(self, store: BaseCache) -> None:
        store.set("k", b"one")
        store.set("k", b"two, longer")
        assert store.get("k") == b"two, longer"
        store.set("k", b"3")
        assert store.get("k") == b"3"

    def test_delete(self, store: BaseCache) -> None:
        store.set("k", b"one")
        store.set("other", b"two")
        store.delete("k")
        assert store.get("k") is None
        assert store.get("other") == b"two"

    def test_delete_missing(self, store: BaseCache) -> None:
        if self.delete_missing_raises:
            with pytest.raises(KeyError):
                store.delete("never stored")
        else:
            store.delete("never stored")
        assert store.get("never stored") is None

    def test_every_byte_value_and_odd_keys(self, store: BaseCache) -> None:
        value = bytes(range(256)) * 4 + bytes(reversed(range(256)))
        keys = ["GET https://ex.test/ü/\u2603?q=1&r=%20", "k" * 3000, " ", "a/../../b", "key\twith\nwhitespace"]
        for key in keys:
            store.set(key, value + key.encode())
        for key in keys:
            assert store.get(key) == value + key.encode()

    def test_empty_value(self, store: BaseCache) -> None:
        store.set("empty", b"")
        assert store.get("empty") == b""

    def test_large_value(self, store: BaseCache) -> None:
        value = random.Random(5).randbytes(5 * 1024 * 1024)
        store.set("large", value)
        assert store.get("large") == value
        store.set("large", value[:1000])
        assert store.get("large") == value[:1000]

    def test_many_keys(self, store: BaseCache) -> None:
        values = {f"GET http://example.test/{n}": b"%d" % n * (n % 7) for n in range(500)}
        for key, value in values.items():
            store.set(key, value)
        assert {key: store.get(key) for key in values} == values

    def test_expiry_hint(self, store: BaseCache) -> None:
        if not self.supports_expiry:
            pytest.skip("this store's set takes no expiry hint: the controller never passes one")
        ttl = 0.3
        start = time.monotonic()
        store.set("short", b"short-lived", ttl)
        store.set("renewed", b"first", ttl)
        store.set("renewed", b"kept", None)  # a new value without a hint has no expiry
        store.set("long", b"long-lived", 3600)
        read = store.get("short")
        if time.monotonic() - start < ttl:  # a stall of the machine must not fail the test
            assert read == b"short-lived"
        deadline = time.monotonic() + 5.0
        while store.get("short") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.get("short") is None
        assert store.get("renewed") == b"kept"
        assert store.get("long") == b"long-lived"

    def test_zero_or_negative_expiry_is_a_miss(self, store: BaseCache) -> None:
        if not self.supports_expiry:
            pytest.skip("this store's set takes no expiry hint: the controller never passes one")
        store.set("zero", b"old")
        store.set("zero", b"new", 0)
        store.set("negative", b"new", -5.0)
        assert store.get("zero") is None
        assert store.get("negative") is None

    def test_threads(self, store: BaseCache) -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(lambda worker: exercise(store, worker, 40), range(THREADS)))
        problems = [p for _, ps in results for p in ps] + check_shared(store)
        assert problems == []
        assert sum(verified for verified, _ in results) > 0

    def test_clear(self, store: BaseCache) -> None:
        if not self.supports_clear:
            with pytest.raises(NotImplementedError, match=type(store).__name__):
                store.clear()
            return
        store.clear()  # an empty store: nothing to do
        values = {f"GET http://example.test/{n}": b"%d" % n * (n + 1) for n in range(50)}
        for key, value in values.items():
            store.set(key, value)
        store.set("large", random.Random(1).randbytes(3 * 1024 * 1024))
        store.clear()
        assert [key for key in [*values, "large"] if store.get(key) is not None] == []
        store.set("after", b"a value written after clear()")
        assert store.get("after") == b"a value written after clear()"
        store.clear()
        assert store.get("after") is None

    def test_clear_under_threads(self, store: BaseCache) -> None:
        """Threads writing and reading while another clears: never a torn value, and a
        final ``clear()`` leaves nothing behind."""
        if not self.supports_clear:
            pytest.skip("this store has no clear()")
        stop = time.monotonic() + 0.5

        def clearer() -> int:
            cleared = 0
            while time.monotonic() < stop:
                store.clear()
                cleared += 1
                time.sleep(0.005)
            return cleared

        with ThreadPoolExecutor(THREADS) as pool:
            cleared = pool.submit(clearer)
            results = list(pool.map(lambda worker: exercise(store, worker, 20, evicting=True), range(THREADS - 1)))
        assert cleared.result() > 0
        problems = [p for _, ps in results for p in ps if "torn" in p] + check_shared(store)
        assert problems == []
        store.clear()
        assert [n for n in range(SHARED_KEYS) if store.get(f"shared-{n}") is not None] == []


    def test_compare_and_set_absent(self, store: BaseCache) -> None:
        assert store.compare_and_set("cas", None, b"first")
        assert store.get("cas") == b"first"
        assert not store.compare_and_set("cas", None, b"second"), "expected absent, but present"
        assert store.get("cas") == b"first"

    def test_compare_and_set_equal_and_different(self, store: BaseCache) -> None:
        store.set("cas", b"one")
        assert not store.compare_and_set("cas", b"two", b"three"), "a different value: nothing changes"
        assert not store.compare_and_set("cas", b"on", b"three"), "a prefix is not equal"
        assert store.get("cas") == b"one"
        assert store.compare_and_set("cas", b"one", b"two")
        assert store.get("cas") == b"two"
        assert not store.compare_and_set("never stored", b"two", b"x"), "expected a value, but absent"
        assert store.get("never stored") is None

    def test_compare_and_set_deletes(self, store: BaseCache) -> None:
        store.set("cas", b"one")
        assert not store.compare_and_set("cas", b"other", None)
        assert store.get("cas") == b"one"
        assert store.compare_and_set("cas", b"one", None)
        assert store.get("cas") is None
        assert not store.compare_and_set("cas", b"one", None)
        assert store.compare_and_set("cas", None, None), "absent, as expected: stays absent"

    def test_compare_and_set_large_value(self, store: BaseCache) -> None:
        big = random.Random(7).randbytes(3 * 1024 * 1024)
        store.set("cas", big)
        assert not store.compare_and_set("cas", big[:-1] + b"\x00", b"small")
        assert store.compare_and_set("cas", big, b"small")
        assert store.get("cas") == b"small"

    def test_compare_and_set_threads_one_winner(self, store: BaseCache) -> None:
        """N threads race to replace the same expected value: exactly one wins, and its value stays."""
        racers = 16
        for round_ in range(5):
            store.set("cas", b"start %d" % round_)
            barrier = threading.Barrier(racers)

            def race(n: int, round_: int = round_, barrier: threading.Barrier = barrier) -> bool:
                barrier.wait()
                return store.compare_and_set("cas", b"start %d" % round_, b"winner %d" % n)

            with ThreadPoolExecutor(racers) as pool:
                won = list(pool.map(race, range(racers)))
            assert won.count(True) == 1, won
            assert store.get("cas") == b"winner %d" % won.index(True)


def _spawn_pool() -> ProcessPoolExecutor:
    """Worker processes started afresh ("spawn"): no fork of a multi-threaded test process."""
    return ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn"))


class PersistentStoreContract(StoreContract):
    """What a store shared between processes does, on top of ``StoreContract``. Implement ``make_spec``."""

    def make_spec(self, tmp_path: Path) -> StoreSpec:
        raise NotImplementedError

    @pytest.fixture
    def spec(self, tmp_path: Path) -> StoreSpec:
        return self.make_spec(tmp_path)

    @pytest.fixture
    def store(self, spec: StoreSpec) -> Iterator[BaseCache]:
        store = open_store(spec)
        try:
            yield store
        finally:
            self.dispose(store)

    def dispose(self, store: BaseCache) -> None:
        clear = getattr(store, "clear", None)
        if clear is not None:
            clear()
        store.close()

    def test_processes(self, store: BaseCache, spec: StoreSpec) -> None:
        with _spawn_pool() as pool:
            futures = [pool.submit(process_worker, spec, worker, 40) for worker in range(PROCESSES)]
            results = [future.result(timeout=60) for future in futures]
        problems = [p for _, ps in results for p in ps] + check_shared(store)
        assert problems == []
        assert sum(verified for verified, _ in results) > 0

    def test_clear_by_another_process(self, store: BaseCache, spec: StoreSpec) -> None:
        """Entries written by this process are gone for every instance once another process
        cleared the store, while processes were writing to it."""
        for n in range(SHARED_KEYS):
            store.set(f"mine-{n}", b"written before the clear")
        with _spawn_pool() as pool:
            writers = [pool.submit(process_writer, spec, worker, 1.0) for worker in range(PROCESSES - 1)]
            pool.submit(process_clearer, spec, 1.0).result(timeout=60)
            problems = [p for future in writers for p in future.result(timeout=60)]
        assert problems + check_shared(store) == []
        assert [n for n in range(SHARED_KEYS) if store.get(f"mine-{n}") is not None] == []

    def test_compare_and_set_across_processes(self, store: BaseCache, spec: StoreSpec) -> None:
        """Processes adding to one counter by compare-and-set lose no increment."""
        rounds = 25
        with _spawn_pool() as pool:
            futures = [pool.submit(process_incrementer, spec, worker, rounds) for worker in range(PROCESSES)]
            for future in futures:
                future.result(timeout=120)
        assert store.get("counter") == b"%d" % (PROCESSES * rounds)

    def test_another_instance_sees_the_entries(self, store: BaseCache, spec: StoreSpec) -> None:
        store.set("shared", b"written by one instance", 3600)
        other = open_store(spec)
        try:
            assert other.get("shared") == b"written by one instance"
            other.delete("shared")
        finally:
            other.close()
        assert store.get("shared") is None


def tests_dir() -> str:
    """This directory, for child processes to import this module from."""
    return os.path.dirname(os.path.abspath(__file__))


def child_command(kind: str, location: str) -> list[str]:
    """A Python command line that runs ``kill_me_writer(kind, location)``."""
    code = (
        "import sys; sys.path[:0] = sys.argv[3:]; "
        "from stores_contract import kill_me_writer; kill_me_writer(sys.argv[1], sys.argv[2])"
    )
    return [sys.executable, "-c", code, kind, location, tests_dir(), os.path.dirname(tests_dir())]

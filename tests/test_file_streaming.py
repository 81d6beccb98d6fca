"""FileCache as a StreamingCache: large values written and read in pieces, on real files.

A streamed value round-trips byte for byte and is never whole in memory; nothing is
visible before ``commit``; a reader keeps the value it opened; a damaged entry is a
miss; a writer killed mid-stream leaves the old value (or a miss) and a temporary
file the sweep removes."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pytest
from stores_contract import make_value, value_ok
from stores_contract import tests_dir as _tests_dir

from httpcache.cache import StreamingCache, ValueReader
from httpcache.caches import FileCache
from httpcache.caches.file import _INLINE_MAX

MiB = 1 << 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileCache]:
    cache = FileCache(tmp_path / "cache")
    yield cache
    cache.close()


def _entry_path(store: FileCache, key: str) -> Path:
    name = hashlib.sha256(key.encode()).hexdigest()
    return Path(store.directory) / name[:2] / name


def _temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".tmp-*"))


def _uneven_pieces(value: bytes, seed: int = 0) -> Iterator[bytes]:
    rng = random.Random(seed)
    pos = 0
    while pos < len(value):
        size = rng.choice([1, 7, 100, 4096, 65535, 65536, 65537, 300_000, 1_500_000])
        yield value[pos : pos + size]
        pos += size


def _stream(store: FileCache, key: str, value: bytes, expires: Optional[float] = None) -> None:
    writer = store.open_write()
    for piece in _uneven_pieces(value):
        writer.write(piece)
    writer.commit(key, expires)


def _open_reader(store: FileCache, key: str) -> ValueReader:
    value = store.open_read(key)
    assert isinstance(value, ValueReader), f"expected a reader, got {type(value).__name__}"
    return value


def _read_all(reader: ValueReader, piece: int = 10 * 1024) -> bytes:
    return b"".join(reader.pread(piece, offset) for offset in range(0, reader.length, piece))


# -- round trips --------------------------------------------------------------------------


def test_file_cache_is_a_streaming_cache(store: FileCache) -> None:
    assert isinstance(store, StreamingCache)


def test_large_value_round_trip_in_uneven_pieces(store: FileCache) -> None:
    value = random.Random(1).randbytes(8 * MiB + 12345)
    _stream(store, "big", value)
    reader = _open_reader(store, "big")
    try:
        assert reader.length == len(value)
        assert hashlib.sha256(_read_all(reader, 65536 + 3)).digest() == hashlib.sha256(value).digest()
    finally:
        reader.close()
    assert store.get("big") == value  # get of a streamed value: whole
    assert len(store) == 1
    assert _temp_files(Path(store.directory)) == []


def test_pread_at_any_offset_and_size_and_past_the_end(store: FileCache) -> None:
    value = random.Random(2).randbytes(3 * MiB + 7)
    store.set("big", value)  # set and open_read meet too
    reader = _open_reader(store, "big")
    rng = random.Random(3)
    cases = [(0, 0), (10, 0), (1, len(value) - 1), (100, len(value) - 50), (5, len(value)), (5, len(value) + 9)]
    cases += [(rng.randrange(2 * MiB), rng.randrange(len(value) + 100)) for _ in range(200)]
    cases += [(len(value) + 100, 0), (MiB, MiB)]
    try:
        for size, offset in cases:
            assert reader.pread(size, offset) == value[offset : offset + size], (size, offset)
        for size, offset in [(-1, 0), (1, -1)]:
            with pytest.raises(ValueError):
                reader.pread(size, offset)
    finally:
        reader.close()
    reader.close()  # idempotent
    with pytest.raises(ValueError):
        reader.pread(1, 0)


def test_pread_from_many_threads(store: FileCache) -> None:
    value = random.Random(4).randbytes(4 * MiB)
    _stream(store, "big", value)
    reader = _open_reader(store, "big")
    piece = 100_003
    try:
        with ThreadPoolExecutor(8) as pool:
            offsets = list(range(0, len(value), piece))
            random.Random(5).shuffle(offsets)
            pieces = dict(zip(offsets, pool.map(lambda offset: reader.pread(piece, offset), offsets)))
    finally:
        reader.close()
    assert b"".join(pieces[offset] for offset in sorted(pieces)) == value


def test_small_values_come_back_as_bytes(store: FileCache) -> None:
    for size in (0, 1, 1000, _INLINE_MAX):
        value = random.Random(size).randbytes(size)
        _stream(store, f"k{size}", value)
        assert store.open_read(f"k{size}") == value
        store.set(f"set{size}", value)
        assert store.open_read(f"set{size}") == value
    _stream(store, "over", bytes(_INLINE_MAX + 1))
    reader = _open_reader(store, "over")
    assert reader.length == _INLINE_MAX + 1
    reader.close()
    assert store.open_read("never stored") is None


# -- a reader keeps the value it opened ---------------------------------------------------


def test_reader_keeps_its_value_through_overwrite_delete_and_clear(store: FileCache) -> None:
    old = random.Random(6).randbytes(2 * MiB)
    _stream(store, "k", old)
    reader = _open_reader(store, "k")
    try:
        _stream(store, "k", bytes(3 * MiB))
        assert reader.pread(100, MiB) == old[MiB : MiB + 100]
        store.delete("k")
        assert reader.pread(100, 5) == old[5:105]
        _stream(store, "k", b"new")
        store.clear()
        assert store.get("k") is None
        assert reader.length == len(old)
        assert _read_all(reader, MiB // 3) == old
    finally:
        reader.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open descriptors in /proc/self/fd")
def test_abandoned_reader_and_writer_release_their_files(store: FileCache) -> None:
    def open_here() -> int:
        """Descriptors of this process open on files of the store (other tests' threads may open others)."""
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(f"/proc/self/fd/{fd}").startswith(store.directory + os.sep)
        return count

    _stream(store, "big", bytes(2 * MiB))
    gc.collect()
    assert open_here() == 0
    reader = _open_reader(store, "big")
    writer = store.open_write()
    writer.write(bytes(200_000))
    assert open_here() == 2
    assert len(_temp_files(Path(store.directory))) == 1
    del reader, writer
    gc.collect()
    assert open_here() == 0
    assert _temp_files(Path(store.directory)) == []


def test_open_read_of_a_large_value_is_a_use_for_eviction(tmp_path: Path) -> None:
    store = FileCache(tmp_path / "cache", max_entries=3)
    for key in "abc":
        _stream(store, key, key.encode() * (_INLINE_MAX + 1))
    _open_reader(store, "a").close()  # a is now more recent than b and c
    _stream(store, "d", b"d")
    assert store.open_read("b") is None
    assert len(store) == 3
    _open_reader(store, "a").close()


# -- damage -------------------------------------------------------------------------------


def test_corrupt_byte_in_a_large_entry_is_a_miss_and_deleted(store: FileCache) -> None:
    value = random.Random(7).randbytes(3 * MiB)
    _stream(store, "big", value)
    path = _entry_path(store, "big")
    with open(path, "r+b") as f:
        f.seek(28 + len(value) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x40]))
    assert store.open_read("big") is None
    assert not path.exists()
    _stream(store, "big", value)
    with open(path, "r+b") as f:
        f.truncate(28 + len(value) - 1)  # a short file: its header no longer matches
    assert store.open_read("big") is None
    assert not path.exists()


def test_a_large_entry_is_checked_once_per_file(store: FileCache, monkeypatch: pytest.MonkeyPatch) -> None:
    from httpcache.caches import file as file_module

    checks: list[int] = []
    real = file_module._value_crc

    def counting(fd: int, length: int) -> Optional[int]:
        checks.append(length)
        return real(fd, length)

    monkeypatch.setattr(file_module, "_value_crc", counting)
    value = random.Random(8).randbytes(2 * MiB)
    _stream(store, "big", value)
    for _ in range(3):
        reader = _open_reader(store, "big")
        assert _read_all(reader) == value
        reader.close()
    assert len(checks) == 1  # the same file: checked the first time only
    # a new file with the same length, damaged before it is renamed in, is checked and refused
    path = _entry_path(store, "big")
    damaged = path.with_name("damaged")
    data = bytearray(path.read_bytes())
    data[28 + len(value) // 3] ^= 0x01
    damaged.write_bytes(bytes(data))
    os.replace(damaged, path)
    assert store.open_read("big") is None
    assert len(checks) == 2 and not path.exists()
    _stream(store, "big", value[::-1])  # a new value: checked again
    reader = _open_reader(store, "big")
    assert _read_all(reader) == value[::-1]
    reader.close()
    assert len(checks) == 3


def test_version_1_entry_is_a_miss_and_deleted(store: FileCache) -> None:
    store.set("k", b"v")
    path = _entry_path(store, "k")
    value = b"a value written by version 1"
    prefix = struct.pack(">4sBB2xdQ", b"HCF\x00", 1, 0, 0.0, len(value))
    path.write_bytes(prefix + struct.pack(">I", zlib.crc32(value, zlib.crc32(prefix))) + value)  # v1's checksum
    assert store.open_read("k") is None
    assert not path.exists()


# -- writers: nothing visible before commit -----------------------------------------------


def test_nothing_is_visible_before_commit(store: FileCache) -> None:
    store.set("k", b"old")
    writer = store.open_write()
    writer.write(bytes(3 * MiB))
    (temp,) = _temp_files(Path(store.directory))
    assert temp.parent == Path(store.directory)
    assert temp.stat().st_mode & 0o777 == 0o600
    assert (store.get("k"), store.open_read("k"), len(store)) == (b"old", b"old", 1)
    writer.commit("k")
    assert store.get("k") == bytes(3 * MiB)
    assert _temp_files(Path(store.directory)) == []
    assert _entry_path(store, "k").stat().st_mode & 0o777 == 0o600


def test_abort_leaves_no_temp_file_and_the_old_value(store: FileCache) -> None:
    store.set("k", b"old")
    for size in (10, 3 * MiB):
        writer = store.open_write()
        writer.write(bytes(size))
        writer.abort()
        writer.abort()  # idempotent
        assert _temp_files(Path(store.directory)) == []
        assert store.get("k") == b"old"
        with pytest.raises(ValueError):
            writer.commit("k")
        with pytest.raises(ValueError):
            writer.write(b"more")
        assert store.get("k") == b"old"


def test_a_writer_is_spent_after_commit(store: FileCache) -> None:
    writer = store.open_write()
    writer.write(b"once")
    writer.commit("first")
    with pytest.raises(ValueError):
        writer.commit("second")
    with pytest.raises(ValueError):
        writer.write(b"more")
    writer.abort()  # a no-op now
    assert (store.get("first"), store.get("second"), len(store)) == (b"once", None, 1)


@pytest.mark.parametrize("expires", [0, -1.0, -math.inf])
def test_commit_already_expired_stores_nothing_and_deletes_the_key(store: FileCache, expires: float) -> None:
    store.set("k", b"old")
    writer = store.open_write()
    writer.write(bytes(2 * MiB))
    writer.commit("k", expires)
    assert not _entry_path(store, "k").exists()  # not written at all, not merely expired
    assert len(store) == 0
    assert _temp_files(Path(store.directory)) == []
    assert store.get("k") is None


def test_commit_expiry_hints(store: FileCache) -> None:
    _stream(store, "nan", bytes(2 * MiB), math.nan)  # no deadline
    _stream(store, "soon", bytes(2 * MiB), 1e-9)
    _stream(store, "later", bytes(2 * MiB), 3600)
    for key in ("nan", "later"):
        reader = _open_reader(store, key)
        reader.close()
    assert store.open_read("soon") is None
    assert not _entry_path(store, "soon").exists()


def test_a_value_over_max_bytes_is_dropped_as_it_is_written(tmp_path: Path) -> None:
    store = FileCache(tmp_path / "cache", max_bytes=MiB)
    store.set("k", b"old")
    writer = store.open_write()
    writer.write(bytes(MiB // 2))
    assert len(_temp_files(tmp_path)) == 1
    writer.write(bytes(MiB // 2))  # now over, with the header: the temporary file goes at once
    assert _temp_files(tmp_path) == []
    writer.write(bytes(MiB))
    writer.commit("k")
    assert store.get("k") is None  # not stored, and the older value is gone
    assert len(store) == 0
    _stream(store, "fits", bytes(MiB - 28))
    assert store.get("fits") == bytes(MiB - 28)


def test_a_swept_temp_file_makes_commit_a_skipped_write(store: FileCache) -> None:
    store.set("k", b"old")
    writer = store.open_write()
    writer.write(bytes(2 * MiB))
    assert store.sweep_temp_files(max_age=0) == 1
    writer.commit("k")  # no error: a skipped write
    assert store.get("k") == b"old"
    writer = store.open_write()
    writer.write(b"new")
    store.clear()
    writer.commit("k")
    assert (store.get("k"), len(store)) == (None, 0)
    assert _temp_files(Path(store.directory)) == []


def test_open_writers_are_not_entries_and_not_evicted(tmp_path: Path) -> None:
    store = FileCache(tmp_path / "cache", max_entries=3)
    writer = store.open_write()
    writer.write(bytes(MiB))
    assert len(store) == 0
    for n in range(20):  # several eviction passes
        store.set(f"k{n}", b"v")
    assert len(store) <= 3
    assert len(_temp_files(tmp_path)) == 1
    writer.write(b"end")
    writer.commit("streamed")
    assert store.get("streamed") == bytes(MiB) + b"end"


def test_durable_streamed_commit(tmp_path: Path) -> None:
    store = FileCache(tmp_path / "cache", durable=True)
    value = random.Random(8).randbytes(2 * MiB)
    _stream(store, "k", value, 60)
    assert store.get("k") == value


def test_concurrent_streamed_writers_of_one_key(store: FileCache) -> None:
    values = [make_value("k", random.Random(n), 2 * MiB) for n in range(6)]
    barrier = threading.Barrier(len(values))

    def write(value: bytes) -> None:
        writer = store.open_write()
        barrier.wait()
        for piece in _uneven_pieces(value):
            writer.write(piece)
        writer.commit("k")

    with ThreadPoolExecutor(len(values)) as pool:
        list(pool.map(write, values))
    assert store.get("k") in values
    assert len(store) == 1
    assert _temp_files(Path(store.directory)) == []


# -- memory -------------------------------------------------------------------------------


def test_a_large_value_is_never_whole_in_memory(store: FileCache) -> None:
    size, piece = 64 * MiB, 64 * 1024
    written, read = hashlib.sha256(), hashlib.sha256()
    tracemalloc.start()
    try:
        writer = store.open_write()
        for n in range(size // piece):
            data = hashlib.sha256(n.to_bytes(4, "big")).digest() * (piece // 32)
            written.update(data)
            writer.write(data)
        writer.commit("big")
        reader = _open_reader(store, "big")
        try:
            for offset in range(0, reader.length, 10 * 1024):
                read.update(reader.pread(10 * 1024, offset))
        finally:
            reader.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read.digest() == written.digest()
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


# -- a writer killed mid-stream -----------------------------------------------------------


def killed_streamer(location: str, mode: str) -> None:
    """Stream large values into ``location`` until killed: commit one and print its SHA-256; then
    ``pause``: write half of another and wait; ``loop``: keep streaming new values."""
    store = FileCache(location)
    rng = random.Random(os.getpid())
    first = make_value("big", rng, 3 * MiB)
    _stream(store, "big", first)
    print(hashlib.sha256(first).hexdigest(), flush=True)
    if mode == "pause":
        writer = store.open_write()
        writer.write(make_value("big", rng, 3 * MiB)[: 3 * MiB // 2])
        print("half", flush=True)
        time.sleep(60)
    while True:
        _stream(store, "big", make_value("big", rng, MiB + rng.randrange(3 * MiB)))


@pytest.mark.parametrize("mode", ["pause", "loop"])
def test_writer_killed_mid_stream_leaves_the_old_value_or_a_miss(tmp_path: Path, mode: str) -> None:
    location = str(tmp_path / "cache")
    code = (
        "import sys; sys.path[:0] = sys.argv[3:]; "
        "from test_file_streaming import killed_streamer; killed_streamer(sys.argv[1], sys.argv[2])"
    )
    command = [sys.executable, "-c", code, location, mode, _tests_dir(), os.path.dirname(_tests_dir())]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        first = child.stdout.readline().strip().decode()
        if mode == "pause":
            assert child.stdout.readline() == b"half\n"
        else:  # kill it while a temporary file is being written, if we catch one in 5 s
            deadline = time.monotonic() + 5.0
            while not _temp_files(tmp_path) and time.monotonic() < deadline:
                pass
        child.send_signal(signal.SIGKILL)
        child.wait()
    store = FileCache(location)
    value = store.get("big")
    assert value is not None and value_ok("big", value)  # a value was committed before: never a miss
    leftovers = len(_temp_files(tmp_path))
    if mode == "pause":
        assert hashlib.sha256(value).hexdigest() == first
        assert leftovers == 1
    assert len(store) == 1  # the leftover is not an entry
    assert store.sweep_temp_files(max_age=0) == leftovers
    assert _temp_files(tmp_path) == []
    assert store.get("big") == value

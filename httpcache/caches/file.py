"""A store in a directory: one file per key, written atomically, shared safely by
threads and processes.

Layout: ``<directory>/<h[:2]>/<h>`` where ``h`` is the SHA-256 of the key in hex.
Each file is a 28-byte header (``_HEADER``: magic, format version, flags, the
expiry deadline in seconds since the epoch, the value's length and a CRC-32 of
the header fields and the value) followed by the value. A value is written to a
temporary file in the same directory and renamed over the entry
(``os.replace``), so a reader sees the old value or the new one, never a torn
one; a file that does not check out (empty, truncated, foreign, corrupt) reads
as a miss and is deleted. The modification time is the last use (set on write,
touched on read): the least recently used entries are evicted first.

House rules: no lock is taken to read or write an entry; the only lock is a
``flock`` on ``<directory>/.lock`` so that one process at a time runs a
maintenance pass (eviction, sweeping the temporary files of killed writers);
the kernel releases it if that process dies.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import stat
import struct
import sys
import tempfile
import threading
import time
import zlib
from typing import Iterator, Optional, Union

from ..cache import BaseCache, _check_bounds

log = logging.getLogger("httpcache")

__all__ = ["FileCache"]

_HEADER = struct.Struct(">4sBB2xdQI")  # magic, version, flags, deadline, length, crc32
_CRC_AT = _HEADER.size - 4
_MAGIC = b"HCF\x00"
_VERSION = 1
_HAS_DEADLINE = 1
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
_NAME_LEN = 64  # hex SHA-256

if sys.platform == "win32":  # pragma: no cover - no flock: maintenance passes may overlap, harmlessly

    def _try_lock(fd: int) -> bool:
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        """Take an exclusive kernel lock on ``fd`` without waiting (released on close or on death)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # a file system without flock: run unlocked, overlapping passes are harmless
            return True
        return True


def _low_water(bound: int) -> int:
    """Where an eviction pass stops: 10% under the bound, so passes are amortised."""
    return bound - bound // 10


def _unlink_quietly(path: str) -> None:
    """Remove ``path`` if it is still there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _parse_header(head: bytes, file_size: int) -> Optional[tuple[Optional[float], int, int]]:
    """(deadline or None, value length, crc) from an entry's header, or None if it is not one of ours."""
    if len(head) != _HEADER.size:
        return None
    magic, version, flags, deadline, length, crc = _HEADER.unpack(head)
    if magic != _MAGIC or version != _VERSION or flags & ~_HAS_DEADLINE or file_size != _HEADER.size + length:
        return None
    return (deadline if flags & _HAS_DEADLINE else None), length, crc


class FileCache(BaseCache):
    """A directory store, one file per key: atomic writes, expiry hints, optional LRU bounds.

    ``max_entries`` / ``max_bytes`` (bytes of the entry files, headers included)
    are enforced by amortised passes: when this process's estimate exceeds a
    bound it scans the directory and evicts the least recently used files down to
    10% under it. Within one process the bounds hold whenever no write is under
    way; several processes writing at once may each overshoot them by up to 10%
    between their passes. ``durable=True`` fsyncs each file and its directory.
    ``temp_max_age`` (seconds) is when a temporary file counts as a killed
    writer's leftover; ``maintenance_interval`` how often an unbounded cache
    sweeps them (a bounded one sweeps at every eviction pass).
    """

    temp_max_age = 300.0
    maintenance_interval = 3600.0

    def __init__(
        self,
        directory: Union[str, os.PathLike[str]],
        *,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
        durable: bool = False,
    ) -> None:
        _check_bounds(max_entries, max_bytes)
        self.directory = os.path.abspath(os.fspath(directory))
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.durable = durable
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._lock = threading.Lock()  # guards the estimates below
        self._maintenance = threading.Lock()  # one pass per process at a time
        self._est_entries = 0
        self._est_bytes = 0
        self._added_entries = 0
        self._added_bytes = 0
        self._next_pass = 0.0
        self._maintain()

    # -- the store interface ----------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        path = self._path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, before the file may be discarded
        except FileNotFoundError:
            return None
        with f:
            st = os.fstat(f.fileno())
            head = f.read(_HEADER.size)
            parsed = _parse_header(head, st.st_size)
            value: Optional[bytes] = None
            why = ""
            if parsed is None:
                why = "not a FileCache entry of this version, or truncated"
            elif parsed[0] is not None and parsed[0] <= time.time():
                why = "expired"
            else:
                data = f.read(parsed[1])
                if len(data) == parsed[1] and zlib.crc32(data, zlib.crc32(head[:_CRC_AT])) == parsed[2]:
                    value = data
                else:
                    why = "checksum mismatch"
        if value is None:
            log.debug("FileCache entry %s: %s: deleted, a miss", path, why)
            self._discard(path, st.st_ino)
            return None
        now = time.time_ns()
        try:
            os.utime(path, ns=(now, now))  # the last use, for LRU eviction
        except OSError:
            pass  # replaced or removed meanwhile, or a read-only directory: no harm
        return value

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        flags, deadline = 0, 0.0
        if expires is not None and not math.isnan(expires):
            if expires <= 0:
                self.delete(key)
                return
            flags, deadline = _HAS_DEADLINE, time.time() + expires
        size = _HEADER.size + len(value)
        if self.max_bytes is not None and size > self.max_bytes:
            log.debug("FileCache: a %d-byte value is over max_bytes=%d: not stored", len(value), self.max_bytes)
            self.delete(key)
            return
        path = self._path(key)
        shard = os.path.dirname(path)
        prefix = _HEADER.pack(_MAGIC, _VERSION, flags, deadline, len(value), 0)[:_CRC_AT]
        head = prefix + struct.pack(">I", zlib.crc32(value, zlib.crc32(prefix)))
        fd, tmp = self._mkstemp(shard)
        try:
            with open(fd, "wb") as f:
                f.write(head)
                f.write(value)
                if self.durable:
                    f.flush()
                    os.fsync(f.fileno())
            now = time.time_ns()
            os.utime(tmp, ns=(now, now))
            os.replace(tmp, path)
        except FileNotFoundError:  # clear() or a sweep removed the temporary file: a skipped write
            log.debug("FileCache: temporary file %s removed before it was renamed: %r not stored", tmp, key)
            return
        except BaseException:
            _unlink_quietly(tmp)
            raise
        if self.durable:
            self._fsync_dir(shard)
        self._written(size)

    def delete(self, key: str) -> None:
        _unlink_quietly(self._path(key))

    def clear(self) -> None:
        """Remove every entry and temporary file (the directory and its lock file stay)."""
        for path, _ in self._walk():
            _unlink_quietly(path)
        with self._lock:
            self._est_entries = self._est_bytes = 0

    def purge_expired(self) -> int:
        """Remove the expired (and the undecodable) entries and old temporary files; return how many entries."""
        removed = 0
        now = time.time()
        for path, st in self._walk():
            if os.path.basename(path).startswith(_TMP_PREFIX):
                continue
            try:
                with open(path, "rb") as f:
                    head = f.read(_HEADER.size)
            except FileNotFoundError:
                continue
            parsed = _parse_header(head, st.st_size)
            if parsed is None or (parsed[0] is not None and parsed[0] <= now):
                self._discard(path, st.st_ino)
                removed += 1
        self.sweep_temp_files()
        return removed

    def sweep_temp_files(self, max_age: Optional[float] = None) -> int:
        """Remove temporary files older than ``max_age`` seconds (default ``temp_max_age``); return how many."""
        limit = time.time() - (self.temp_max_age if max_age is None else max_age)
        swept = 0
        for path, st in self._walk():
            if os.path.basename(path).startswith(_TMP_PREFIX) and st.st_mtime <= limit:
                _unlink_quietly(path)
                swept += 1
        return swept

    def __len__(self) -> int:
        """The number of entries (a directory scan; expired entries not yet removed count)."""
        return sum(1 for path, _ in self._walk() if not os.path.basename(path).startswith(_TMP_PREFIX))

    # -- internals --------------------------------------------------------------------

    def _path(self, key: str) -> str:
        name = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self.directory, name[:2], name)

    @staticmethod
    def _mkstemp(shard: str) -> tuple[int, str]:
        """A new temporary file (mode 0o600) in ``shard``, creating the directory (0o700) if needed."""
        try:
            return tempfile.mkstemp(prefix=_TMP_PREFIX, dir=shard)
        except FileNotFoundError:
            os.makedirs(shard, mode=0o700, exist_ok=True)
            return tempfile.mkstemp(prefix=_TMP_PREFIX, dir=shard)

    @staticmethod
    def _fsync_dir(path: str) -> None:
        """Make a rename in ``path`` durable (POSIX only)."""
        if sys.platform == "win32":  # pragma: no cover
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _discard(path: str, ino: int) -> None:
        """Remove ``path`` if it is still the file we read (not a newer value renamed over it)."""
        try:
            if os.stat(path).st_ino == ino:
                os.unlink(path)
        except FileNotFoundError:
            pass

    def _walk(self) -> Iterator[tuple[str, os.stat_result]]:
        """(path, stat) of every regular file in the shard directories: entries and temporary files."""
        for shard in _entries(self.directory):
            if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                continue
            for entry in _entries(shard.path):
                is_tmp = entry.name.startswith(_TMP_PREFIX)
                if not is_tmp and (len(entry.name) != _NAME_LEN or not entry.name.startswith(shard.name)):
                    continue  # not ours: left alone
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield entry.path, st

    def _written(self, size: int) -> None:
        """Count a write; run a maintenance pass when a bound may be exceeded or one is due."""
        with self._lock:
            self._est_entries += 1
            self._est_bytes += size
            self._added_entries += 1
            self._added_bytes += size
            needed = self._pass_needed()
        if needed:
            self._maintain(only_if_needed=True)

    def _pass_needed(self) -> bool:
        """May a bound be exceeded, or is a periodic pass due? (``self._lock`` held)"""
        return (
            (self.max_entries is not None and self._est_entries > self.max_entries)
            or (self.max_bytes is not None and self._est_bytes > self.max_bytes)
            or time.monotonic() >= self._next_pass
        )

    def _maintain(self, only_if_needed: bool = False) -> None:
        """One pass, unless another process is running one: sweep old temporary files,
        count the entries, and evict the least recently used ones when over a bound.
        Threads wait for each other's pass, then check whether theirs is still needed."""
        with self._maintenance:
            if only_if_needed:
                with self._lock:
                    if not self._pass_needed():
                        return
            try:
                fd = os.open(os.path.join(self.directory, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    if _try_lock(fd):
                        self._pass()
                finally:
                    os.close(fd)
            except OSError as exc:
                log.warning("FileCache maintenance of %s failed: %s: %s", self.directory, type(exc).__name__, exc)

    def _pass(self) -> None:
        with self._lock:
            added_entries, added_bytes = self._added_entries, self._added_bytes
        limit = time.time() - self.temp_max_age
        files: list[tuple[int, int, str, int]] = []  # (last use in ns, size, path, inode)
        total = 0
        for path, st in self._walk():
            if os.path.basename(path).startswith(_TMP_PREFIX):
                if st.st_mtime <= limit:
                    _unlink_quietly(path)
                continue
            files.append((st.st_mtime_ns, st.st_size, path, st.st_ino))
            total += st.st_size
        count = len(files)
        over = (self.max_entries is not None and count > self.max_entries) or (
            self.max_bytes is not None and total > self.max_bytes
        )
        if over:
            keep_entries = _low_water(self.max_entries) if self.max_entries is not None else count
            keep_bytes = _low_water(self.max_bytes) if self.max_bytes is not None else total
            files.sort()
            evicted = 0
            for _, size, path, ino in files:
                if count <= keep_entries and total <= keep_bytes:
                    break
                self._discard(path, ino)
                count -= 1
                total -= size
                evicted += 1
            log.debug("FileCache %s: evicted %d least recently used entries", self.directory, evicted)
        with self._lock:
            self._est_entries = count + self._added_entries - added_entries
            self._est_bytes = total + self._added_bytes - added_bytes
            self._next_pass = time.monotonic() + self.maintenance_interval


def _entries(path: str) -> list[os.DirEntry[str]]:
    """The entries of directory ``path`` (none if it has gone)."""
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []

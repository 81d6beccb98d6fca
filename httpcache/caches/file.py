"""A store in a directory: one file per key, written atomically, shared safely by
threads and processes, large values streamed to and from disk in pieces.

Layout: ``<directory>/<h[:2]>/<h>`` where ``h`` is the SHA-256 of the key in hex.
Each file is a 28-byte header (``_HEADER``: magic, format version, flags, the
expiry deadline in seconds since the epoch, the value's length and a CRC-32)
followed by the value. A value is written to a temporary file (``.tmp-*``) in
the directory's root and renamed over the entry (``os.replace``), so a reader
sees the old value or the new one, never a torn one; a file that does not check
out (empty, truncated, foreign, another format version, corrupt) reads as a miss
and is deleted. The modification time is the last use (set on write, touched on
read): the least recently used entries are evicted first.

Streaming: ``open_write`` creates the temporary file at once and writes pieces
as they come (gathering at most ``_BUFFER`` bytes); ``commit`` writes the header
at offset 0 and renames. ``open_read`` returns a value up to ``_INLINE_MAX`` as
``bytes``; a larger one is checked whole first, in ``_PIECE`` reads (a damaged
file is never served), then read through the descriptor it was checked on:
the same inode, even if the entry is replaced or deleted meanwhile. A process
checks a large file once: while the entry is the same file (device, inode,
length and header checksum; every write renames a new file in) it is not
checked again, so a hot large hit is read once, not twice.

Design notes. Format version 2 checksums the value first and the header fields
after it, ``crc32(fields, crc32(value))``: a streaming writer folds in each
piece as it goes and the deadline, known only at commit, last (version 1 had it
the other way round; its files are misses, deleted). Temporary files live in
the root, not in the key's shard, because a streaming writer learns its key
only at commit (a rename across directories of one file system is as atomic);
``set`` takes the same path, no slower. A writer over ``max_bytes`` drops its
file as soon as it knows, so a body too large to keep costs no disk. A large
hit is read twice the first time (the check, then the caller's reads), the
price of never serving a damaged byte; later hits in the same process trust
that check (a file is never rewritten in place). On
Windows an open reader pins its entry (a write of that key fails: skipped).

House rules: no lock is taken to read or write an entry; the only lock is a
``flock`` on ``<directory>/.lock`` so that one process at a time runs a
maintenance pass (eviction, sweeping the temporary files of killed writers);
the kernel releases it if that process dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import secrets
import sys
import tempfile
import threading
import time
import zlib
from typing import Iterator, Optional, Union

from ..cache import Expiry, StreamingCache, ValueReader, ValueWriter, _check_bounds, expiry_seconds
from ..exceptions import HTTPCacheError, UnsupportedStoreError
from ._file_format import (
    _CAS_LOCKS,
    _CRC_AT,
    _HEADER,
    _LEASE_GRACE,
    _LEASES,
    _LOCK_NAME,
    _NAME_LEN,
    _TMP_PREFIX,
    _entries,
    _lock,
    _parse_header,
    _read_at,
    _regular,
    _try_lock,
    _unlink_quietly,
)
from ._file_format import _value_crc as _value_crc  # (looked up here at each check: a test counts the calls)
from ._file_stream import _FileReader, _FileWriter, _peek

log = logging.getLogger("httpcache")

__all__ = ["FileCache"]

_INLINE_MAX = 1 << 20  # open_read returns values up to this size as bytes
_VERIFIED_MAX = 4096  # large values remembered as checked (see _read)
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_UTIME_FD = os.utime in os.supports_fd


def _low_water(bound: int) -> int:
    """Where an eviction pass stops: 10% under the bound, so passes are amortised."""
    return bound - bound // 10


class FileCache(StreamingCache):
    """A directory store, one file per key: atomic writes, expiry hints, optional LRU bounds,
    large values streamed to and from disk.

    ``max_entries`` / ``max_bytes`` (bytes of the entry files, headers included)
    are enforced by amortised passes: when this process's estimate exceeds a
    bound it scans the directory and evicts the least recently used files down to
    10% under it. Within one process the bounds hold whenever no write is under
    way; several processes writing at once may each overshoot them by up to 10%
    between their passes. ``durable=True`` fsyncs each file and its directory.
    ``temp_max_age`` (seconds) is when a temporary file untouched for that long
    counts as a killed writer's leftover; ``maintenance_interval`` how often an
    unbounded cache sweeps them (a bounded one sweeps at every eviction pass).

    cachecontrol's arguments (``FileCache(directory, forever=False, filemode=0o0600,
    dirmode=0o0700, lock_class=None)``): ``forever=True`` keeps entries past their expiry
    hint (no deadline is written: only eviction, ``clear()`` and the cache's own deletions
    remove them; RFC 9111 §4.4 invalidation still deletes, unlike cachecontrol's);
    ``filemode`` / ``dirmode`` are the modes of the entry files and of the directories
    created (less the umask, for directories); ``lock_class`` is accepted and not used:
    every write is atomic already (a temporary file renamed in; ``compare_and_set`` takes
    a ``flock``).
    """

    temp_max_age = 300.0
    maintenance_interval = 3600.0

    def __init__(
        self,
        directory: Union[str, os.PathLike[str]],
        forever: bool = False,
        filemode: int = 0o0600,
        dirmode: int = 0o0700,
        lock_class: Optional[object] = None,
        *,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
        durable: bool = False,
    ) -> None:
        _check_bounds(max_entries, max_bytes)
        for name, mode in (("filemode", filemode), ("dirmode", dirmode)):
            if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
                raise HTTPCacheError(f"{name} must be a file mode (an int such as 0o600), not {mode!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.forever = bool(forever)
        self.filemode = filemode
        self.dirmode = dirmode
        self.lock_class = lock_class  # accepted for cachecontrol's sake; writes are atomic without it
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.durable = durable
        os.makedirs(self.directory, mode=dirmode, exist_ok=True)
        self._lock = threading.Lock()  # guards the estimates below
        self._maintenance = threading.Lock()  # one pass per process at a time
        self._est_entries = 0
        self._est_bytes = 0
        self._added_entries = 0
        self._added_bytes = 0
        self._next_pass = 0.0
        self._verified: set[tuple[int, int, int, int]] = set()  # large values checked whole (_read)
        self._maintain()

    # -- the store interface ----------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        value = self._read(key, inline_max=math.inf)
        assert not isinstance(value, _FileReader)
        return value

    def open_read(self, key: str) -> Union[bytes, ValueReader, None]:
        return self._read(key, inline_max=_INLINE_MAX)

    def set(self, key: str, value: bytes, expires: Expiry = None) -> None:
        """Store ``value``; ``expires``: seconds (or a ``timedelta``, or a ``datetime`` to
        expire at), ignored when ``forever``."""
        expires = None if self.forever else expiry_seconds(expires)
        if expires is not None and expires <= 0:  # (not stored: spare the temporary file)
            self.delete(key)
            return
        writer = _FileWriter(self)
        writer.write(value)
        writer.commit(key, expires)

    def open_write(self) -> ValueWriter:
        return _FileWriter(self)

    def compare_and_set(
        self, key: str, expected: Optional[bytes], value: Optional[bytes], expires: Optional[float] = None
    ) -> bool:
        """``BaseCache.compare_and_set`` under an exclusive ``flock`` on ``.cas/<shard>`` (the
        key's shard: at most 256 lock files): atomic across threads and processes among
        ``compare_and_set`` calls; the kernel releases the lock of a killed holder. The read
        and the write inside are the usual ones (checked read; temporary file renamed in)."""
        folder = os.path.join(self.directory, _CAS_LOCKS)
        path = os.path.join(folder, os.path.basename(os.path.dirname(self._path(key))))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
            if self.get(key) != expected:
                return False
            if value is None:
                self.delete(key)
            else:
                if self.max_bytes is not None and len(value) + _HEADER.size > self.max_bytes:
                    return False
                self.set(key, value, expires)
            return True
        finally:
            os.close(fd)  # (releases the flock)

    def delete(self, key: str) -> None:
        _unlink_quietly(self._path(key))

    def max_value_size(self) -> Optional[int]:
        """``max_bytes`` less an entry file's header: a larger value is not stored."""
        return None if self.max_bytes is None else max(0, self.max_bytes - _HEADER.size)

    def acquire_lease(self, key: str, seconds: float) -> Optional[str]:
        """Cross-process coalescing: create ``.leases/<hash>`` exclusively (``O_EXCL``) with a
        token and a deadline. A lease past its deadline (its holder was killed, or is slow)
        is removed under the ``.leases/.lock`` flock and taken over."""
        folder = os.path.join(self.directory, _LEASES)
        path = os.path.join(folder, os.path.basename(self._path(key)))
        token = secrets.token_hex(16)
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:
                os.makedirs(folder, mode=0o700, exist_ok=True)
                continue
            except FileExistsError:
                if not self._lease_cleared(folder, path, None):
                    return None
                continue
            with open(fd, "w", encoding="ascii") as f:
                f.write(f"{token} {time.time() + seconds!r}")
            return token
        return None

    def release_lease(self, key: str, token: str) -> None:
        folder = os.path.join(self.directory, _LEASES)
        self._lease_cleared(folder, os.path.join(folder, os.path.basename(self._path(key))), token)

    @staticmethod
    def _lease_cleared(folder: str, path: str, token: Optional[str]) -> bool:
        """Under the leases' flock, remove the lease at ``path`` if it is ``token``'s (a
        release) or, with no token, if it has expired (a take-over); True if none is left."""
        try:
            lock_fd = os.open(os.path.join(folder, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            return True
        try:
            _lock(lock_fd)
            try:
                with open(path, encoding="ascii", errors="replace") as f:
                    held = f.read(200).split()
                    mtime = os.fstat(f.fileno()).st_mtime
            except FileNotFoundError:
                return True
            now = time.time()
            deadline: Optional[float] = None
            if len(held) == 2:
                try:
                    deadline = float(held[1])
                except ValueError:
                    deadline = None
            if token is not None:
                gone = held[:1] == [token]
            elif deadline is None:
                gone = mtime < now - _LEASE_GRACE  # unreadable: let its writer finish first
            else:
                gone = not deadline > now
            if gone:
                _unlink_quietly(path)
            return gone
        finally:
            os.close(lock_fd)

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

    def keys(self) -> Iterator[str]:
        """Not available: an entry's file is named by a hash of its key, which it does not
        keep. Walk the values instead (``values()``); ``CacheInspector`` does."""
        raise UnsupportedStoreError("FileCache keeps a hash of each key, not the key: walk values() instead")

    def values(self) -> Iterator[Union[bytes, ValueReader]]:
        """Every entry's value (a directory walk), read-only: an entry expired, damaged or
        gone meanwhile is skipped, not deleted, and no entry's last use is touched. A value
        over 1 MiB is a ``ValueReader`` the caller closes."""
        now = time.time()
        for path, _ in self._walk():
            if not os.path.basename(path).startswith(_TMP_PREFIX):
                value = _peek(path, now, _INLINE_MAX)
                if value is not None:
                    yield value

    def __len__(self) -> int:
        """The number of entries (a directory scan; expired entries not yet removed count)."""
        return sum(1 for path, _ in self._walk() if not os.path.basename(path).startswith(_TMP_PREFIX))

    # -- internals --------------------------------------------------------------------

    def _path(self, key: str) -> str:
        name = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self.directory, name[:2], name)

    def _read(self, key: str, inline_max: float) -> Union[bytes, _FileReader, None]:
        """The value at ``key``, checked: bytes up to ``inline_max`` bytes, else a reader."""
        path = self._path(key)
        try:
            fd = os.open(path, _O_READ)
        except FileNotFoundError:
            return None
        value: Union[bytes, _FileReader, None] = None
        try:
            st = os.fstat(fd)
            head = os.read(fd, _HEADER.size)
            parsed = _parse_header(head, st.st_size)
            if parsed is None:
                why = "not a FileCache entry of this version, or truncated"
            elif parsed[0] is not None and parsed[0] <= time.time():
                why = "expired"
            else:
                why, length = "checksum mismatch", parsed[1]
                # a large file this process has checked whole is not checked again while it is
                # the same one: same inode (a write renames a new file in), length and checksum
                checked = (st.st_dev, st.st_ino, length, parsed[2])
                data: Optional[bytes] = None
                if length > inline_max and checked in self._verified:
                    ok = True
                else:
                    if length <= inline_max:
                        data = _read_at(fd, length, _HEADER.size)
                        crc = zlib.crc32(data) if len(data) == length else None
                    else:
                        crc = _value_crc(fd, length)
                    ok = crc is not None and zlib.crc32(head[:_CRC_AT], crc) == parsed[2]
                    if ok and data is None:
                        if len(self._verified) >= _VERIFIED_MAX:
                            self._verified.clear()
                        self._verified.add(checked)
                if ok:
                    value = _FileReader(fd, length) if data is None else data
                    now = time.time_ns()
                    with contextlib.suppress(OSError):  # a read-only directory: no harm
                        os.utime(fd if _UTIME_FD else path, ns=(now, now))  # the last use, for LRU eviction
        finally:
            if not isinstance(value, _FileReader):
                os.close(fd)
        if value is None:
            log.debug("FileCache entry %s: %s: deleted, a miss", path, why)
            self._discard(path, st.st_ino)
        return value

    def _mkstemp(self) -> tuple[int, str]:
        """A new temporary file (mode 0o600) in the root, creating the directory (0o700) if it has gone."""
        try:
            return tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.directory)
        except FileNotFoundError:
            os.makedirs(self.directory, mode=self.dirmode, exist_ok=True)
            return tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.directory)

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
        """(path, stat) of every regular file of ours: the entries in the shard directories and the
        temporary files in the root (and in the shards, where earlier versions wrote them)."""
        for top in _entries(self.directory):
            if top.name.startswith(_TMP_PREFIX):
                yield from _regular(top)
            elif len(top.name) == 2 and top.is_dir(follow_symlinks=False):
                for entry in _entries(top.path):
                    if entry.name.startswith(_TMP_PREFIX) or (
                        len(entry.name) == _NAME_LEN and entry.name.startswith(top.name)
                    ):
                        yield from _regular(entry)

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

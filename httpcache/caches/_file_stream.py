"""The FileCache's streaming reader (of a checked file descriptor) and writer (to a temporary file)."""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import threading
import time
import zlib
from typing import Optional, Protocol, Union

from ..cache import ValueReader, ValueWriter
from ._file_format import (
    _CRC,
    _CRC_AT,
    _HAS_DEADLINE,
    _HEADER,
    _MAGIC,
    _VERSION,
    _parse_header,
    _pwrite,
    _read_at,
    _unlink_quietly,
    _write_all,
)

log = logging.getLogger("httpcache")

_BUFFER = 1 << 16  # how much a writer gathers before it writes
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _peek(path: str, now: float, inline_max: int) -> Optional[Union[bytes, _FileReader]]:
    """The value in the entry file at ``path``, read-only (``FileCache.values``): bytes when
    it is at most ``inline_max`` long and checks out, else a reader (the storage format's
    checksums check it as it is read); None if it is gone, expired, foreign or damaged.
    Nothing is deleted and the file's last use is not touched."""
    try:
        fd = os.open(path, _O_READ)
    except OSError:
        return None
    value: Optional[Union[bytes, _FileReader]] = None
    try:
        st = os.fstat(fd)
        head = os.read(fd, _HEADER.size)
        parsed = _parse_header(head, st.st_size)
        if parsed is not None and not (parsed[0] is not None and parsed[0] <= now):
            length = parsed[1]
            if length > inline_max:
                value = _FileReader(fd, length)
            else:
                data = _read_at(fd, length, _HEADER.size)
                if len(data) == length and zlib.crc32(head[:_CRC_AT], zlib.crc32(data)) == parsed[2]:
                    value = data
    except OSError:
        value = None
    finally:
        if not isinstance(value, _FileReader):
            os.close(fd)
    return value


class _Store(Protocol):
    """What the writer uses of its ``FileCache`` (not imported here: no cycle)."""

    @property
    def max_bytes(self) -> Optional[int]: ...
    @property
    def durable(self) -> bool: ...
    @property
    def forever(self) -> bool: ...
    @property
    def filemode(self) -> int: ...
    @property
    def dirmode(self) -> int: ...
    def delete(self, key: str) -> None: ...
    def _mkstemp(self) -> tuple[int, str]: ...
    def _path(self, key: str) -> str: ...
    def _fsync_dir(self, path: str) -> None: ...
    def _written(self, size: int) -> None: ...


class _FileReader(ValueReader):
    """A large entry's value, read from the file descriptor it was checked through."""

    def __init__(self, fd: int, length: int) -> None:
        self._fd = fd
        self.length = length
        self._lock = threading.Lock()  # close() waits for no pread, but the last one closes the fd
        self._users = 0
        self._closed = False

    def pread(self, size: int, offset: int) -> bytes:
        if size < 0 or offset < 0:
            raise ValueError(f"pread needs a size and an offset >= 0, not {size}, {offset}")
        with self._lock:
            if self._closed:
                raise ValueError("pread on a closed ValueReader")
            self._users += 1  # the fd stays open (its number is not reused) while we read
        try:
            size = min(size, self.length - offset)
            if size <= 0:
                return b""
            data = _read_at(self._fd, size, _HEADER.size + offset)
            if len(data) != size:
                raise OSError(errno.EIO, "a FileCache entry shrank while it was read")
            return data
        finally:
            self._leave(1)

    def close(self) -> None:
        self._leave(0, closing=True)

    def _leave(self, users: int, closing: bool = False) -> None:
        """``users`` reads are done; the last one out after ``close`` closes the fd."""
        with self._lock:
            self._users -= users
            self._closed = self._closed or closing
            if self._closed and not self._users and self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:  # no pread can be running: it would hold a reference
            os.close(self._fd)
            self._fd = -1


class _FileWriter(ValueWriter):
    """A value being written to a temporary file in the root (by one thread at a time). Pieces are
    gathered behind a placeholder for the header; a small value is written whole by commit."""

    def __init__(self, cache: _Store) -> None:
        self._cache = cache
        self._spent = False
        self.length = 0
        self._crc = 0
        self._fd, self._tmp = cache._mkstemp()  # fd -1: closed
        self._buf = bytearray(_HEADER.size)  # what is not written yet: first the header's place
        self._flushed = False  # has the placeholder reached the file?

    def write(self, data: bytes) -> None:
        if self._spent:
            raise ValueError("write to a ValueWriter already committed, aborted or failed")
        self.length += len(data)
        if self._fd < 0:
            return  # over max_bytes: counted, not kept
        max_bytes = self._cache.max_bytes
        if max_bytes is not None and _HEADER.size + self.length > max_bytes:
            self._drop()
            return
        self._crc = zlib.crc32(data, self._crc)
        if len(self._buf) + len(data) <= _BUFFER:
            self._buf += data
            return
        try:
            _write_all(self._fd, self._buf)
            self._buf, self._flushed = bytearray(), True
            if len(data) >= _BUFFER:
                _write_all(self._fd, data)
            else:
                self._buf += data
        except BaseException:
            self.abort()
            raise

    def commit(self, key: str, expires: Optional[float] = None) -> None:
        if self._spent:
            raise ValueError("commit of a ValueWriter already committed, aborted or failed")
        self._spent = True
        cache, fd, tmp = self._cache, self._fd, self._tmp
        if fd < 0 or (expires is not None and expires <= 0 and not cache.forever):  # (NaN: no deadline)
            if fd < 0:
                log.debug("FileCache: a %d-byte value is over max_bytes=%s: not stored", self.length, cache.max_bytes)
            self._drop()
            cache.delete(key)
            return
        self._fd = -1
        flags, deadline = 0, 0.0
        if expires is not None and not math.isnan(expires) and not cache.forever:
            flags, deadline = _HAS_DEADLINE, time.time() + expires
        path = cache._path(key)
        prefix = _HEADER.pack(_MAGIC, _VERSION, flags, deadline, self.length, 0)[:_CRC_AT]
        head = prefix + _CRC.pack(zlib.crc32(prefix, self._crc))
        try:
            try:
                if self._flushed:
                    _write_all(fd, self._buf)
                    _pwrite(fd, head, 0)  # (28 bytes are never written in part; if they were: a miss)
                else:
                    self._buf[: _HEADER.size] = head
                    _write_all(fd, self._buf)
                self._buf = bytearray()
                if cache.durable:
                    os.fsync(fd)
                if cache.filemode != 0o600 and hasattr(os, "fchmod"):
                    os.fchmod(fd, cache.filemode)
            finally:
                os.close(fd)
            now = time.time_ns()
            os.utime(tmp, ns=(now, now))  # the last use, for LRU eviction
            try:
                os.replace(tmp, path)
            except FileNotFoundError:
                if not os.path.lexists(tmp):
                    raise
                os.makedirs(os.path.dirname(path), mode=cache.dirmode, exist_ok=True)  # a new shard
                os.replace(tmp, path)
        except FileNotFoundError:  # clear() or a sweep removed the temporary file: a skipped write
            log.debug("FileCache: temporary file %s removed before it was renamed: %r not stored", tmp, key)
            return
        except BaseException:
            _unlink_quietly(tmp)
            raise
        if cache.durable:
            cache._fsync_dir(os.path.dirname(path))
        cache._written(_HEADER.size + self.length)

    def abort(self) -> None:
        self._spent = True
        self._drop()

    def _drop(self) -> None:
        """Close and remove the temporary file (once)."""
        fd, self._fd, self._buf = self._fd, -1, bytearray()
        if fd >= 0:
            with contextlib.suppress(OSError):  # (bytes thrown away anyway)
                os.close(fd)
            _unlink_quietly(self._tmp)

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:  # abandoned: nothing to publish
            self.abort()

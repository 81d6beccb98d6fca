"""The FileCache's files: the entry header and layout names, and the low-level file I/O that reads and writes them."""

from __future__ import annotations

import os
import stat
import struct
import sys
import threading
import zlib
from typing import Iterator, Optional, Union

_HEADER = struct.Struct(">4sBB2xdQI")  # magic, version, flags, deadline, length, crc32
_CRC_AT = _HEADER.size - 4
_CRC = struct.Struct(">I")
_MAGIC = b"HCF\x00"
_VERSION = 2  # 1 checksummed the header fields first: not streamable
_HAS_DEADLINE = 1
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
_LEASES = ".leases"  # cross-process coalescing: one file per URL being fetched, removed when done
_CAS_LOCKS = ".cas"  # compare_and_set: flock'd files, one per shard of entries (at most 256)
_LEASE_GRACE = 5.0  # seconds a lease file may stay unreadable (its writer is still writing it)
_NAME_LEN = 64  # hex SHA-256
_PIECE = 1 << 20  # how much a check of a large value reads at a time

if sys.platform == "win32":  # pragma: no cover - no flock: maintenance passes may overlap, harmlessly

    def _try_lock(fd: int) -> bool:
        return True

    def _lock(fd: int) -> None:
        pass

    _seek_lock = threading.Lock()

    def _pread(fd: int, size: int, offset: int) -> bytes:
        with _seek_lock:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.read(fd, size)

    def _pwrite(fd: int, data: bytes, offset: int) -> int:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)

else:
    import fcntl

    _pread, _pwrite = os.pread, os.pwrite

    def _lock(fd: int) -> None:
        """Take an exclusive kernel lock on ``fd``, waiting for it (released on close or on death)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock: lease take-overs may race, harmlessly rare
            pass

    def _try_lock(fd: int) -> bool:
        """Take an exclusive kernel lock on ``fd`` without waiting (released on close or on death)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # a file system without flock: run unlocked, overlapping passes are harmless
            return True
        return True


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


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes of ``fd`` from ``offset``, fewer only at the end of the file."""
    parts = [_pread(fd, size, offset)]
    while 0 < len(parts[-1]) < size:  # a short read: over 2 GiB at once, or the end of the file
        size, offset = size - len(parts[-1]), offset + len(parts[-1])
        parts.append(_pread(fd, size, offset))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _write_all(fd: int, data: Union[bytes, bytearray]) -> None:
    """Write all of ``data`` at ``fd``'s offset."""
    done = os.write(fd, data)
    while done < len(data):  # a short write: over 2 GiB at once, or a signal
        done += os.write(fd, memoryview(data)[done:])


def _value_crc(fd: int, length: int) -> Optional[int]:
    """The CRC-32 of the value of the entry open as ``fd``, read in pieces; None if it is short."""
    crc, offset, end = 0, _HEADER.size, _HEADER.size + length
    while offset < end:
        piece = _pread(fd, min(_PIECE, end - offset), offset)
        if not piece:
            return None
        crc = zlib.crc32(piece, crc)
        offset += len(piece)
    return crc


def _entries(path: str) -> list[os.DirEntry[str]]:
    """The entries of directory ``path`` (none if it has gone)."""
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _regular(entry: os.DirEntry[str]) -> Iterator[tuple[str, os.stat_result]]:
    """(path, stat) of ``entry`` if it is a regular file."""
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode):
        yield entry.path, st

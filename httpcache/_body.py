"""Stored bodies too large to hold in memory: read from the store in pieces.

A ``StoredBody`` is a section (the body) of a value a ``StreamingCache`` opened
for reading. It is shared by reference count: the lookup that opened it holds
one reference, and so does every consumer that outlives the lookup (a response
being read by the caller, a background revalidation); the store's reader is
closed when the last one lets go. ``_BodyStream`` is the file object a
``requests`` response reads such a body through.

Integrity (the storage format's body checksum, see ``serialize``): a body is
checked as it is read, never trusted. A stream over all of it folds the checksum
in as the caller reads and, at the end, raises ``OSError`` instead of handing
over the last piece if it does not match (as a transfer cut short would: urllib3
reports a ``ProtocolError``, requests a ``ChunkedEncodingError``); a stream over
part of it (a Range) and ``read_verified`` check the whole body before handing
over a byte. A mismatch is remembered (every later read of this body raises) and
reported once to ``on_damage`` (the controller deletes the entry).
"""

from __future__ import annotations

import errno
import io
import threading
import zlib
from typing import Any, Callable, Iterator, Optional

from .cache import ValueReader

__all__ = ["StoredBody"]

#: How much is read from the store at a time when a body is copied.
PIECE = 1024 * 1024


class StoredBody:
    """Bytes ``[offset, offset + length)`` of an open ``ValueReader``, reference counted;
    ``crc`` is their checksum as stored (None: not checked)."""

    def __init__(self, reader: ValueReader, offset: int, length: int, crc: Optional[int] = None) -> None:
        self._reader = reader
        self.offset = offset
        self.length = length
        self.crc = crc
        #: None until the body has been checked whole, then whether it matched its checksum.
        self.intact: Optional[bool] = None
        #: Called once, from the reading thread, when the body turns out damaged.
        self.on_damage: Optional[Callable[[], None]] = None
        self._reported = False
        self._refs = 1
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Take a reference; False if the body was already closed."""
        with self._lock:
            if self._refs <= 0:
                return False
            self._refs += 1
            return True

    def release(self) -> None:
        """Drop a reference; the last one closes the store's reader."""
        with self._lock:
            if self._refs <= 0:
                return
            self._refs -= 1
            last = self._refs == 0
        if last:
            self._reader.close()

    def pread(self, size: int, pos: int) -> bytes:
        """Up to ``size`` bytes of the body from ``pos``; raises ``OSError`` if the value ends early."""
        size = max(0, min(size, self.length - pos))
        if size == 0:
            return b""
        data = self._reader.pread(size, self.offset + pos)
        if len(data) != size:
            raise OSError(f"stored body ended early: {len(data)} of {size} bytes at {pos}")
        return data

    def pieces(self, start: int = 0, stop: Optional[int] = None, size: int = PIECE) -> Iterator[bytes]:
        """The body (or ``[start, stop)`` of it) in pieces of at most ``size`` bytes."""
        end = self.length if stop is None else min(stop, self.length)
        pos = start
        while pos < end:
            piece = self.pread(min(size, end - pos), pos)
            pos += len(piece)
            yield piece

    def settle(self, crc: int) -> None:
        """The checksum of the whole body as read was ``crc``: raise ``OSError`` (and report
        the damage, once) if it is not the stored one."""
        ok = self.crc is None or crc == self.crc
        with self._lock:
            report = not ok and not self._reported
            self._reported = self._reported or report
            if self.intact is None or not ok:
                self.intact = ok
        if ok:
            return
        on_damage = self.on_damage if report else None
        if on_damage is not None:
            on_damage()
        raise _damaged()

    def verify(self) -> None:
        """Check the whole body (read in pieces) once; raise ``OSError`` if it is damaged."""
        if self.intact is None:
            crc = 0
            for piece in self.pieces():
                crc = zlib.crc32(piece, crc)
            self.settle(crc)
        elif not self.intact:
            raise _damaged()

    def read_verified(self) -> bytes:
        """The whole body in one piece, checked before it is handed over (``OSError`` if damaged)."""
        if self.intact is False:
            raise _damaged()
        data = self.pread(self.length, 0)
        if self.intact is None:
            self.settle(zlib.crc32(data))
        return data

    def stream(self, start: int = 0, stop: Optional[int] = None) -> Optional[_BodyStream]:
        """A file object reading ``[start, stop)`` of the body, holding its own reference
        until it is closed or read to the end; None if the body was already closed."""
        if not self.acquire():
            return None
        return _BodyStream(self, start, self.length if stop is None else min(stop, self.length))


def _damaged() -> OSError:
    return OSError(errno.EIO, "stored body does not match its checksum: damaged in the store")


class _BodyStream(io.RawIOBase):
    """A read-only file over a section of a ``StoredBody`` (what urllib3 reads a hit through).
    Over the whole body it checks the checksum as it goes; over part of it, it checks the
    whole body before its first byte (see the module's docstring)."""

    def __init__(self, body: StoredBody, start: int, stop: int) -> None:
        super().__init__()
        self._body: Optional[StoredBody] = body
        self._pos = start
        self._stop = max(start, stop)
        whole = start == 0 and self._stop >= body.length
        self._crc: Optional[int] = 0 if whole and body.intact is None else None  # folded as read
        self._check_first = not whole
        self._failed = False

    def readable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        body = self._body
        if body is None:
            if self._failed:
                raise _damaged()
            if self.closed:
                raise ValueError("read of a closed stored body")
            return b""
        try:
            return self._read(body, size)
        except OSError:
            self._failed = True
            self._let_go()
            raise

    def _read(self, body: StoredBody, size: Optional[int]) -> bytes:
        if self._check_first:
            body.verify()
            self._check_first = False
        elif body.intact is False:
            raise _damaged()
        remaining = self._stop - self._pos
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want <= 0:
            self._end(body)
            return b""
        if want > PIECE and (size is None or size < 0):
            data = b"".join(body.pieces(self._pos, self._stop))
        else:
            data = body.pread(want, self._pos)
        if self._crc is not None:
            self._crc = zlib.crc32(data, self._crc)
        self._pos += len(data)
        if self._pos >= self._stop:
            self._end(body)
        return data

    def _end(self, body: StoredBody) -> None:
        """The section has been read: settle its checksum (``OSError`` if damaged), let go."""
        crc, self._crc = self._crc, None
        if crc is not None:
            body.settle(crc)
        self._let_go()

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view:
            data = self.read(len(view))
            view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._let_go()
        super().close()

    def _let_go(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.release()

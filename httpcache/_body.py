"""Stored bodies too large to hold in memory: read from the store in pieces.

A ``StoredBody`` is a section (the body) of a value a ``StreamingCache`` opened
for reading. It is shared by reference count: the lookup that opened it holds
one reference, and so does every consumer that outlives the lookup (a response
being read by the caller, a background revalidation); the store's reader is
closed when the last one lets go. ``_BodyStream`` is the file object a
``requests`` response reads such a body through.
"""

from __future__ import annotations

import io
import threading
from typing import Any, Iterator, Optional

from .cache import ValueReader

__all__ = ["StoredBody"]

#: How much is read from the store at a time when a body is copied.
PIECE = 1024 * 1024


class StoredBody:
    """Bytes ``[offset, offset + length)`` of an open ``ValueReader``, reference counted."""

    def __init__(self, reader: ValueReader, offset: int, length: int) -> None:
        self._reader = reader
        self.offset = offset
        self.length = length
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

    def stream(self, start: int = 0, stop: Optional[int] = None) -> Optional[_BodyStream]:
        """A file object reading ``[start, stop)`` of the body, holding its own reference
        until it is closed or read to the end; None if the body was already closed."""
        if not self.acquire():
            return None
        return _BodyStream(self, start, self.length if stop is None else min(stop, self.length))


class _BodyStream(io.RawIOBase):
    """A read-only file over a section of a ``StoredBody`` (what urllib3 reads a hit through)."""

    def __init__(self, body: StoredBody, start: int, stop: int) -> None:
        super().__init__()
        self._body: Optional[StoredBody] = body
        self._pos = start
        self._stop = max(start, stop)

    def readable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        body = self._body
        if body is None:
            if self.closed:
                raise ValueError("read of a closed stored body")
            return b""
        remaining = self._stop - self._pos
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want <= 0:
            self._let_go()
            return b""
        if want > PIECE and (size is None or size < 0):
            data = b"".join(body.pieces(self._pos, self._stop))
        else:
            data = body.pread(want, self._pos)
        self._pos += len(data)
        if self._pos >= self._stop:
            self._let_go()
        return data

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

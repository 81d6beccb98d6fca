"""Stored bodies too large to hold in memory: read from the store in pieces.

An ``Entry`` is a stored response as read from the store: its head (the
``StoredResponse`` the policy judges) and its body, bytes in memory or a
``StoredBody``: a section of a value a ``StreamingCache`` opened for reading.

Such a body has one owner at a time, never a count: the entry that opened it, a
context manager that closes it on exit (the lookup's ``with``); or, once handed
over (``StoredBody.stream``), the stream a response reads it through, which closes
it when read to the end or closed. ``_BodyStream`` is that file object.

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
from typing import Any, Callable, Iterator, Optional, Union

from .cache import ValueReader
from .models import StoredResponse

__all__ = ["Entry", "StoredBody"]

#: How much is read from the store at a time when a body is copied.
PIECE = 1024 * 1024

_OWNED, _HANDED, _CLOSED = 0, 1, 2


class Entry:
    """A stored response with its body (see the module): ``head``, the policy's value,
    and ``body``, bytes or a ``StoredBody`` this entry owns until it is closed (``with``)
    or hands the body over to a stream."""

    __slots__ = ("body", "head")

    def __init__(self, head: StoredResponse, body: Union[bytes, StoredBody]) -> None:
        self.head = head
        self.body = body

    def with_head(self, head: StoredResponse) -> Entry:
        """The same body under another head (freshened: RFC 9111 §4.3.4); the body keeps
        its one owner (this entry, or the stream it was handed to)."""
        return Entry(head, self.body)

    def close(self) -> None:
        if isinstance(self.body, StoredBody):
            self.body.close()

    def __enter__(self) -> Entry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __eq__(self, other: object) -> bool:
        """Equal heads and equal bodies in memory (a body in the store equals only itself)."""
        return isinstance(other, Entry) and self.head == other.head and self.body == other.body

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kept = "in the store" if isinstance(self.body, StoredBody) else "in memory"
        return f"Entry({self.head!r}, {self.head.body_length} bytes {kept})"


class StoredBody:
    """Bytes ``[offset, offset + length)`` of an open ``ValueReader``; ``crc`` is their
    checksum as stored (None: not checked). Its owner closes it (see the module)."""

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
        self._state = _OWNED
        self._lock = threading.Lock()

    def close(self) -> None:
        """Its entry lets go: the store's reader is closed, unless a stream owns it now."""
        with self._lock:
            if self._state != _OWNED:
                return
            self._state = _CLOSED
        self._reader.close()

    def _stream_done(self) -> None:
        """The stream it was handed to lets go: the store's reader is closed."""
        with self._lock:
            if self._state != _HANDED:
                return
            self._state = _CLOSED
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
        """A file object reading ``[start, stop)`` of the body, which owns it from now on
        (closes it once closed or read to the end); None if it was closed or handed over."""
        with self._lock:
            if self._state != _OWNED:
                return None
            self._state = _HANDED
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
            body._stream_done()

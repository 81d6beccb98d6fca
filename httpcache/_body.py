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

``CheckedBodies`` makes the check of a hot large body cheap: a body read whole that
checked out is kept (bounded in bytes), and the next read of the same stored body
(same key, length and checksum) is checked by comparing it with that copy, a
``memcmp`` (~20 µs a MB here) instead of a CRC-32 (~180 µs a MB).
"""

from __future__ import annotations

import errno
import io
import threading
import zlib
from typing import Any, Callable, Iterator, Optional

from .cache import ValueReader

__all__ = ["CheckedBodies", "StoredBody"]

#: How much is read from the store at a time when a body is copied.
PIECE = 1024 * 1024
#: Bounds of ``CheckedBodies``: bytes in all, and the largest body kept.
CHECKED_BYTES = 16 * 1024 * 1024
CHECKED_BODY_MAX = 2 * 1024 * 1024


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
        #: A copy of this very body known to be intact (see ``CheckedBodies``), and where to
        #: report a body read whole that checked out.
        self.known: Optional[bytes] = None
        self.on_checked: Optional[Callable[[bytes], None]] = None
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

    def settle_matched(self) -> None:
        """The whole body as read was equal to ``known``, a copy known to be intact."""
        with self._lock:
            self.intact = True if self.intact is None else self.intact

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
        """The whole body in one piece, checked before it is handed over (``OSError`` if damaged):
        compared with a known intact copy if there is one, else against its checksum."""
        if self.intact is False:
            raise _damaged()
        data = self.pread(self.length, 0)
        if self.known is not None and data == self.known:
            self.settle_matched()
        elif self.intact is None:
            self.settle(zlib.crc32(data))
            if self.on_checked is not None:
                self.on_checked(data)
        return data

    def stream(self, start: int = 0, stop: Optional[int] = None) -> Optional[_BodyStream]:
        """A file object reading ``[start, stop)`` of the body, holding its own reference
        until it is closed or read to the end; None if the body was already closed."""
        if not self.acquire():
            return None
        return _BodyStream(self, start, self.length if stop is None else min(stop, self.length))


class CheckedBodies:
    """Large bodies read from the store whole that checked out, by key (see the module's
    docstring). One owner (the controller), bounded by ``CHECKED_BYTES`` (emptied whole when
    full) and ``CHECKED_BODY_MAX`` per body; keys are cache keys, as in the decoded-entry memo."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, int, bytes]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def attach(self, key: str, body: StoredBody) -> None:
        """Give ``body`` (just opened at ``key``) the copy known for it, and a way to report one."""
        if body.crc is None or body.length > CHECKED_BODY_MAX:
            return
        hit = self._entries.get(key)
        if hit is not None and hit[0] == body.crc and hit[1] == body.length:
            body.known = hit[2]
        crc = body.crc
        body.on_checked = lambda data: self._put(key, crc, data)

    def _put(self, key: str, crc: int, data: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[2])
            if self._bytes + len(data) > CHECKED_BYTES:
                self._entries, self._bytes = {}, 0
            self._entries[key] = (crc, len(data), data)
            self._bytes += len(data)

    def forget(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[2])


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
        check = whole and body.intact is None
        self._crc: Optional[int] = 0 if check else None  # folded as read (unless matching ``known``)
        self._known = body.known if check else None  # while every piece matches it: compared instead
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
        known = self._known
        if known is not None and not known.startswith(data, self._pos):  # (a memcmp, no copy)
            self._crc = zlib.crc32(memoryview(known)[: self._pos])  # the pieces before matched it
            self._known = known = None
        if known is None and self._crc is not None:
            self._crc = zlib.crc32(data, self._crc)
        self._pos += len(data)
        if self._pos >= self._stop:
            self._end(body)
        return data

    def _end(self, body: StoredBody) -> None:
        """The section has been read: settle its checksum (``OSError`` if damaged), let go."""
        crc, self._crc = self._crc, None
        if self._known is not None and len(self._known) == self._stop:
            body.settle_matched()
        elif crc is not None:
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

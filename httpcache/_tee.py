"""Copy a response body into the cache while the caller reads it.

``TeeReader`` wraps the file object under a response (for urllib3: ``raw._fp``, replaced
by ``_messages.install_tee``).
Every byte the caller reads passes through it once, into a ``Sink`` (which may
write it on to a store at once, so a large body is never whole in memory); when
the body is complete (its Content-Length reached, or the origin's end of body
seen) the sink is told to keep it. A body closed early, cut short or overlong
is thrown away.

It deliberately has no ``fp`` attribute: urllib3 then reads chunked bodies
through ``http.client``'s own de-chunking ``read``, so no chunk framing is ever
teed.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Protocol

log = logging.getLogger("httpcache")

_OPEN, _DONE, _DROPPED = 0, 1, 2


class Sink(Protocol):
    """Where a teed body goes: every piece, then ``complete()`` or ``abort()``, once."""

    def write(self, data: bytes) -> None: ...

    def complete(self) -> None: ...

    def abort(self) -> None: ...


class TeeReader:
    def __init__(
        self,
        fp: Any,
        expected_length: Optional[int],
        sink: Sink,
        on_finish: Optional[Callable[[], None]] = None,
    ) -> None:
        self._fp = fp
        self._expected = expected_length
        self._sink: Optional[Sink] = sink
        self._on_finish = on_finish
        self._size = 0
        self._state = _OPEN

    # -- the file API urllib3 uses ----------------------------------------------

    def read(self, amt: Optional[int] = None) -> bytes:
        data: bytes = self._fp.read() if amt is None else self._fp.read(amt)
        self._feed(data, eof=not data and amt != 0)
        return data

    def read1(self, amt: int = -1) -> bytes:
        data: bytes = self._fp.read1(amt)
        self._feed(data, eof=not data and amt != 0)
        return data

    def readinto(self, buffer: Any) -> int:
        n: int = self._fp.readinto(buffer)
        with memoryview(buffer) as view:
            self._feed(bytes(view[:n]), eof=n == 0 and len(view) > 0)
        return n

    def isclosed(self) -> bool:
        isclosed = getattr(self._fp, "isclosed", None)
        if callable(isclosed):
            return bool(isclosed())
        return bool(getattr(self._fp, "closed", False))

    @property
    def closed(self) -> bool:
        return bool(getattr(self._fp, "closed", False))

    def close(self) -> None:
        if self._state == _OPEN:
            self._feed(b"", eof=False)
            if self._state == _OPEN:
                self._drop("closed before the body was complete")
        self._fp.close()

    def fileno(self) -> int:
        return int(self._fp.fileno())

    def flush(self) -> None:
        flush = getattr(self._fp, "flush", None)
        if callable(flush):
            flush()

    def readable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        if name == "fp" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["_fp"], name)

    # -- the copy ----------------------------------------------------------------

    def _feed(self, data: bytes, eof: bool) -> None:
        sink = self._sink
        if self._state != _OPEN or sink is None:
            return
        if data:
            self._size += len(data)
            if self._expected is None or self._size <= self._expected:
                try:
                    sink.write(data)
                except Exception:  # storing must never break the caller's read
                    log.warning("storing a response failed; the response itself is unaffected", exc_info=True)
                    self._drop("the store failed")
                    return
        size = self._size
        if self._expected is not None:
            if size > self._expected:
                self._drop(f"body longer than Content-Length {self._expected}")
            elif size == self._expected:
                self._complete()
            elif eof or self.isclosed():
                self._drop(f"body cut short at {size} of {self._expected} bytes")
        elif eof or self.isclosed():
            self._complete()

    def _complete(self) -> None:
        sink = self._sink
        self._state, self._sink = _DONE, None
        try:
            if sink is not None:
                sink.complete()
        except Exception:  # storing must never break the caller's read
            log.warning("storing a response failed; the response itself is unaffected", exc_info=True)
        finally:
            self._finish()

    def _drop(self, why: str) -> None:
        log.debug("not stored: %s", why)
        sink = self._sink
        self._state, self._sink = _DROPPED, None
        try:
            if sink is not None:
                sink.abort()
        except Exception:
            log.debug("abandoning a stored copy failed", exc_info=True)
        finally:
            self._finish()

    def _finish(self) -> None:
        on_finish, self._on_finish = self._on_finish, None
        if on_finish is not None:
            on_finish()

"""A response body on its way into the store while the caller reads it (``Spool``)."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Callable, Optional

from . import _values, serialize
from ._body import Entry
from ._store import abort
from .cache import ValueWriter
from .models import StoredResponse

if TYPE_CHECKING:
    from .controller import CacheController

log = logging.getLogger("httpcache")

__all__ = ["SPILL_AT", "Spool"]

#: A body that outgrows this is written to a streaming store while it arrives.
SPILL_AT = 1024 * 1024


class Spool:
    """A response body on its way into the store while the caller reads it.

    It builds the value as the body arrives: head, body, trailer, written once into one
    ``io.BytesIO`` whose ``getvalue()`` hands that buffer over without a copy, so a kept
    body costs about one copy of itself. With a streaming store, once the body outgrows
    ``SPILL_AT`` it goes on into a ``ValueWriter`` instead, so a large body is never
    whole in memory. ``bound`` (the store's ``max_value_size()``): the moment the value
    passes it, the spool lets go of what it holds and collects nothing more.
    ``complete()`` stores it; ``abort()`` throws it away. A store failure makes it a
    skipped write, never an error for the caller's read."""

    def __init__(self, controller: CacheController, stored: StoredResponse, head: bytes, bound: Optional[int]) -> None:
        self._controller = controller
        self._stored = stored
        self._head_size = len(head)
        self._bound = bound
        self._buffer: Optional[io.BytesIO] = io.BytesIO()
        self._buffer.write(head)
        self._size = 0
        self._crc = 0
        self._writer: Optional[ValueWriter] = None
        self._failed = False

    @property
    def stored(self) -> StoredResponse:
        """The head being stored (its body length is known once complete)."""
        return self._stored

    def write(self, data: bytes) -> None:
        if self._failed or not data:
            return
        self._size += len(data)
        bound = self._bound
        if bound is not None and self._head_size + self._size + serialize.TRAILER_SIZE > bound:
            log.debug("not stored: %s: body over the store's bound (%d bytes a value)", self._stored.url, bound)
            self.abort()
            return
        self._crc = serialize.checksum(data, self._crc)
        if self._writer is not None:
            self._guard(self._writer.write, data)
            return
        assert self._buffer is not None
        self._buffer.write(data)
        if self._size > SPILL_AT and self._controller.streams:
            self._spill()

    def _spill(self) -> None:
        assert self._buffer is not None
        buffered, self._buffer = self._buffer.getvalue(), None
        try:
            writer = self._controller.backend.open_write()
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)
            return
        self._writer = writer
        self._guard(writer.write, buffered)

    def _guard(self, write: Callable[[bytes], None], data: bytes) -> bool:
        """Write ``data``; False (and the spool abandoned) if that failed or had already."""
        if self._failed:
            return False
        try:
            write(data)
            return True
        except Exception as exc:  # noqa: BLE001 - a store failure is a skipped write
            self._fail(exc)
            return False

    def _fail(self, exc: BaseException) -> None:
        self._controller.backend.warn("streamed write", self._stored.url, exc)
        self.abort()
        self._failed = True

    def complete(self) -> None:
        """The whole body has arrived: store it."""
        if self._failed:
            return
        controller, writer, size = self._controller, self._writer, self._size
        end = serialize.trailer(size, self._crc)
        if writer is None:
            buffer, self._buffer = self._buffer, None
            assert buffer is not None
            buffer.write(end)
            value = buffer.getvalue()  # the buffer itself, not a copy
            del buffer
            self._failed = True  # spent
            # the memo's entry must describe the value stored: its body is a copy, made only
            # when the memo would keep it (a small body)
            start = self._head_size
            head = self._stored.replace(body_length=size)
            if controller._custom:  # the user's serializer: its format, the body whole
                body = value[start : start + size]
                value = _values.dump(controller, head, body)
                controller.write(head, _values.value_publisher(controller, value, Entry(head, body)))
                return
            kept = Entry(head, value[start : start + size]) if controller._memo.keeps(len(value)) else None
            controller.write(head, _values.value_publisher(controller, value, kept))
            return
        if not self._guard(writer.write, end):
            return
        self._failed = True  # spent

        def publish(key: str, ttl: Optional[float]) -> bool:
            try:
                writer.commit(key, ttl)
                return True
            except Exception as exc:  # noqa: BLE001
                controller.backend.warn("commit", key, exc)
                self._abort_writer()
                return False

        if not controller.write(self._stored.replace(body_length=size), publish):
            self._abort_writer()

    def abort(self) -> None:
        """The body will not be stored (cut short, too long, closed early)."""
        self._buffer = None
        self._failed = True
        self._abort_writer()

    def _abort_writer(self) -> None:
        writer, self._writer = self._writer, None
        abort(writer)

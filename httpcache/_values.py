"""Stored responses as store values and back, in the cache's format or through a user's
serializer (``serialize.Serializer``, cachecontrol's ``dumps``/``loads`` hooks): how an
entry is written (whole, or copied piece by piece from its open body into a streaming
store, checked as it goes) and how a user's serializer's value is read. Functions of the
controller (``ctl``), as ``_variants`` is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Optional

from . import serialize
from ._body import Entry, StoredBody
from ._headers import Headers
from ._store import Value, close
from .cache import ValueReader, ValueWriter
from .models import RequestView, StoredResponse

if TYPE_CHECKING:
    from .controller import CacheController

log = logging.getLogger("httpcache")

__all__ = ["Publish", "custom_load", "dump", "publisher", "read_whole", "value_publisher"]

#: Publishes a value under a key with an expiry hint; True if it was stored.
Publish = Callable[[str, Optional[float]], bool]


def publisher(ctl: CacheController, entry: Entry) -> Publish:
    """How to write ``entry`` under a key: in one piece, or copied from its open body
    (checked against its checksum as it is copied: a damaged body is not written)."""
    body = entry.body
    if ctl._custom:
        whole = body if isinstance(body, bytes) else read_whole(ctl, body)
        if whole is None:
            return lambda key, ttl: False
        return value_publisher(ctl, dump(ctl, entry.head, whole), Entry(entry.head, whole))
    if isinstance(body, bytes):
        return value_publisher(ctl, serialize.dump_response(entry.head, body), entry)

    def copy(writer: ValueWriter) -> None:
        writer.write(serialize.dump_head(entry.head))
        crc = 0
        for piece in body.pieces():
            crc = serialize.checksum(piece, crc)
            writer.write(piece)
        body.settle(crc)  # raises OSError (the write is skipped) if the body was damaged
        writer.write(serialize.trailer(body.length, crc))

    return lambda key, ttl: ctl.backend.stream_into(key, ttl, copy)


def dump(ctl: CacheController, stored: StoredResponse, body: bytes) -> bytes:
    """A stored response as a value, in the serializer's format (``streams``: False)."""
    if not ctl._custom:
        return serialize.dump_response(stored, body)
    return ctl.serializer.dumps(RequestView(stored.method, stored.url, Headers()), stored, body)


def read_whole(ctl: CacheController, body: StoredBody) -> Optional[bytes]:
    """A body kept in the store, read whole and checked (None: damaged or unreadable)."""
    try:
        pieces, crc = [], 0
        for piece in body.pieces():
            crc = serialize.checksum(piece, crc)
            pieces.append(piece)
        body.settle(crc)
    except OSError as exc:
        ctl.backend.warn("read", body.__class__.__name__, exc)
        return None
    return b"".join(pieces)


def custom_load(ctl: CacheController, key: str, data: Value, url: str) -> Optional[Entry]:
    """Decode a value with the user's serializer (a reader is read whole); None if it
    fails or is not a response for ``url`` (the caller deletes it)."""
    if isinstance(data, ValueReader):
        reader = data
        try:
            data = reader.pread(reader.length, 0)
        finally:
            close(reader)
    try:
        loaded = ctl.serializer.loads(RequestView("GET", url, Headers()), data)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - the user's serializer failing: a miss
        log.debug("the serializer's loads failed for %r: %r", key, exc)
        return None
    if not isinstance(loaded, tuple) or len(loaded) != 2:
        return None
    head, body = loaded
    if not isinstance(head, StoredResponse) or not isinstance(body, bytes) or head.url != url:
        return None
    entry = Entry(head, body)
    if isinstance(data, bytes):
        ctl._memo.put(key, data, entry, read=True)
    return entry


def value_publisher(ctl: CacheController, value: bytes, stored: Optional[Entry]) -> Publish:
    """How to write a whole ``value`` under a key; ``stored``: what it decodes to, if at
    hand, for the memo (the next hit skips decoding it, if the store hands back this
    object or an equal copy: see ``_decoded``)."""

    def publish(key: str, ttl: Optional[float]) -> bool:
        if not ctl.backend.set(key, value, ttl):
            return False
        if stored is not None:
            ctl._memo.put(key, value, stored)
        return True

    return publish

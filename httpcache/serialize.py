"""The storage format: versioned, data only (JSON metadata + raw body bytes).

Never pickle or marshal: a cache file or a Redis value must not be able to run
code. Anything undecodable, of another version, of the wrong shape or for
another URL decodes to ``None``, which the controller treats as a miss.

Layout of a value (version 3)::

    b"HTTPCACHE" | version (1 byte) | kind (b"R" response, b"I" variant index)
    | metadata length (4 bytes, big-endian) | metadata (UTF-8 JSON)
    | head checksum (4 bytes: CRC-32 of everything before it) | body
    | body length (8 bytes, big-endian) | body checksum (4 bytes: CRC-32 of the body)

The body's length and checksum come last so that a value can be written while
the body is still arriving (both unknown until the end), and so that a truncated
value never decodes. Integrity is end to end, in the format, whatever the store
(DESIGN rule 8): a whole value is checked (head and body) before it is decoded,
so a damaged one is a miss; a value read in pieces (a ``ValueReader``) decodes
to an ``Entry`` whose head is checked at once and whose body stays in the store
(a ``StoredBody``), checked as it is read (see ``_body``).

Design note: CRC-32 (``zlib.crc32``) was measured against Adler-32, MD5, SHA-1,
SHA-256 and BLAKE2 on this project's machine (benchmarks/README.md): 0.3 µs per
KB and ~180 µs per MB, the fastest at 1 MB (Adler-32 ~270 µs, SHA-1 ~480 µs) and
as fast at 1 KB. It guards against accidents (a failing disk, a stray writer, a
torn copy), not against an attacker able to write to the store, who could write
any value with a matching checksum anyway. Version 2 had no checksums: its
values are not ours (a miss, deleted).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from ._body import Entry, StoredBody
from ._headers import Headers
from .cache import ValueReader
from .models import RequestView, StoredResponse

__all__ = [
    "FORMAT_VERSION",
    "TRAILER_SIZE",
    "Serializer",
    "VariantRef",
    "checksum",
    "dump_head",
    "dump_index",
    "dump_response",
    "load_index",
    "load_response",
    "load_response_from",
    "trailer",
]

MAGIC = b"HTTPCACHE"
FORMAT_VERSION = 3
_PREFIX_LEN = len(MAGIC) + 2 + 4
_CRC = struct.Struct(">I")
_TRAILER = struct.Struct(">QI")  # the body's length, the body's checksum
#: The bytes a value has after its body.
TRAILER_SIZE = _TRAILER.size
_MAX_META = 16 * 1024 * 1024

#: The checksum of the format: ``checksum(data, previous)`` continues one over more data.
checksum = zlib.crc32


@dataclass(frozen=True)
class VariantRef:
    """An entry of a URL's variant index: where a variant is and what it matched."""

    key: str
    vary: Mapping[str, Optional[str]]
    auth: Optional[str]


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # built once: json.dumps builds one per call


def _head(kind: bytes, meta: object) -> bytes:
    raw = _ENCODER.encode(meta).encode("utf-8", "surrogatepass")
    head = b"".join((MAGIC, bytes((FORMAT_VERSION,)), kind, struct.pack(">I", len(raw)), raw))
    return head + _CRC.pack(zlib.crc32(head))


def trailer(body_length: int, body_checksum: int) -> bytes:
    """What ends a value whose body had ``body_length`` bytes of checksum ``body_checksum``
    (``checksum(body)``, which a writer of pieces continues over each piece)."""
    return _TRAILER.pack(body_length, body_checksum)


def _meta_length(prefix: bytes, kind: bytes, total: int) -> Optional[int]:
    """The metadata's length from a value's first ``_PREFIX_LEN`` bytes (None: not ours)."""
    if len(prefix) < _PREFIX_LEN or not prefix.startswith(MAGIC):
        return None
    if prefix[len(MAGIC)] != FORMAT_VERSION or prefix[len(MAGIC) + 1 : len(MAGIC) + 2] != kind:
        return None
    (length,) = struct.unpack(">I", prefix[len(MAGIC) + 2 : _PREFIX_LEN])
    if length > _MAX_META or _PREFIX_LEN + length + _CRC.size + _TRAILER.size > total:
        return None
    return int(length)


def _head_intact(head: bytes) -> bool:
    """Does a head (prefix, metadata, checksum) match its checksum?"""
    return zlib.crc32(head[: -_CRC.size]) == int(_CRC.unpack(head[-_CRC.size :])[0])


def _decode_meta(raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _unpack(kind: bytes, data: object) -> Optional[tuple[object, bytes]]:
    """(metadata, body) of a whole value, its structure and both checksums checked."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    view = bytes(data)  # no copy of bytes
    length = _meta_length(view[:_PREFIX_LEN], kind, len(view))
    if length is None:
        return None
    meta_end = _PREFIX_LEN + length
    body_start, body_end = meta_end + _CRC.size, len(view) - _TRAILER.size
    body_length, body_crc = _TRAILER.unpack_from(view, body_end)
    if body_length != body_end - body_start:
        return None
    with memoryview(view) as whole:
        if zlib.crc32(whole[:meta_end]) != _CRC.unpack_from(view, meta_end)[0]:
            return None
        if zlib.crc32(whole[body_start:body_end]) != body_crc:
            return None
    meta = _decode_meta(view[_PREFIX_LEN:meta_end])
    if meta is None:
        return None
    return meta, view[body_start:body_end]


def _str_map(value: object) -> Optional[dict[str, Optional[str]]]:
    if not isinstance(value, dict):
        return None
    out: dict[str, Optional[str]] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not (v is None or isinstance(v, str)):
            return None
        out[k] = v
    return out


def _opt_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def dump_head(stored: StoredResponse) -> bytes:
    """A stored response's value up to its body: write the body and ``trailer`` after it."""
    meta = {
        "url": stored.url,
        "method": stored.method,
        "status": stored.status,
        "reason": stored.reason,
        "headers": [list(item) for item in stored.headers.items()],
        "request_time": stored.request_time,
        "response_time": stored.response_time,
        "vary": dict(stored.vary),
        "auth": stored.auth,
    }
    if stored.body_key is not None:  # a POST cached by its body
        meta["body_key"] = stored.body_key
    return _head(b"R", meta)


def dump_response(stored: StoredResponse, body: bytes) -> bytes:
    """A stored response (its head) and its body, in memory, as one value."""
    return b"".join((dump_head(stored), body, trailer(len(body), zlib.crc32(body))))


def load_response(data: object, url: Optional[str] = None) -> Optional[Entry]:
    """Decode a stored response and its body; None if it is not one of ours, or is for
    another URL."""
    unpacked = _unpack(b"R", data)
    if unpacked is None:
        return None
    meta, body = unpacked
    return _response(meta, body, url)


def body_offset(value: bytes) -> Optional[int]:
    """Where the body of a stored response's value starts (after its head), None if the
    value is not a stored response of this format: a store keeping bodies apart
    (``cache.SeparateBodyBaseCache``) keeps ``value[:offset]`` and ``value[offset:]``."""
    length = _meta_length(value[:_PREFIX_LEN], b"R", len(value))
    return None if length is None else _PREFIX_LEN + length + _CRC.size


def load_response_from(reader: ValueReader, url: Optional[str] = None) -> Optional[Entry]:
    """Decode a stored response from a value opened for reading in pieces; its body stays
    in the store (a ``StoredBody``, checked against its checksum as it is read), and the
    entry owns ``reader``. None (``reader`` left open for the caller to close) if it is not
    one of ours, its head does not match its checksum, or it is for another URL."""
    total = reader.length
    prefix = reader.pread(_PREFIX_LEN, 0)
    length = _meta_length(prefix, b"R", total)
    if length is None:
        return None
    body_start, body_end = _PREFIX_LEN + length + _CRC.size, total - _TRAILER.size
    tail = reader.pread(_TRAILER.size, body_end)
    if len(tail) != _TRAILER.size:
        return None
    body_length, body_crc = _TRAILER.unpack(tail)
    if body_length != body_end - body_start:
        return None
    rest = reader.pread(length + _CRC.size, _PREFIX_LEN)
    if len(rest) != length + _CRC.size or not _head_intact(prefix + rest):
        return None
    return _response(_decode_meta(rest[:length]), StoredBody(reader, body_start, body_length, body_crc), url)


def _response(meta: Any, body: Union[bytes, StoredBody], url: Optional[str]) -> Optional[Entry]:
    if not isinstance(meta, dict):
        return None
    stored_url, method, status, reason = meta.get("url"), meta.get("method"), meta.get("status"), meta.get("reason")
    request_time, response_time = meta.get("request_time"), meta.get("response_time")
    auth, body_key = meta.get("auth"), meta.get("body_key")
    if not (
        type(stored_url) is str
        and type(method) is str
        and type(status) is int
        and type(reason) is str
        and isinstance(request_time, (int, float))
        and isinstance(response_time, (int, float))
        and (auth is None or type(auth) is str)
        and (body_key is None or type(body_key) is str)
    ):
        return None
    if url is not None and stored_url != url:
        return None
    lines = meta.get("headers")
    vary = _str_map(meta.get("vary"))
    if type(lines) is not list or vary is None:
        return None
    items: list[tuple[str, str]] = []
    for line in lines:
        if type(line) is not list or len(line) != 2:
            return None
        name, value = line
        if type(name) is not str or type(value) is not str:
            return None
        items.append((name, value))
    head = StoredResponse(
        url=stored_url,
        method=method,
        status=status,
        reason=reason,
        headers=Headers.of_lines(tuple(items)),
        body_length=len(body) if isinstance(body, bytes) else body.length,
        request_time=float(request_time),
        response_time=float(response_time),
        vary=vary,
        auth=auth,
        body_key=body_key,
    )
    return Entry(head, body)


def dump_index(url: str, variants: list[VariantRef]) -> bytes:
    meta = {"url": url, "variants": [{"key": v.key, "vary": dict(v.vary), "auth": v.auth} for v in variants]}
    return _head(b"I", meta) + trailer(0, zlib.crc32(b""))


def load_index(data: object, url: Optional[str] = None) -> Optional[list[VariantRef]]:
    """Decode a variant index; None if it is not one, or is for another URL."""
    unpacked = _unpack(b"I", data)
    if unpacked is None:
        return None
    meta, rest = unpacked
    if rest or not isinstance(meta, dict) or not isinstance(meta.get("url"), str):
        return None
    if url is not None and meta["url"] != url:
        return None
    raw = meta.get("variants")
    if not isinstance(raw, list):
        return None
    refs: list[VariantRef] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not _opt_str(item.get("auth")):
            return None
        vary = _str_map(item.get("vary"))
        if vary is None:
            return None
        refs.append(VariantRef(item["key"], vary, item.get("auth")))
    return refs


def kind_of(data: object) -> Optional[str]:
    """``"R"``, ``"I"`` or None (not ours, or another version), of a value or a ``ValueReader``."""
    if isinstance(data, ValueReader):
        head = data.pread(len(MAGIC) + 2, 0)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        head = bytes(data[: len(MAGIC) + 2])
    else:
        return None
    if len(head) < len(MAGIC) + 2 or not head.startswith(MAGIC) or head[len(MAGIC)] != FORMAT_VERSION:
        return None
    kind = head[len(MAGIC) + 1 : len(MAGIC) + 2]
    return kind.decode("ascii") if kind in (b"R", b"I") else None


class Serializer:
    """The stored format of a response, with cachecontrol's hook names, for a format of
    your own (``CacheControl(sess, serializer=MySerializer())``).

    ``dumps(request, response, body)`` returns the bytes to store; ``loads(request, data,
    body_file=None)`` returns ``(response, body)`` or None (not one of its values: a
    miss). In httpcache's terms ``request`` is a ``RequestView`` of the method and URL the
    entry is for, ``response`` the stored response's head (a ``StoredResponse``) and
    ``body`` its whole body (``bytes``); ``body_file`` is always None (a store with
    separate bodies is joined before the serializer sees a value).

    This class is the default format (versioned, data only, checksummed). Used as it is,
    the cache bypasses these two methods and reads and writes the same format in pieces
    (large bodies stream to and from a streaming store). A subclass that overrides
    ``dumps`` or ``loads`` gets whole bodies: fine for compressing or encrypting what is
    stored (call ``super()``), not for very large bodies. A ``loads`` that raises, or
    returns something that is not a response for the URL looked up, is a miss (the value
    is deleted), never an error. Variant indexes (RFC 9111 §4.1) stay in the default format.
    """

    def dumps(self, request: Optional[RequestView], response: StoredResponse, body: bytes) -> bytes:
        return dump_response(response, body)

    def loads(
        self, request: Optional[RequestView], data: bytes, body_file: object = None
    ) -> Optional[tuple[StoredResponse, bytes]]:
        entry = load_response(data)
        if entry is None or not isinstance(entry.body, bytes):
            return None
        return entry.head, entry.body


def is_default(serializer: Serializer) -> bool:
    """Does ``serializer`` keep the default format (no hook overridden)?"""
    cls = type(serializer)
    return cls.dumps is Serializer.dumps and cls.loads is Serializer.loads

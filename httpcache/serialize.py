"""The storage format: versioned, data only (JSON metadata + raw body bytes).

Never pickle or marshal: a cache file or a Redis value must not be able to run
code. Anything undecodable, of another version, of the wrong shape or for
another URL decodes to ``None``, which the controller treats as a miss.

Layout of a value::

    b"HTTPCACHE" | version (1 byte) | kind (b"R" response, b"I" variant index)
    | metadata length (4 bytes, big-endian) | metadata (UTF-8 JSON) | body
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Mapping, Optional

from ._headers import Headers
from .models import StoredResponse

__all__ = ["FORMAT_VERSION", "VariantRef", "dump_response", "load_response", "dump_index", "load_index"]

MAGIC = b"HTTPCACHE"
FORMAT_VERSION = 1
_PREFIX_LEN = len(MAGIC) + 2 + 4
_MAX_META = 16 * 1024 * 1024


@dataclass(frozen=True)
class VariantRef:
    """An entry of a URL's variant index: where a variant is and what it matched."""

    key: str
    vary: Mapping[str, Optional[str]]
    auth: Optional[str]


def _pack(kind: bytes, meta: object, body: bytes = b"") -> bytes:
    raw = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return b"".join((MAGIC, bytes((FORMAT_VERSION,)), kind, struct.pack(">I", len(raw)), raw, body))


def _unpack(kind: bytes, data: object) -> Optional[tuple[object, bytes]]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    view = bytes(data)
    if len(view) < _PREFIX_LEN or not view.startswith(MAGIC):
        return None
    if view[len(MAGIC)] != FORMAT_VERSION or view[len(MAGIC) + 1 : len(MAGIC) + 2] != kind:
        return None
    (length,) = struct.unpack(">I", view[len(MAGIC) + 2 : _PREFIX_LEN])
    if length > _MAX_META or _PREFIX_LEN + length > len(view):
        return None
    try:
        meta = json.loads(view[_PREFIX_LEN : _PREFIX_LEN + length].decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return meta, view[_PREFIX_LEN + length :]


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


def dump_response(stored: StoredResponse) -> bytes:
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
        "length": len(stored.body),
    }
    return _pack(b"R", meta, stored.body)


def load_response(data: object, url: Optional[str] = None) -> Optional[StoredResponse]:
    """Decode a stored response; None if it is not one of ours, or is for another URL."""
    unpacked = _unpack(b"R", data)
    if unpacked is None:
        return None
    meta, body = unpacked
    if not isinstance(meta, dict):
        return None
    headers = meta.get("headers")
    vary = _str_map(meta.get("vary"))
    try:
        if not (
            isinstance(meta.get("url"), str)
            and isinstance(meta.get("method"), str)
            and type(meta.get("status")) is int
            and isinstance(meta.get("reason"), str)
            and isinstance(meta.get("request_time"), (int, float))
            and isinstance(meta.get("response_time"), (int, float))
            and isinstance(headers, list)
            and all(isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in headers)
            and vary is not None
            and _opt_str(meta.get("auth"))
            and meta.get("length") == len(body)
        ):
            return None
    except RecursionError:
        return None
    if url is not None and meta["url"] != url:
        return None
    return StoredResponse(
        url=meta["url"],
        method=meta["method"],
        status=meta["status"],
        reason=meta["reason"],
        headers=Headers((h[0], h[1]) for h in headers),
        body=body,
        request_time=float(meta["request_time"]),
        response_time=float(meta["response_time"]),
        vary=vary,
        auth=meta.get("auth"),
    )


def dump_index(url: str, variants: list[VariantRef]) -> bytes:
    meta = {"url": url, "variants": [{"key": v.key, "vary": dict(v.vary), "auth": v.auth} for v in variants]}
    return _pack(b"I", meta)


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
    """``"R"``, ``"I"`` or None (not ours, or another version)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    head = bytes(data[: len(MAGIC) + 2])
    if len(head) < len(MAGIC) + 2 or not head.startswith(MAGIC) or head[len(MAGIC)] != FORMAT_VERSION:
        return None
    kind = head[len(MAGIC) + 1 : len(MAGIC) + 2]
    return kind.decode("ascii") if kind in (b"R", b"I") else None

"""Partial content: which byte range a stored 206 holds, which one a request asks for,
and whether a stored response can answer it (RFC 9111 §3.3, §3.4; RFC 9110 §14).
Pure, like every module of the policy; re-exported by ``policy``."""

from __future__ import annotations

from typing import Optional

from ._headers import Headers, parse_content_range, parse_range
from .models import RequestView, StoredResponse

__all__ = ["range_from_stored", "requested_range", "stored_range"]


def stored_range(headers: Headers) -> Optional[tuple[int, int, int]]:
    """The byte range a 206 holds, ``(first, last, complete length)``, or None when it is
    not a single range of a known length (RFC 9110 §14.4)."""
    content_range = parse_content_range(headers.get("content-range"))
    if content_range is None or content_range[2] is None:
        return None
    return content_range[0], content_range[1], content_range[2]


def requested_range(req: RequestView) -> Optional[tuple[Optional[int], Optional[int]]]:
    """The single byte range a GET asks for (RFC 9110 §14.2), or None if it can't be served
    from the cache (no Range, several ranges, If-Range, another unit, not GET)."""
    if req.method != "GET" or "if-range" in req.headers:
        return None
    return parse_range(req.headers.get("range"))


def range_from_stored(
    spec: tuple[Optional[int], Optional[int]], stored: StoredResponse
) -> Optional[tuple[int, int, int, int]]:
    """RFC 9111 §3.4 / RFC 9110 §14.1.2: serve ``spec`` from a stored complete 200 or a
    stored 206: ``(first, last, complete length, where first is in the stored body)``, or
    None if it does not hold them."""
    if stored.status == 200:
        offset, length = 0, stored.body_length
        held_last = length - 1
    elif stored.status == 206:
        held = stored_range(stored.headers)
        if held is None or held[1] - held[0] + 1 != stored.body_length:
            return None
        offset, held_last, length = held
    else:
        return None
    first, last = spec
    if first is None:  # suffix range: the last ``last`` bytes
        assert last is not None
        if last == 0:
            return None
        first, last = max(0, length - last), length - 1
    elif last is None or last >= length:
        last = length - 1
    if first >= length or first < offset or last > held_last:
        return None
    return first, last, length, first - offset

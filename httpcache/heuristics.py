"""cachecontrol's heuristics: rewrite an origin response's fields before it is considered
for storing (``CacheControl(sess, heuristic=ExpiresAfter(days=1))``).

A heuristic is an explicit override of the origin's freshness, asked for by the user; the
default cache uses none and follows RFC 9111 (with its own bounded heuristic freshness,
§4.2.2, ``CacheOptions.heuristic_fraction``). The API is cachecontrol's, so heuristics
written for it work unchanged: ``apply(response)`` is called with the origin's response
(a ``urllib3.HTTPResponse``: ``.headers``, a case-insensitive mutable mapping, and
``.status``) to every request of a cacheable method, 304s to revalidations included; it
calls ``update_headers(response)`` and, when that returns fields, sets them on the
response together with ``warning(response)`` as a ``Warning`` field (unless it is None).
What a user's own ``update_headers`` returns is applied as given, once it is text: an
``int`` value becomes its digits, a ``datetime`` an HTTP-date, ASCII ``bytes`` their
text; any other value (None, a bool, a list, a value with a line break) and a field
name that is not a ``str`` are left out, with a warning logged once per heuristic class
and field (``clean_fields``).

The heuristics shipped here undo no rule nobody asked them to undo (README "Coming from
cachecontrol"): they leave a response with ``no-store`` or an unqualified ``no-cache``
(RFC 9111 §5.2.2.5, §5.2.2.4) as it is; they replace only the freshness directives
(``max-age``, ``s-maxage``; §5.2.2.1, §5.2.2.10) and keep every other directive
(``private`` above all, so a shared cache still does not store a private response,
§5.2.2.7); and they touch only heuristically cacheable statuses (RFC 9110 §15.1) and
304s, so an error page is not made fresh.
"""

from __future__ import annotations

import calendar
import logging
import math
import time
from datetime import datetime, timedelta, timezone
from email.utils import formatdate, parsedate_tz
from typing import Any, Iterable, Mapping, Optional

from ._directives import parse_response_directives
from ._headers import split_list

__all__ = [
    "TIME_FMT",
    "BaseHeuristic",
    "ExpiresAfter",
    "LastModified",
    "OneDayCache",
    "datetime_to_header",
    "expire_after",
]

log = logging.getLogger("httpcache")

#: The HTTP-date format (RFC 9110 §5.6.7 IMF-fixdate), for ``time.strftime`` of a UTC time.
TIME_FMT = "%a, %d %b %Y %H:%M:%S GMT"

#: RFC 9110 §15.1: the statuses that are heuristically cacheable; and 304, which freshens a
#: stored response (RFC 9111 §4.3.4), so a heuristic applied to it applies to that response.
_HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 304, 308, 404, 405, 410, 414, 501})
_FRESHNESS_DIRECTIVES = ("max-age", "s-maxage")


def datetime_to_header(dt: datetime) -> str:
    """An HTTP-date (IMF-fixdate, RFC 9110 §5.6.7) for ``dt``; a naive ``dt`` is UTC."""
    tt = dt.utctimetuple() if dt.tzinfo is not None else dt.timetuple()
    return _http_date(calendar.timegm(tt))


def expire_after(delta: timedelta, date: Optional[datetime] = None) -> datetime:
    """cachecontrol's helper: ``date`` (default: now, in UTC) plus ``delta``."""
    return (date or datetime.now(timezone.utc)) + delta


#: (heuristic class, field) already warned about: a bad field is logged once.
_WARNED: set[tuple[str, str]] = set()


def _field_text(value: object) -> Optional[str]:
    """A field value as text when that is unambiguous, else None."""
    if isinstance(value, str):
        text: Optional[str] = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, datetime):
        text = datetime_to_header(value)
    elif isinstance(value, bytes) and value.isascii():
        text = value.decode("ascii")
    else:
        return None
    if text is not None and any(c in text for c in "\r\n\x00"):
        return None  # a line break would split the field (RFC 9110 §5.5)
    return text


def clean_fields(heuristic: object, fields: object) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of what a heuristic returned (a mapping or pairs), each
    value as text (``_field_text``); a pair that cannot be is left out, with a warning
    logged once per heuristic class and field name. Never raises."""
    try:
        items: Iterable[Any] = fields.items() if isinstance(fields, Mapping) else list(fields)  # type: ignore[call-overload]
    except Exception:  # noqa: BLE001 - not fields at all: none
        items, fields = [], f"{type(fields).__name__} (not a mapping of fields)"
        _warn(heuristic, str(fields), None)
    cleaned: list[tuple[str, str]] = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            _warn(heuristic, repr(item), None)
            continue
        text = _field_text(value) if isinstance(name, str) and name else None
        if text is None:
            _warn(heuristic, repr(name), value)
        else:
            cleaned.append((name, text))
    return cleaned


def _warn(heuristic: object, name: str, value: object) -> None:
    seen = (type(heuristic).__qualname__, name)
    if seen not in _WARNED:
        _WARNED.add(seen)
        log.warning(
            "heuristic %s: field %s with value %r left out: not text (a str, an int, a datetime or ASCII bytes)",
            seen[0],
            name,
            value,
        )


def _http_date(timestamp: float) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7), in English whatever the locale (``strftime``'s ``%a``
    and ``%b`` follow ``LC_TIME``)."""
    return formatdate(timestamp, usegmt=True)


def _date_of(value: Optional[str]) -> Optional[float]:
    parsed = parsedate_tz(value) if value else None
    return None if parsed is None else float(calendar.timegm(parsed[:6]) - (parsed[9] or 0))


class BaseHeuristic:
    """cachecontrol's heuristic API: override ``update_headers`` (and ``warning``)."""

    def warning(self, response: Any) -> Optional[str]:
        """The ``Warning`` value set with the fields ``update_headers`` returns (None: none).
        ``Warning`` is obsolete (RFC 9111 §5.5) but harmless; kept for cachecontrol's sake."""
        return '110 - "Response is Stale"'

    def update_headers(self, response: Any) -> Mapping[str, str]:
        """The fields to set on ``response`` (an empty mapping: leave it as it is)."""
        return {}

    def apply(self, response: Any) -> Any:
        """Set ``update_headers(response)`` (and the ``Warning``) on ``response``; return it."""
        updated = self.update_headers(response)
        if updated:
            for name, value in clean_fields(self, updated):
                response.headers[name] = value
            warning = self.warning(response)
            if warning is not None:
                for name, value in clean_fields(self, {"Warning": warning}):
                    response.headers[name] = value
        return response


def _protected(response: Any) -> bool:
    """Does ``response`` say it must not be reused without the origin (RFC 9111 §5.2.2.5
    no-store, §5.2.2.4 no-cache), or has a status a heuristic must not make fresh?"""
    if getattr(response, "status", None) not in _HEURISTIC_STATUSES:
        return True
    directives = parse_response_directives(response.headers.get("cache-control"))
    return directives.no_store or (directives.no_cache and not directives.no_cache_fields)


def _with_lifetime(response: Any, seconds: int) -> str:
    """The response's Cache-Control with its freshness directives replaced by ``max-age``."""
    kept = [
        d
        for d in split_list(response.headers.get("cache-control") or "")
        if d.split("=", 1)[0].strip().lower() not in _FRESHNESS_DIRECTIVES
    ]
    return ", ".join([*kept, f"max-age={seconds}"])


class OneDayCache(BaseHeuristic):
    """Make a response without ``Expires`` fresh for a day from its ``Date`` (from now
    without one)."""

    def update_headers(self, response: Any) -> Mapping[str, str]:
        if "expires" in response.headers or _protected(response):
            return {}
        date = _date_of(response.headers.get("date"))
        start = time.time() if date is None else date
        return {"expires": _http_date(start + 86400), "cache-control": _with_lifetime(response, 86400)}


class ExpiresAfter(BaseHeuristic):
    """Make every response fresh for ``timedelta(**kw)`` from now (``ExpiresAfter(days=1)``)."""

    def __init__(self, **kw: float) -> None:
        self.delta = timedelta(**kw)

    def update_headers(self, response: Any) -> Mapping[str, str]:
        if _protected(response):
            return {}
        seconds = max(0, math.ceil(self.delta.total_seconds()))
        expires = datetime.now(timezone.utc) + self.delta
        return {"expires": datetime_to_header(expires), "cache-control": _with_lifetime(response, seconds)}

    def warning(self, response: Any) -> Optional[str]:
        return f"110 - Automatically cached for {self.delta}. Response might be stale"


class LastModified(BaseHeuristic):
    """cachecontrol's ``Last-Modified`` heuristic (RFC 9111 §4.2.2): a response without
    ``Expires`` and without ``Cache-Control`` (or with exactly ``public``), of a status in
    ``cacheable_by_default_statuses``, gets an ``Expires`` of ``Date`` plus a tenth of
    ``Date - Last-Modified``, at most a day, unless that is already past. (httpcache applies
    the same rule itself, ``CacheOptions.heuristic_fraction``; this is for code that names it.)"""

    cacheable_by_default_statuses = frozenset({200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501})

    def update_headers(self, response: Any) -> Mapping[str, str]:
        headers = response.headers
        if "expires" in headers:
            return {}
        if "cache-control" in headers and headers["cache-control"] != "public":
            return {}
        if response.status not in self.cacheable_by_default_statuses:
            return {}
        date, last_modified = _date_of(headers.get("date")), _date_of(headers.get("last-modified"))
        if date is None or last_modified is None:
            return {}
        current_age = max(0.0, time.time() - date)
        lifetime = max(0.0, min((date - last_modified) / 10, 24 * 3600))
        if lifetime <= current_age:
            return {}
        return {"expires": _http_date(date + lifetime)}

    def warning(self, response: Any) -> Optional[str]:
        return None

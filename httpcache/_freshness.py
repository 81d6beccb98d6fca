"""Freshness (RFC 9111 §4.2): freshness lifetimes (§4.2.1), heuristic freshness
(§4.2.2), the age of a stored response (§4.2.3, §5.1), and the store's eviction hint.
Pure; re-exported by ``policy``."""

from __future__ import annotations

from typing import Optional

from ._directives import effective_directives, surrogate_directives
from ._headers import DELTA_SECONDS_MAX, Headers, parse_delta_seconds, parse_http_date
from .models import CacheOptions, StoredResponse

__all__ = [
    "HEURISTIC_STATUSES",
    "PERMANENT_REDIRECTS",
    "STALE_GRACE",
    "age_header",
    "age_header_value",
    "current_age",
    "freshness_lifetime",
    "has_validator",
    "heuristic_lifetime",
    "ttl_hint",
]

#: RFC 9110 §15.1: status codes that are heuristically cacheable.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: RFC 9110 §15.4.2 (301), §15.4.9 (308): permanent redirects, heuristically cacheable.
PERMANENT_REDIRECTS = frozenset({301, 308})


def _date_value(headers: Headers, fallback: float) -> float:
    date = parse_http_date(headers.get("date"), fallback)
    return fallback if date is None else date


def heuristic_lifetime(headers: Headers, status: int, response_time: Optional[float], options: CacheOptions) -> float:
    """RFC 9111 §4.2.2: a fraction of the time since Last-Modified, capped; 0 when not allowed.

    A permanent redirect (301, 308: heuristically cacheable, RFC 9110 §15.4.2, §15.4.9)
    without a Last-Modified gets ``options.permanent_redirect_lifetime`` instead, capped
    alike: §4.2.2 lets a cache assign a heuristic lifetime, and a redirect rarely has a
    Last-Modified to take a fraction of.
    """
    if options.heuristic_fraction <= 0:
        return 0.0
    if status not in HEURISTIC_STATUSES and not effective_directives(headers, options).public:
        return 0.0
    last_modified = parse_http_date(headers.get("last-modified"), response_time)
    if last_modified is None and status in PERMANENT_REDIRECTS:
        return min(options.heuristic_max, options.permanent_redirect_lifetime)
    date = parse_http_date(headers.get("date"), response_time)
    if date is None:
        date = response_time
    elif response_time is not None:
        date = min(date, response_time)  # a Date ahead of our clock must not stretch the interval
    if last_modified is None or date is None or last_modified >= date:
        return 0.0
    return min(options.heuristic_max, options.heuristic_fraction * (date - last_modified))


def freshness_lifetime(stored: StoredResponse, options: CacheOptions) -> float:
    """RFC 9111 §4.2.1: s-maxage (shared only) > max-age > Expires - Date > heuristic (§4.2.2),
    all overridden for a surrogate by its Surrogate-Control max-age (Edge Architecture §3);
    a targeted field replaces Cache-Control and Expires (RFC 9213 §2.2)."""
    known: Optional[tuple[CacheOptions, float]] = vars(stored).get("freshness_lifetime")
    if known is not None and known[0] is options:
        return known[1]
    lifetime = _freshness_lifetime(stored, options)
    vars(stored)["freshness_lifetime"] = (options, lifetime)  # see StoredResponse.derived
    return lifetime


def _freshness_lifetime(stored: StoredResponse, options: CacheOptions) -> float:
    sd = surrogate_directives(stored.headers, options)
    if sd is not None and sd.max_age is not None:
        return float(sd.max_age)
    rd = effective_directives(stored.headers, options)
    if options.shared and rd.s_maxage is not None:
        return float(rd.s_maxage)
    if rd.max_age is not None:
        return float(rd.max_age)
    if not rd.targeted and "expires" in stored.headers:  # RFC 9213 §2.2: a targeted field ignores Expires
        expires = parse_http_date(stored.headers.get("expires"), stored.response_time)
        if expires is None:
            return 0.0  # §5.3: an invalid Expires, such as "0", is in the past
        return max(0.0, expires - _date_value(stored.headers, stored.response_time))
    return heuristic_lifetime(stored.headers, stored.status, stored.response_time, options)


def age_header_value(headers: Headers) -> Optional[int]:
    """RFC 9111 §5.1: the Age field as delta-seconds; None when absent or ignored.

    "A cache encountering a message with a list-based Age field value SHOULD use the
    first member of the field value, discarding subsequent ones. If the field value
    (after discarding additional members, as per above) is invalid (e.g., it contains
    something other than a non-negative integer), a cache SHOULD ignore the field."
    Several Age lines are one list (RFC 9110 §5.3); empty members are skipped (§5.6.1).
    An ignored Age leaves the apparent age and the response delay to count (§4.2.3).
    """
    value = headers.get("age")
    if value is None:
        return None
    for member in value.split(","):
        if member.strip():
            return parse_delta_seconds(member)
    return None


def current_age(stored: StoredResponse, now: float) -> float:
    """RFC 9111 §4.2.3, in full: apparent age, corrected Age, response delay, resident time.

    A Date ahead of our clock gives an apparent age of 0, never a negative one,
    so clock skew cannot stretch freshness.
    """
    return stored.derived("corrected_initial_age", _corrected_initial_age) + max(0.0, now - stored.response_time)


def _corrected_initial_age(stored: StoredResponse) -> float:
    age_value = age_header_value(stored.headers)
    date_value = _date_value(stored.headers, stored.response_time)
    apparent_age = max(0.0, stored.response_time - date_value)
    response_delay = max(0.0, stored.response_time - stored.request_time)
    corrected_age_value = (age_value or 0) + response_delay
    return max(apparent_age, corrected_age_value)  # corrected_initial_age; + resident_time above


def age_header(age: float) -> str:
    """RFC 9111 §5.1: Age as a non-negative integer, clamped at 2^31."""
    return str(min(int(max(age, 0.0)), DELTA_SECONDS_MAX))


def has_validator(headers: Headers) -> bool:
    return "etag" in headers or parse_http_date(headers.get("last-modified")) is not None


#: How long past its allowances a stale response without validators is kept for max-stale.
STALE_GRACE = 86400.0


def ttl_hint(stored: StoredResponse, now: float, options: CacheOptions) -> Optional[float]:
    """Eviction advice for stores, in seconds: how long the entry could still be used
    (freshness, stale allowances, and revalidation when it has a validator). Freshness
    itself is always recomputed on read; this is never used to decide it."""
    if has_validator(stored.headers):
        return None
    rd = effective_directives(stored.headers, options)
    remaining = freshness_lifetime(stored, options) - current_age(stored, now)
    allowance = max(rd.stale_if_error or 0, rd.stale_while_revalidate or 0)
    # a stale response can still serve a request's max-stale (§5.2.1.2) for a while
    return max(1.0, remaining + allowance + STALE_GRACE)

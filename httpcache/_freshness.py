"""Freshness (RFC 9111 §4.2): freshness lifetimes (§4.2.1), heuristic freshness
(§4.2.2), the age of a stored response (§4.2.3, §5.1), and the store's eviction hint.
Pure; re-exported by ``policy``."""

from __future__ import annotations

from typing import Optional

from ._directives import effective_directives, stored_directives, surrogate_directives
from ._headers import DELTA_SECONDS_MAX, Headers, parse_age, parse_http_date
from ._overrides import capped, default_lifetime, url_rule
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
    "stored_has_validator",
    "ttl_hint",
]

#: RFC 9110 §15.1: status codes that are heuristically cacheable.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: RFC 9110 §15.4.2 (301), §15.4.9 (308): permanent redirects, heuristically cacheable.
PERMANENT_REDIRECTS = frozenset({301, 308})


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
    return _heuristic(
        last_modified, parse_http_date(headers.get("date"), response_time), status, response_time, options
    )


def _heuristic(
    last_modified: Optional[float],
    date: Optional[float],
    status: int,
    response_time: Optional[float],
    options: CacheOptions,
) -> float:
    """``heuristic_lifetime`` once it is allowed, from the parsed Last-Modified and Date."""
    if last_modified is None and status in PERMANENT_REDIRECTS:
        return min(options.heuristic_max, options.permanent_redirect_lifetime)
    if date is None:
        date = response_time
    elif response_time is not None:
        date = min(date, response_time)  # a Date ahead of our clock must not stretch the interval
    if last_modified is None or date is None or last_modified >= date:
        return 0.0
    return min(options.heuristic_max, options.heuristic_fraction * (date - last_modified))


def freshness_lifetime(stored: StoredResponse, options: CacheOptions, rfc_only: bool = False) -> float:
    """RFC 9111 §4.2.1: s-maxage (shared only) > max-age > Expires - Date > heuristic (§4.2.2),
    all overridden for a surrogate by its Surrogate-Control max-age (Edge Architecture §3);
    a targeted field replaces Cache-Control and Expires (RFC 9213 §2.2). From the stored
    response's facts: nothing is parsed here.

    The user's overrides (``expire_after``, ``urls_expire_after``, ``max_ttl``), opt-in,
    are ``_overridden_lifetime``'s; ``rfc_only``: the lifetime without them."""
    if options._overrides and not rfc_only:
        return _overridden_lifetime(stored, options)
    if options.surrogate is not None:
        sd = surrogate_directives(stored.headers, options)
        if sd is not None and sd.max_age is not None:
            return float(sd.max_age)
    facts = stored.facts
    rd = stored_directives(stored, options)
    if options.shared and rd.s_maxage is not None:
        return float(rd.s_maxage)
    if rd.max_age is not None:
        return float(rd.max_age)
    if facts.has_expires and not rd.targeted:  # RFC 9213 §2.2: a targeted field ignores Expires
        if facts.expires is None:
            return 0.0  # §5.3: an invalid Expires, such as "0", is in the past
        return max(0.0, facts.expires - (stored.response_time if facts.date is None else facts.date))
    if options.heuristic_fraction <= 0 or (stored.status not in HEURISTIC_STATUSES and not rd.public):
        return 0.0
    return _heuristic(facts.last_modified, facts.date, stored.status, stored.response_time, options)


def _overridden_lifetime(stored: StoredResponse, options: CacheOptions) -> float:
    """``freshness_lifetime`` with the user's overrides: a ``Force`` rule's lifetime
    whatever the response says (departs from §4.2.1); ``DO_NOT_CACHE``: 0; a lifetime
    chosen for responses without explicit freshness in place of §4.2.2's heuristic
    (statuses as for heuristics: RFC 9110 §15.1, or ``public``); all at most ``max_ttl``."""
    rule = url_rule(stored.url, options)
    if rule is not None:
        if rule.never:
            return 0.0
        if rule.force and rule.lifetime is not None:
            return capped(rule.lifetime, options)
    chosen = default_lifetime(rule, options)
    if chosen is not None and not has_explicit_freshness(stored, options):
        rd = stored_directives(stored, options)
        return capped(chosen if stored.status in HEURISTIC_STATUSES or rd.public else 0.0, options)
    return capped(freshness_lifetime(stored, options, rfc_only=True), options)


def has_explicit_freshness(stored: StoredResponse, options: CacheOptions) -> bool:
    """RFC 9111 §4.2.1: does the stored response carry an explicit lifetime (a surrogate's
    Surrogate-Control max-age, s-maxage in a shared cache, max-age, Expires)?"""
    if options.surrogate is not None:
        sd = surrogate_directives(stored.headers, options)
        if sd is not None and sd.max_age is not None:
            return True
    rd = stored_directives(stored, options)
    return (
        (options.shared and rd.s_maxage is not None)
        or rd.max_age is not None
        or (stored.facts.has_expires and not rd.targeted)
    )


def age_header_value(headers: Headers) -> Optional[int]:
    """RFC 9111 §5.1: the Age field as delta-seconds; None when absent or ignored (the
    first member of a list counts, an invalid one is ignored: ``parse_age``). An ignored
    Age leaves the apparent age and the response delay to count (§4.2.3)."""
    return parse_age(headers.get("age"))


def current_age(stored: StoredResponse, now: float) -> float:
    """RFC 9111 §4.2.3, in full: apparent age, corrected Age, response delay (together the
    corrected initial age, among the stored response's facts), and resident time.

    A Date ahead of our clock gives an apparent age of 0, never a negative one,
    so clock skew cannot stretch freshness.
    """
    return stored.facts.corrected_initial_age + max(0.0, now - stored.response_time)


def age_header(age: float) -> str:
    """RFC 9111 §5.1: Age as a non-negative integer, clamped at 2^31."""
    return str(min(int(max(age, 0.0)), DELTA_SECONDS_MAX))


def has_validator(headers: Headers) -> bool:
    """RFC 9111 §4.3.1: an ETag, or a valid Last-Modified, to revalidate with."""
    return "etag" in headers or parse_http_date(headers.get("last-modified")) is not None


def stored_has_validator(stored: StoredResponse) -> bool:
    """``has_validator`` of a stored response, from its facts (RFC 9111 §4.3.1; RFC 9110 §8.8)."""
    return stored.facts.etag is not None or stored.facts.last_modified is not None


#: How long past its allowances a stale response without validators is kept for max-stale.
STALE_GRACE = 86400.0


def ttl_hint(stored: StoredResponse, now: float, options: CacheOptions) -> Optional[float]:
    """Eviction advice for stores, in seconds: how long the entry could still be used
    (freshness, stale allowances, and revalidation when it has a validator). Freshness
    itself is always recomputed on read; this is never used to decide it."""
    if stored_has_validator(stored):
        return None
    rd = stored_directives(stored, options)
    remaining = freshness_lifetime(stored, options) - current_age(stored, now)
    allowance = max(rd.stale_if_error or 0, rd.stale_while_revalidate or 0)
    # a stale response can still serve a request's max-stale (§5.2.1.2) for a while
    return max(1.0, remaining + allowance + STALE_GRACE)

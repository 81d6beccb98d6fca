"""RFC 9111 as pure functions and frozen decisions.

House rules: every caching rule of httpcache lives in this module and cites the
section it comes from. No I/O, no clock (``now`` is an argument), no import of
``requests``. Decisions are frozen values that the adapter dispatches on
exhaustively. The directives the rules read are parsed in ``_directives``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Optional, Sequence, Union
from urllib.parse import urljoin, urlsplit

# The directives these rules read (RFC 9111 §5.2, RFC 9213, Surrogate-Control) are
# parsed in ``_directives``; re-exported, they stay ``policy.<name>`` for callers.
from ._directives import RequestDirectives as RequestDirectives
from ._directives import ResponseDirectives as ResponseDirectives
from ._directives import SurrogateDirectives as SurrogateDirectives
from ._directives import effective_directives as effective_directives
from ._directives import request_directives as request_directives
from ._directives import response_directives as response_directives
from ._directives import surrogate_directives as surrogate_directives
from ._headers import (
    DELTA_SECONDS_MAX,
    Headers,
    etag_weak_match,
    parse_content_range,
    parse_delta_seconds,
    parse_etags,
    parse_field_names,
    parse_http_date,
    parse_range,
)
from .models import CacheOptions, RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

#: RFC 9111 §3: the methods whose responses this cache stores.
CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
#: RFC 9110 §9.2.1: safe methods; every other (and unknown) method invalidates (§4.4).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: RFC 9110 §15.1: status codes that are heuristically cacheable.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: RFC 9110 §15.4.2 (301), §15.4.9 (308): permanent redirects, heuristically cacheable.
PERMANENT_REDIRECTS = frozenset({301, 308})
#: Status codes whose semantics this cache understands (RFC 9111 §5.2.2.3 must-understand).
UNDERSTOOD_STATUSES = frozenset({200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501})
#: RFC 9110 §7.6.1: connection-specific fields, never stored (RFC 9111 §3.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer"}
)
#: RFC 9111 §3.2: fields a 304 never updates: Content-Length, and the framing, coding and
#: digests of the stored body (we keep the body as received, so they must stay its own).
NOT_UPDATED_BY_304 = (
    frozenset({"content-length", "content-encoding", "content-range", "content-md5", "content-digest", "repr-digest"})
    | HOP_BY_HOP
)
#: Request fields that make a request conditional (RFC 9110 §13.1).
CONDITIONAL_FIELDS = ("if-none-match", "if-modified-since")
PRECONDITION_FIELDS = ("if-match", "if-unmodified-since", "if-range")

# ---------------------------------------------------------------------------
# Storing (RFC 9111 §3)


def not_storable_reason(req: RequestView, resp: ResponseView, options: CacheOptions) -> Optional[str]:
    """Why ``resp`` to ``req`` may not be stored (RFC 9111 §3), or None when it may."""
    if req.method not in CACHEABLE_METHODS:
        return f"method {req.method} is not cacheable (RFC 9111 §3)"
    if resp.status < 200:
        return "non-final status (RFC 9111 §3)"
    if resp.status == 304:
        return "a 304 updates a stored response, it is not stored (RFC 9111 §4.3.4)"
    if resp.status == 206 and stored_range(resp.headers) is None:
        return "206 without one byte Content-Range of known length (RFC 9111 §3.3)"
    if "range" in req.headers and resp.status not in (200, 206):
        return "answer to a Range request that is neither 200 nor 206 (RFC 9111 §3.3)"
    if request_directives(req.headers).no_store:
        return "request no-store (RFC 9111 §5.2.1.5)"
    rd = effective_directives(resp.headers, options)
    sd = surrogate_directives(resp.headers, options)
    if sd is not None and sd.no_store:
        return "Surrogate-Control no-store (W3C Edge Architecture §3)"
    # Surrogate-Control addressed to us takes precedence over Cache-Control
    surrogate_fresh = sd is not None and sd.max_age is not None
    if rd.must_understand:
        if resp.status not in UNDERSTOOD_STATUSES:
            return "must-understand with a status not understood (RFC 9111 §5.2.2.3)"
    elif rd.no_store and not surrogate_fresh:
        return "response no-store (RFC 9111 §5.2.2.5)"
    if options.shared and rd.private and not surrogate_fresh:
        return "private response in a shared cache (RFC 9111 §5.2.2.7)"
    if (
        options.shared
        and "authorization" in req.headers
        and not (rd.must_revalidate or rd.public or rd.s_maxage is not None)
    ):
        return "Authorization in a shared cache without public, must-revalidate or s-maxage (RFC 9111 §3.5)"
    if "*" in parse_field_names(resp.headers.get("vary")):
        return "Vary: * never matches (RFC 9111 §4.1)"
    explicit = (
        surrogate_fresh
        or (not rd.targeted and "expires" in resp.headers)  # RFC 9213 §2.2: Expires ignored
        or rd.max_age is not None
        or (options.shared and rd.s_maxage is not None)
        or (rd.private and not options.shared)
        or rd.public
    )
    if not explicit:
        if resp.status not in HEURISTIC_STATUSES:
            return f"status {resp.status} without explicit freshness is not heuristically cacheable (RFC 9111 §3)"
        if (
            heuristic_lifetime(resp.headers, resp.status, None, options) == 0.0
            and not has_validator(resp.headers)
            and rd.stale_if_error is None
            and rd.stale_while_revalidate is None
        ):
            return "no freshness and no validator: nothing could reuse it (RFC 9111 §4.2.2, §4.3.1)"
    return None


def headers_to_store(req: RequestView, resp: ResponseView, options: CacheOptions) -> Headers:
    """The response's fields as stored: no connection-specific fields (RFC 9111 §3.1), no
    fields listed by qualified no-cache (§5.2.2.4) or, in a shared cache, private (§5.2.2.7)."""
    drop = set(HOP_BY_HOP) | set(parse_field_names(resp.headers.get("connection")))
    drop.update(fields_never_reused(resp.headers, options))
    return resp.headers.without(drop)


def fields_never_reused(headers: Headers, options: CacheOptions) -> frozenset[str]:
    """The fields (lower-cased) that ``headers``' own directives keep out of a stored
    response: those listed by a qualified no-cache, which "MUST NOT" be reused without
    successful revalidation (RFC 9111 §5.2.2.4), and, in a shared cache, by a qualified
    private, which it "MUST NOT store" (§5.2.2.7). A surrogate reads them from its
    targeted field (RFC 9213 §2.2)."""
    rd = effective_directives(headers, options)
    if not rd.no_cache_fields and not (options.shared and rd.private_fields):
        return frozenset()
    return frozenset(rd.no_cache_fields + rd.private_fields if options.shared else rd.no_cache_fields)


def without_fields_never_reused(headers: Headers, options: CacheOptions) -> Headers:
    """``headers`` without ``fields_never_reused(headers, options)``: what a stored response
    may keep, whatever brought the fields in (a response being stored, or a 304's fields
    merged into a stored response, RFC 9111 §4.3.4, which its merged directives judge)."""
    return headers.without(fields_never_reused(headers, options))


def _holds_fields_never_reused(headers: Headers, rd: ResponseDirectives, options: CacheOptions) -> bool:
    """Does a stored response still hold a field its directives ``rd`` keep out (stored by
    an older version or other options, or merged in from a 304)? Two tests when none are named."""
    if not rd.no_cache_fields and not (options.shared and rd.private_fields):
        return False
    return any(name in headers for name in fields_never_reused(headers, options))


# ---------------------------------------------------------------------------
# Partial content (RFC 9111 §3.3, §3.4; RFC 9110 §14)


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


# ---------------------------------------------------------------------------
# Vary and credentials (RFC 9111 §4.1)


def vary_names(headers: Headers) -> tuple[str, ...]:
    """Field names listed by Vary, lower-cased (RFC 9111 §4.1)."""
    return headers.derived("vary_names", _vary_names_of)


def _vary_names_of(headers: Headers) -> tuple[str, ...]:
    return tuple(parse_field_names(headers.get("vary")))


#: Fields whose members are case-insensitive tokens with weights (RFC 9110 §12.5.3, §12.5.4):
#: their order carries no meaning, only their weights do.
_WEIGHTED_TOKEN_FIELDS = frozenset({"accept-language", "accept-encoding"})


def _normalize_weighted(members: list[str]) -> str:
    """Lower-cased tokens sorted by weight then name: ``en, DE`` and ``de, en`` match."""
    weighted: list[tuple[float, str]] = []
    for member in members:
        token, _, params = member.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 1.0
                if not 0.0 <= weight <= 1.0:  # nan and out-of-range weights
                    weight = 1.0
        weighted.append((weight, token.strip().lower()))
    weighted.sort(key=lambda item: (-item[0], item[1]))
    return ",".join(token if weight == 1.0 else f"{token};q={weight:g}" for weight, token in weighted)


def normalize_field(values: list[str], name: str = "") -> Optional[str]:
    """RFC 9111 §4.1 normalisation: lines combined, list members trimmed; for
    Accept-Language and Accept-Encoding also case and order (by weight); None when absent."""
    if not values:
        return None
    members = [" ".join(m.split()) for v in values for m in v.split(",")]
    members = [m for m in members if m]
    if name.lower() in _WEIGHTED_TOKEN_FIELDS:
        return _normalize_weighted(members)
    return ",".join(members)


def vary_values(req_headers: Headers, names: Sequence[str]) -> dict[str, Optional[str]]:
    """The request's normalised values of the fields a response varies on."""
    return {name: normalize_field(req_headers.get_all(name), name) for name in names if name != "*"}


def auth_digest(req_headers: Headers, options: CacheOptions) -> Optional[str]:
    """In a private cache, a digest of the request's credentials (never the credentials)."""
    if options.shared:
        return None
    return req_headers.derived("auth_digest", _auth_digest_of)


def _auth_digest_of(req_headers: Headers) -> Optional[str]:
    value = req_headers.get("authorization")
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def variant_matches(req: RequestView, stored: StoredResponse, options: CacheOptions) -> bool:
    """RFC 9111 §4.1: the stored response's Vary fields match the request's, and (private
    mode) it was obtained with the same Authorization (or both without)."""
    if stored.auth != auth_digest(req.headers, options):
        return False  # private mode: Authorization acts as an implicit Vary
    names = vary_names(stored.headers)
    if "*" in names:
        return False
    return all(normalize_field(req.headers.get_all(name), name) == stored.vary.get(name) for name in names)


def most_recent(candidates: list[StoredResponse]) -> Optional[StoredResponse]:
    """RFC 9111 §4.1: of several matching responses, the most recent by Date."""
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    return max(candidates, key=lambda s: (parse_http_date(s.headers.get("date")) or s.response_time, s.response_time))


# ---------------------------------------------------------------------------
# Freshness (RFC 9111 §4.2)


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


def _stale_forbidden(rd: ResponseDirectives, options: CacheOptions) -> Optional[str]:
    """RFC 9111 §4.2.4: response directives that forbid serving it stale."""
    if rd.must_revalidate:
        return "must-revalidate (RFC 9111 §5.2.2.2)"
    if options.shared and rd.proxy_revalidate:
        return "proxy-revalidate (RFC 9111 §5.2.2.8)"
    if options.shared and rd.s_maxage is not None:
        return "s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10)"
    if rd.no_cache:
        return "no-cache (RFC 9111 §5.2.2.4)"
    return None


# ---------------------------------------------------------------------------
# Decisions


@dataclass(frozen=True)
class Fresh:
    """Serve the stored response: it is fresh and acceptable to the request (§4.2)."""

    age: float


@dataclass(frozen=True)
class StaleAllowed:
    """Serve the stored response stale: the request allowed it (§4.2.4, §5.2.1.2)."""

    age: float
    reason: str


@dataclass(frozen=True)
class Validate:
    """Forward the request, with these conditional fields (§4.3.1; may be none).

    ``stale_if_error``: the stored response may be served if the origin fails (RFC 5861 §4).
    """

    headers: tuple[tuple[str, str], ...]
    reason: str
    stale_if_error: bool = False


@dataclass(frozen=True)
class Miss:
    """Nothing usable is stored: forward the request."""

    reason: str


@dataclass(frozen=True)
class GatewayTimeout:
    """only-if-cached and nothing usable: answer 504 (RFC 9111 §5.2.1.7)."""

    reason: str


@dataclass(frozen=True)
class StaleWhileRevalidate:
    """Serve the stored response stale and revalidate it in the background with these
    conditional fields (RFC 5861 §3 stale-while-revalidate)."""

    age: float
    headers: tuple[tuple[str, str], ...]


Decision = Union[Fresh, StaleAllowed, StaleWhileRevalidate, Validate, Miss, GatewayTimeout]


def decide(req: RequestView, stored: Optional[StoredResponse], now: float, options: CacheOptions) -> Decision:
    """RFC 9111 §4: may ``stored`` satisfy ``req`` at ``now``, and if not, what to send."""
    rq = request_directives(req.headers)
    if stored is None:
        if rq.only_if_cached:
            return GatewayTimeout("only-if-cached and nothing stored (RFC 9111 §5.2.1.7)")
        return Miss("nothing stored (RFC 9111 §4)")
    rd = effective_directives(stored.headers, options)
    age = current_age(stored, now)
    lifetime = freshness_lifetime(stored, options)
    fresh = lifetime > age  # §4.2
    reason: str
    if rq.no_cache:
        reason = "request no-cache (RFC 9111 §5.2.1.4)"
    elif rd.no_cache:
        reason = "response no-cache (RFC 9111 §5.2.2.4)"
    elif _holds_fields_never_reused(stored.headers, rd, options):
        # never served without revalidation, fresh or stale
        reason = "holds a field named by qualified no-cache or private (RFC 9111 §5.2.2.4, §5.2.2.7)"
    elif fresh:
        if rq.max_age is not None and age > rq.max_age and not rd.immutable:
            # §5.2.1.1 limits the acceptable age; RFC 8246 immutable skips it while fresh
            reason = "older than request max-age (RFC 9111 §5.2.1.1)"
        elif rq.min_fresh is not None and lifetime - age < rq.min_fresh:
            reason = "not fresh for request min-fresh (RFC 9111 §5.2.1.3)"
        else:
            return Fresh(age)
    else:
        reason = "stale (RFC 9111 §4.2)"
        forbidden = _stale_forbidden(rd, options)
        if rq.max_stale is not None and forbidden is None:
            within_age = rq.max_age is None or age <= rq.max_age
            if age - lifetime <= rq.max_stale and within_age:
                return StaleAllowed(age, "request max-stale (RFC 9111 §5.2.1.2)")
        if (
            forbidden is None
            and rd.stale_while_revalidate is not None
            and age - lifetime <= rd.stale_while_revalidate
            and rq.max_age is None
            and rq.min_fresh is None
        ):
            # RFC 5861 §3: serve it stale now, revalidate in the background
            return StaleWhileRevalidate(age, conditional_headers(stored))
    if rq.only_if_cached:
        return GatewayTimeout(f"only-if-cached and {reason} (RFC 9111 §5.2.1.7)")
    return Validate(conditional_headers(stored), reason, stale_if_error_allowed(req, stored, age, lifetime, options))


def stale_if_error_allowed(
    req: RequestView, stored: StoredResponse, age: float, lifetime: float, options: CacheOptions
) -> bool:
    """RFC 5861 §4: on an error, may the stale response be served? Never against
    must-revalidate and its kin (RFC 9111 §4.2.4 "MUST NOT")."""
    rd = effective_directives(stored.headers, options)
    if _stale_forbidden(rd, options) is not None or _holds_fields_never_reused(stored.headers, rd, options):
        return False
    windows = [w for w in (rd.stale_if_error, request_directives(req.headers).stale_if_error) if w is not None]
    return bool(windows) and age - lifetime <= max(windows)


def conditional_headers(stored: StoredResponse) -> tuple[tuple[str, str], ...]:
    """RFC 9111 §4.3.1: If-None-Match from ETag, If-Modified-Since from Last-Modified."""
    fields: list[tuple[str, str]] = []
    etag = stored.headers.get("etag")
    if etag:
        fields.append(("If-None-Match", etag))
    last_modified = stored.headers.get("last-modified")
    if last_modified and parse_http_date(last_modified) is not None:
        fields.append(("If-Modified-Since", last_modified))
    return tuple(fields)


def is_conditional(req: RequestView) -> bool:
    return req.headers.derived("is_conditional", _is_conditional_of)


def _is_conditional_of(headers: Headers) -> bool:
    return any(name in headers for name in CONDITIONAL_FIELDS)


def has_preconditions(req: RequestView) -> bool:
    """If-Match, If-Unmodified-Since and If-Range are for the origin to evaluate."""
    return req.headers.derived("has_preconditions", _has_preconditions_of)


def _has_preconditions_of(headers: Headers) -> bool:
    return any(name in headers for name in PRECONDITION_FIELDS)


def evaluate_conditional(req: RequestView, stored: StoredResponse) -> bool:
    """RFC 9111 §4.3.2 / RFC 9110 §13.2.2: True when the request's If-None-Match (or,
    without it, If-Modified-Since) says the client's copy is current: answer 304."""
    inm = req.headers.get("if-none-match")
    if inm is not None:
        tags = parse_etags(inm)
        etag = stored.headers.get("etag")
        if "*" in tags:
            return True
        return etag is not None and any(etag_weak_match(t, etag) for t in tags)
    ims = parse_http_date(req.headers.get("if-modified-since"), stored.response_time)
    if ims is None:
        return False
    # RFC 9111 §4.3.2: Last-Modified, else Date, else the time the response was received
    last_modified = parse_http_date(stored.headers.get("last-modified"))
    if last_modified is None:
        last_modified = parse_http_date(stored.headers.get("date"))
    if last_modified is None:
        last_modified = stored.response_time
    return last_modified <= ims


#: RFC 9110 §15.4.5: the fields a 304 carries from the 200 it stands for.
NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)


def not_modified_headers(stored: StoredResponse) -> Headers:
    """Header fields for a 304 generated from a stored response (RFC 9110 §15.4.5)."""
    return Headers((k, v) for k, v in stored.headers.items() if k.lower() in NOT_MODIFIED_FIELDS)


# ---------------------------------------------------------------------------
# Freshening with a 304 (RFC 9111 §4.3.4) and HEAD (§4.3.5)


def validator_matches(stored: StoredResponse, resp: ResponseView) -> bool:
    """RFC 9111 §4.3.4: does a 304 that answers the conditional request we built from
    ``stored``'s own validators (§4.3.1) select ``stored``?

    We asked about exactly one stored response, so the 304 selects it unless it carries a
    validator that contradicts what we sent. The ETag is compared weakly, as the origin
    compared our If-None-Match (RFC 9110 §13.1.2): nginx answers ``If-None-Match: W/"x"``
    for a gzipped body with a 304 carrying ``ETag: "x"``. Without an ETag in the 304, its
    Last-Modified must agree with the stored one, where there is one.
    """
    new_etag = resp.headers.get("etag")
    if new_etag:
        old = stored.headers.get("etag")
        return old is not None and etag_weak_match(old, new_etag)
    new_lm = parse_http_date(resp.headers.get("last-modified"))
    if new_lm is not None:
        old_lm = parse_http_date(stored.headers.get("last-modified"))
        return old_lm is None or old_lm == new_lm
    # No validator in the 304: it answers our conditional, built from this very response.
    return True


def freshen(
    stored: StoredResponse,
    resp: ResponseView,
    request_time: float,
    response_time: float,
    req: Optional[RequestView] = None,
    options: Optional[CacheOptions] = None,
) -> StoredResponse:
    """RFC 9111 §4.3.4 + §3.2: the 304's fields replace the stored ones (never
    Content-Length or the body's coding); the stored body is kept. Fields a qualified
    no-cache or (shared) private names are not kept from it either (§5.2.2.4, §5.2.2.7;
    with ``options``).

    A 304 may change Vary. The stored response is then selected by the new Vary
    (§4.1): a field it names anew takes the value of ``req``, the request the 304
    answered (the origin judged the stored response right for that value); a field
    it already named keeps its stored value.

    A strong ETag in the 304 for our weak one (nginx answers ``W/"x"`` for a gzipped
    body with ``"x"``) does not replace it: the stored body is the weak one, and §3.2
    lets a cache keep a field its stored response depends upon."""
    drop = set(NOT_UPDATED_BY_304) | set(parse_field_names(resp.headers.get("connection")))
    old_etag, new_etag = stored.headers.get("etag"), resp.headers.get("etag")
    if old_etag and new_etag and old_etag.strip().startswith("W/") and not new_etag.strip().startswith("W/"):
        drop.add("etag")  # weakly equal (the 304 selected it); else it is a contradiction
    headers = stored.headers.replaced(resp.headers.without(drop))
    if options is not None:
        headers = without_fields_never_reused(headers, options)
    vary = stored.vary
    names = vary_names(headers)
    if "vary" in resp.headers and set(names) != set(vary):
        request_headers = req.headers if req is not None else Headers([])
        vary = {
            name: stored.vary[name] if name in stored.vary else normalize_field(request_headers.get_all(name), name)
            for name in names
            if name != "*"
        }
    return stored.replace(headers=headers, request_time=request_time, response_time=response_time, vary=vary)


def head_invalidates(stored: StoredResponse, resp: ResponseView) -> bool:
    """RFC 9111 §4.3.5: a HEAD response whose validators or length differ from the stored
    GET response means the stored one is outdated."""
    for name in ("etag", "last-modified", "content-length"):
        new = resp.headers.get(name)
        if new is not None and new != stored.headers.get(name):
            return True
    return False


# ---------------------------------------------------------------------------
# After the response (RFC 9111 §3, §4.3.4, §4.3.5; RFC 5861 §4)

#: RFC 5861 §4: the error statuses for which stale-if-error applies.
STALE_IF_ERROR_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Freshen:
    """RFC 9111 §4.3.4: the 304 (or, §4.3.5, a HEAD response) selects ``stored``; ``fresh``
    is ``stored`` updated with its fields (``freshen``), to be written in its place.

    ``pass_through``: the caller's own request was conditional (``is_conditional``): it is
    handed the 304 itself; else it is served ``fresh``."""

    stored: StoredResponse
    fresh: StoredResponse
    reason: str
    pass_through: bool = False


@dataclass(frozen=True)
class Unselected:
    """RFC 9111 §4.3.4: a 304 to our own conditional whose validator contradicts the one we
    sent selects nothing. It still says the representation we asked about is current, so
    ``stored`` is served once, at ``age``, then removed (no longer trusted to be stored).
    Never a 304 to a caller who did not ask conditionally, never a second request."""

    stored: StoredResponse
    age: float
    reason: str


@dataclass(frozen=True)
class ServeStale:
    """RFC 5861 §4: the origin answered 500, 502, 503 or 504 (or could not be reached) and
    stale-if-error allows serving ``stored`` at ``age`` instead."""

    stored: StoredResponse
    age: float
    reason: str


@dataclass(frozen=True)
class Store:
    """RFC 9111 §3: store the response, as the answer to the request, and hand it over."""

    reason: str


@dataclass(frozen=True)
class PassThrough:
    """Hand the response over as received, not stored, for ``reason``. ``remove``: a stored
    response it makes obsolete (the one it replaces, when it is no error and no 304), or None."""

    reason: str
    remove: Optional[StoredResponse] = None


@dataclass(frozen=True)
class Remove:
    """RFC 9111 §4.3.5: a HEAD response contradicts the stored GET response: remove it."""

    stored: StoredResponse
    reason: str


ResponseOutcome = Union[Freshen, Unselected, ServeStale, Store, PassThrough]


def after_response(
    req: RequestView,
    stored: Optional[StoredResponse],
    resp: ResponseView,
    request_time: float,
    response_time: float,
    now: float,
    options: CacheOptions,
    *,
    stale_if_error: bool = False,
) -> ResponseOutcome:
    """RFC 9111 §3, §4.3.4 and RFC 5861 §4: what to do with ``resp``, the origin's answer to
    ``req`` (sent, with our conditional fields, for ``stored``; None on a plain miss), sent
    at ``request_time`` and received at ``response_time``. ``stale_if_error``: the request's
    decision allowed serving ``stored`` on an error (``Validate.stale_if_error``)."""
    if stored is not None and resp.status == 304:
        if validator_matches(stored, resp):
            fresh = freshen(stored, resp, request_time, response_time, req, options)
            if is_conditional(req):
                return Freshen(
                    stored,
                    fresh,
                    "the 304 selects the stored response (RFC 9111 §4.3.4); "
                    "the caller's own conditional request gets the 304 (RFC 9110 §13.2)",
                    True,
                )
            return Freshen(stored, fresh, "the 304 selects the stored response and freshens it (RFC 9111 §4.3.4)")
        if not is_conditional(req):
            return Unselected(
                stored,
                current_age(stored, now),
                "the 304's validator contradicts the one we sent: it selects no stored response (RFC 9111 §4.3.4)",
            )
        return PassThrough(
            "a 304 to the caller's own conditional request that selects no stored response (RFC 9111 §4.3.4)"
        )
    if stored is not None and stale_if_error and resp.status in STALE_IF_ERROR_STATUSES:
        return ServeStale(stored, current_age(stored, now), f"origin error {resp.status}: stale-if-error (RFC 5861 §4)")
    reason = not_storable_reason(req, resp, options)
    if reason is None:
        return Store("storable (RFC 9111 §3)")
    # a newer answer makes it obsolete; a server error says nothing of the resource (a 304
    # to a stored response never comes here)
    return PassThrough(reason, stored if stored is not None and resp.status < 500 else None)


def after_failure(
    req: RequestView, stored: Optional[StoredResponse], now: float, options: CacheOptions, *, stale_if_error: bool
) -> Optional[ServeStale]:
    """RFC 5861 §4: the origin could not be reached; serve ``stored`` if the request's
    decision allowed it on an error (``Validate.stale_if_error``), else None (the error
    stands)."""
    if stored is None or not stale_if_error:
        return None
    return ServeStale(stored, current_age(stored, now), "origin unreachable: stale-if-error (RFC 5861 §4)")


def updates_stored_get(req: RequestView, resp: ResponseView) -> bool:
    """RFC 9111 §4.3.5: is ``resp`` a HEAD response to check against the stored GET responses?"""
    return req.method == "HEAD" and resp.status == 200


def after_head(
    req: RequestView,
    resp: ResponseView,
    stored_get: StoredResponse,
    request_time: float,
    response_time: float,
    options: CacheOptions,
) -> Union[Freshen, Remove, None]:
    """RFC 9111 §4.3.5: a HEAD response whose validators or length contradict a stored GET
    response invalidates it (``Remove``); one with a validator that selects it updates it as
    a 304 would (``Freshen``, §4.3.4); else None (it says nothing of it)."""
    if head_invalidates(stored_get, resp):
        return Remove(stored_get, "the HEAD response contradicts the stored GET response (RFC 9111 §4.3.5)")
    if has_validator(resp.headers) and validator_matches(stored_get, resp):
        fresh = freshen(stored_get, resp, request_time, response_time, req, options)
        return Freshen(stored_get, fresh, "the HEAD response selects the stored GET response (RFC 9111 §4.3.5)")
    return None


# ---------------------------------------------------------------------------
# Invalidation (RFC 9111 §4.4)


def _origin(url: str) -> tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def invalidation_urls(req: RequestView, resp: ResponseView) -> list[str]:
    """RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI
    and the same-origin URIs in Location and Content-Location."""
    if req.method in SAFE_METHODS or not 200 <= resp.status < 400:
        return []
    urls = [req.url]
    for name in ("location", "content-location"):
        value = resp.headers.get(name)
        if not value:
            continue
        try:
            target = urljoin(req.url, value.strip())
        except ValueError:
            continue
        if _origin(target) == _origin(req.url) and target not in urls:
            urls.append(target)
    return urls


def post_response_as_get(req: RequestView, resp: ResponseView, options: CacheOptions) -> Optional[RequestView]:
    """RFC 9110 §9.3.3 / RFC 9111 §4: a POST response with explicit freshness and a
    Content-Location equal to the target URI may answer later GETs of that URI. Returns
    the GET request view to store it under, or None."""
    if req.method != "POST" or not 200 <= resp.status < 300:
        return None
    location = resp.headers.get("content-location")
    if location is None:
        return None
    try:
        target = urljoin(req.url, location.strip())
    except ValueError:
        return None
    if urlsplit(target)._replace(fragment="").geturl() != urlsplit(req.url)._replace(fragment="").geturl():
        return None
    rd = effective_directives(resp.headers, options)
    explicit = (
        (not rd.targeted and "expires" in resp.headers)
        or rd.max_age is not None
        or (options.shared and rd.s_maxage is not None)
    )
    if not explicit:
        return None
    as_get = RequestView("GET", req.url, req.headers.without(("content-type", "content-length")))
    return as_get if not_storable_reason(as_get, resp, options) is None else None


# ---------------------------------------------------------------------------
# Store hints

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

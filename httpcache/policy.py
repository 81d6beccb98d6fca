"""RFC 9111 as pure functions and frozen decisions.

House rules: every caching rule of httpcache lives in the policy and cites the
section it comes from: this module and the private modules it re-exports, one per
area of the RFC. No I/O, no clock (``now`` is an argument), no logging, no import of
``requests``. Decisions are frozen values that the caller dispatches on exhaustively,
carrying what it needs and a reason citing its section.

- here: storing (§3), the request side ``decide`` (§4) and the response side
  ``after_response``, ``after_failure``, ``after_head`` (§3, §4.3.4, §4.3.5, RFC 5861 §4);
- ``_outcomes``: the frozen decisions of both sides;
- ``_freshness``: lifetimes, heuristic freshness, age (§4.2), the store's eviction hint;
- ``_vary``: Vary and credentials (§4.1);
- ``_validation``: conditional requests, 304s and HEAD (§4.3), fields kept out (§5.2.2.4, §5.2.2.7);
- ``_ranges``: partial content (§3.3, §3.4);
- ``_invalidation``: unsafe methods (§4.4);
- ``_directives``: the directives the rules read, parsed (§5.2, RFC 9213, Surrogate-Control).

Imports flow one way: ``_headers`` -> ``_directives`` -> the area modules -> ``policy``.
"""

from __future__ import annotations

from typing import Optional, Union
from urllib.parse import urljoin, urlsplit

# The directives these rules read (RFC 9111 §5.2, RFC 9213, Surrogate-Control) are
# parsed in ``_directives``; the rules of each area live in their module. Re-exported,
# they stay ``policy.<name>`` for callers.
from ._directives import RequestDirectives as RequestDirectives
from ._directives import ResponseDirectives as ResponseDirectives
from ._directives import SurrogateDirectives as SurrogateDirectives
from ._directives import effective_directives as effective_directives
from ._directives import request_directives as request_directives
from ._directives import response_directives as response_directives
from ._directives import stored_directives
from ._directives import surrogate_directives as surrogate_directives
from ._freshness import HEURISTIC_STATUSES as HEURISTIC_STATUSES
from ._freshness import PERMANENT_REDIRECTS as PERMANENT_REDIRECTS
from ._freshness import STALE_GRACE as STALE_GRACE
from ._freshness import age_header as age_header
from ._freshness import age_header_value as age_header_value
from ._freshness import current_age as current_age
from ._freshness import freshness_lifetime as freshness_lifetime
from ._freshness import has_validator as has_validator
from ._freshness import heuristic_lifetime as heuristic_lifetime
from ._freshness import ttl_hint as ttl_hint
from ._headers import Headers, parse_field_names
from ._invalidation import SAFE_METHODS as SAFE_METHODS
from ._invalidation import invalidation_urls as invalidation_urls
from ._outcomes import Decision as Decision
from ._outcomes import Fresh as Fresh
from ._outcomes import Freshen as Freshen
from ._outcomes import GatewayTimeout as GatewayTimeout
from ._outcomes import Miss as Miss
from ._outcomes import PassThrough as PassThrough
from ._outcomes import Remove as Remove
from ._outcomes import ResponseOutcome as ResponseOutcome
from ._outcomes import ServeStale as ServeStale
from ._outcomes import StaleAllowed as StaleAllowed
from ._outcomes import StaleWhileRevalidate as StaleWhileRevalidate
from ._outcomes import Store as Store
from ._outcomes import Unselected as Unselected
from ._outcomes import Validate as Validate
from ._overrides import body_key as body_key
from ._overrides import cache_view as cache_view
from ._overrides import cached_url as cached_url
from ._overrides import default_lifetime, url_rule
from ._overrides import keyed_url as keyed_url
from ._ranges import range_from_stored as range_from_stored
from ._ranges import requested_range as requested_range
from ._ranges import stored_range as stored_range
from ._validation import CONDITIONAL_FIELDS as CONDITIONAL_FIELDS
from ._validation import HOP_BY_HOP as HOP_BY_HOP
from ._validation import NOT_MODIFIED_FIELDS as NOT_MODIFIED_FIELDS
from ._validation import NOT_UPDATED_BY_304 as NOT_UPDATED_BY_304
from ._validation import PRECONDITION_FIELDS as PRECONDITION_FIELDS
from ._validation import conditional_headers as conditional_headers
from ._validation import evaluate_conditional as evaluate_conditional
from ._validation import fields_never_reused as fields_never_reused
from ._validation import freshen as freshen
from ._validation import has_preconditions as has_preconditions
from ._validation import head_invalidates as head_invalidates
from ._validation import holds_fields_never_reused
from ._validation import is_conditional as is_conditional
from ._validation import not_modified_headers as not_modified_headers
from ._validation import validator_matches as validator_matches
from ._validation import without_fields_never_reused as without_fields_never_reused
from ._vary import auth_digest as auth_digest
from ._vary import most_recent as most_recent
from ._vary import normalize_field as normalize_field
from ._vary import request_auth_digest as request_auth_digest
from ._vary import variant_matches as variant_matches
from ._vary import vary_names as vary_names
from ._vary import vary_values as vary_values
from .models import CacheOptions, RequestView, ResponseView, StoredResponse

#: RFC 9111 §3: the methods whose responses this cache stores.
CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
#: Status codes whose semantics this cache understands (RFC 9111 §5.2.2.3 must-understand).
UNDERSTOOD_STATUSES = frozenset({200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501})
#: RFC 5861 §4: the error statuses for which stale-if-error applies.
STALE_IF_ERROR_STATUSES = frozenset({500, 502, 503, 504})

# ---------------------------------------------------------------------------
# Storing (RFC 9111 §3)


def not_storable_reason(req: RequestView, resp: ResponseView, options: CacheOptions) -> Optional[str]:
    """Why ``resp`` to ``req`` may not be stored (RFC 9111 §3), or None when it may. A POST
    keyed by its body (``cacheable_methods``, opt-in) is stored under the rules of a GET."""
    if req.method not in CACHEABLE_METHODS and req.body_key is None:
        return f"method {req.method} is not cacheable (RFC 9111 §3)"
    if resp.status < 200:
        return "non-final status (RFC 9111 §3)"
    if resp.status == 304:
        return "a 304 updates a stored response, it is not stored (RFC 9111 §4.3.4)"
    if resp.status == 206 and stored_range(resp.headers) is None:
        return "206 without one byte Content-Range of known length (RFC 9111 §3.3)"
    if "range" in req.headers and resp.status not in (200, 206):
        return "answer to a Range request that is neither 200 nor 206 (RFC 9111 §3.3)"
    if req.facts.directives.no_store:
        return "request no-store (RFC 9111 §5.2.1.5)"
    chosen: Optional[float] = None
    if options._overrides:
        rule = url_rule(req.url, options)
        if rule is not None and rule.never:
            return "DO_NOT_CACHE for its URL (option urls_expire_after)"
        if rule is not None and rule.force:
            return _forced_not_storable(req, resp, options)
        chosen = default_lifetime(rule, options)
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
            not chosen
            and heuristic_lifetime(resp.headers, resp.status, None, options) == 0.0
            and not (options.revalidate and has_validator(resp.headers))  # revalidate off: no use
            and rd.stale_if_error is None
            and rd.stale_while_revalidate is None
        ):
            return "no freshness and no validator: nothing could reuse it (RFC 9111 §4.2.2, §4.3.1)"
    codes = options.cacheable_status_codes
    if codes is not None and resp.status not in codes:
        return f"status {resp.status} is not in the cacheable_status_codes option"
    return None


def _forced_not_storable(req: RequestView, resp: ResponseView, options: CacheOptions) -> Optional[str]:
    """``not_storable_reason`` under a ``Force`` rule of ``urls_expire_after``: the
    response's own no-store, no-cache, private and must-understand (RFC 9111 §3, §5.2.2)
    are not obeyed, by the user's choice. Kept: the request's own no-store (the caller
    asked), statuses that have a meaning to reuse (heuristically cacheable, RFC 9110
    §15.1), Vary: * (nothing could match it, §4.1), and, in a shared cache, §3.5's
    Authorization rule: forced caching never hands one user's response to another (in a
    private cache the credentials keep separating entries, §4.1)."""
    if resp.status not in HEURISTIC_STATUSES:
        return f"status {resp.status} is not cached even when forced (RFC 9110 §15.1)"
    if options.shared and "authorization" in req.headers:
        return "Authorization in a shared cache: not cached even when forced (RFC 9111 §3.5)"
    if "*" in parse_field_names(resp.headers.get("vary")):
        return "Vary: * never matches (RFC 9111 §4.1)"
    return None


def forced(url: str, options: CacheOptions) -> bool:
    """Is ``url`` under a ``Force`` rule of ``urls_expire_after`` (its response's own
    directives not obeyed: see ``_forced_not_storable``)?"""
    if not options._url_rules:
        return False
    rule = url_rule(url, options)
    return rule is not None and rule.force


def headers_to_store(req: RequestView, resp: ResponseView, options: CacheOptions) -> Headers:
    """The response's fields as stored: no connection-specific fields (RFC 9111 §3.1), no
    fields listed by qualified no-cache (§5.2.2.4) or, in a shared cache, private (§5.2.2.7)."""
    drop = set(HOP_BY_HOP) | set(parse_field_names(resp.headers.get("connection")))
    drop.update(fields_never_reused(resp.headers, options))
    return resp.headers.without(drop)


def cached_by_body(req: RequestView) -> bool:
    """Is ``req`` a POST looked up and stored by its body (``cacheable_methods``, opt-in;
    its transport set ``body_key``)? Its answer still invalidates the URL (RFC 9111 §4.4)."""
    return req.body_key is not None


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
# Decisions (RFC 9111 §4)


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


def decide(req: RequestView, stored: Optional[StoredResponse], now: float, options: CacheOptions) -> Decision:
    """RFC 9111 §4: may ``stored`` satisfy ``req`` at ``now``, and if not, what to send."""
    rq = req.facts.directives
    if stored is None:
        if rq.only_if_cached:
            return GatewayTimeout("only-if-cached and nothing stored (RFC 9111 §5.2.1.7)")
        return Miss("nothing stored (RFC 9111 §4)")
    rd = stored_directives(stored, options)
    age = current_age(stored, now)
    lifetime = freshness_lifetime(stored, options)
    fresh = lifetime > age  # §4.2
    reason: str
    requested = False  # fresh, but the request asks for validation (RFC 9211 §2.2 fwd=request)
    overridden = options._overrides and forced(stored.url, options)
    if rq.no_cache:
        reason, requested = "request no-cache (RFC 9111 §5.2.1.4)", fresh
    elif rd.no_cache and not overridden:
        reason = "response no-cache (RFC 9111 §5.2.2.4)"
    elif not overridden and holds_fields_never_reused(stored.headers, rd, options):
        # never served without revalidation, fresh or stale
        reason = "holds a field named by qualified no-cache or private (RFC 9111 §5.2.2.4, §5.2.2.7)"
    elif fresh:
        if rq.max_age is not None and age > rq.max_age and not rd.immutable:
            # §5.2.1.1 limits the acceptable age; RFC 8246 immutable skips it while fresh
            reason, requested = "older than request max-age (RFC 9111 §5.2.1.1)", True
        elif rq.min_fresh is not None and lifetime - age < rq.min_fresh:
            reason, requested = "not fresh for request min-fresh (RFC 9111 §5.2.1.3)", True
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
            return StaleWhileRevalidate(age, _validators(stored, options))
    if rq.only_if_cached:
        return GatewayTimeout(f"only-if-cached and {reason} (RFC 9111 §5.2.1.7)")
    # a POST cached by its body is sent again as it was: preconditions on a POST ask the
    # origin another question (RFC 9110 §13.1.2)
    allowed = stale_if_error_allowed(req, stored, age, lifetime, options)
    return Validate(_validators(stored, options), reason, allowed, requested)


def _store_reason(req: RequestView, options: CacheOptions) -> str:
    """Why a response is stored (RFC 9111 §3), naming the user's rule where one decides."""
    if not options._overrides:
        return "storable (RFC 9111 §3)"
    rule = url_rule(req.url, options)
    if rule is not None and rule.force:
        return "stored by a Force rule of option urls_expire_after, whatever its directives (departs from RFC 9111 §3)"
    notes = []
    if default_lifetime(rule, options) is not None:
        option = "urls_expire_after" if rule is not None and rule.lifetime is not None else "expire_after"
        notes.append(f"without explicit freshness its lifetime is option {option}'s (in place of §4.2.2)")
    if options._max_ttl is not None:
        notes.append("its lifetime at most option max_ttl")
    return "; ".join(["storable (RFC 9111 §3)", *notes])


def _validators(stored: StoredResponse, options: CacheOptions) -> tuple[tuple[str, str], ...]:
    """The conditional fields to revalidate ``stored`` with (RFC 9111 §4.3.1); none with the
    ``revalidate=False`` option (cachecontrol's ``cache_etags=False``): the request is then
    sent as it is, and its answer replaces the stored response (§4.3.3 does not apply)."""
    return conditional_headers(stored) if options.revalidate and stored.body_key is None else ()


def decide_in_mode(
    mode: str, req: RequestView, stored: Optional[StoredResponse], now: float, options: CacheOptions
) -> Decision:
    """``decide`` in one of the user's modes (``CacheOptions.mode``, ``httpcache.settings``):

    - ``refresh``: a stored response is revalidated before it is used, as if the request
      said ``no-cache`` (RFC 9111 §5.2.1.4): conditional when it has a validator (§4.3.1);
    - ``only-if-cached``: as if the request said ``only-if-cached`` (§5.2.1.7): a response
      that may be used as it is, or a 504;
    - ``offline``: any stored response, stale ones too (a cache that cannot reach the
      origin may serve stale, §4.2.4), except where a directive forbids serving it stale
      (must-revalidate, no-cache...: §4.2.4's MUST NOT stands); else a 504;
    - the other modes decide as ``decide`` (their difference is in what the engine writes
      or whether it looks the cache up at all).
    """
    decision = decide(req, stored, now, options)
    if mode == "refresh":
        if stored is not None and isinstance(decision, (Fresh, StaleAllowed, StaleWhileRevalidate)):
            age = current_age(stored, now)
            allowed = stale_if_error_allowed(req, stored, age, freshness_lifetime(stored, options), options)
            return Validate(_validators(stored, options), "mode refresh: revalidated before use", allowed, True)
        return decision
    if mode == "only-if-cached":
        if isinstance(decision, (Miss, Validate)):
            return GatewayTimeout(f"mode only-if-cached: {decision.reason}")
        if isinstance(decision, StaleWhileRevalidate):  # nothing goes to the origin, not even later
            return StaleAllowed(decision.age, "mode only-if-cached: stale-while-revalidate (RFC 5861 §3)")
        return decision
    if mode == "offline":
        if isinstance(decision, Miss):
            return GatewayTimeout(f"mode offline: {decision.reason}")
        if stored is None or not isinstance(decision, (Validate, StaleWhileRevalidate)):
            return decision
        rd = stored_directives(stored, options)
        forbidden = _stale_forbidden(rd, options)
        if forbidden is None and holds_fields_never_reused(stored.headers, rd, options):
            forbidden = "holds a field named by qualified no-cache or private (RFC 9111 §5.2.2.4, §5.2.2.7)"
        if forbidden is not None and not (options._overrides and forced(stored.url, options)):
            return GatewayTimeout(f"mode offline: not served stale: {forbidden} (RFC 9111 §4.2.4)")
        return StaleAllowed(current_age(stored, now), "mode offline: served stale, disconnected (RFC 9111 §4.2.4)")
    return decision


def stale_if_error_allowed(
    req: RequestView, stored: StoredResponse, age: float, lifetime: float, options: CacheOptions
) -> bool:
    """RFC 5861 §4: on an error, may the stale response be served? Never against
    must-revalidate and its kin (RFC 9111 §4.2.4 "MUST NOT")."""
    rd = stored_directives(stored, options)
    if _stale_forbidden(rd, options) is not None or holds_fields_never_reused(stored.headers, rd, options):
        return False
    windows = [w for w in (rd.stale_if_error, req.facts.directives.stale_if_error) if w is not None]
    return bool(windows) and age - lifetime <= max(windows)


# ---------------------------------------------------------------------------
# After the response (RFC 9111 §3, §4.3.4, §4.3.5; RFC 5861 §4)


def only_if_cached(req: RequestView) -> bool:
    """RFC 9111 §5.2.1.7: the request takes only a stored response; one that none can
    answer (a Range or a precondition request included) is never forwarded: a 504."""
    return req.facts.directives.only_if_cached


def answered_for_itself(req: RequestView) -> bool:
    """Is the answer to ``req`` its own, saying nothing of what another request for the URL
    would get? A conditional request is answered for the caller's copy (a 304, RFC 9110
    §13.1) and a request no-store keeps its answer out of the cache (RFC 9111 §5.2.1.5):
    such an answer never decides for other callers (coalescing, hit-for-pass)."""
    return req.facts.is_conditional or req.facts.directives.no_store


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
        return Store(_store_reason(req, options))
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

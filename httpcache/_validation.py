"""Validation (RFC 9111 §4.3): the conditional fields we send (§4.3.1), answering a
conditional request from the cache (§4.3.2), the stored response a 304 selects and its
freshening (§4.3.4, §3.2), HEAD responses (§4.3.5); and the fields a qualified no-cache
or private keeps out of a stored response (§5.2.2.4, §5.2.2.7). Pure; re-exported by
``policy``."""

from __future__ import annotations

from typing import Optional

from ._directives import ResponseDirectives, effective_directives
from ._headers import Headers, etag_weak_match, parse_etags, parse_field_names, parse_http_date
from ._vary import normalize_field, vary_names
from .models import CONDITIONAL_FIELDS, PRECONDITION_FIELDS, CacheOptions, RequestView, ResponseView, StoredResponse

__all__ = [
    "CONDITIONAL_FIELDS",
    "HOP_BY_HOP",
    "NOT_MODIFIED_FIELDS",
    "NOT_UPDATED_BY_304",
    "PRECONDITION_FIELDS",
    "conditional_headers",
    "evaluate_conditional",
    "fields_never_reused",
    "freshen",
    "has_preconditions",
    "head_invalidates",
    "holds_fields_never_reused",
    "is_conditional",
    "not_modified_headers",
    "validator_matches",
    "without_fields_never_reused",
]

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


def holds_fields_never_reused(headers: Headers, rd: ResponseDirectives, options: CacheOptions) -> bool:
    """Does a stored response still hold a field its directives ``rd`` keep out (stored by
    an older version or other options, or merged in from a 304)? RFC 9111 §5.2.2.4, §5.2.2.7.
    Two tests when none are named."""
    if not rd.no_cache_fields and not (options.shared and rd.private_fields):
        return False
    return any(name in headers for name in fields_never_reused(headers, options))


# ---------------------------------------------------------------------------
# §4.3.1, §4.3.2: conditional requests


def conditional_headers(stored: StoredResponse) -> tuple[tuple[str, str], ...]:
    """RFC 9111 §4.3.1: If-None-Match from ETag, If-Modified-Since from a valid Last-Modified."""
    fields: list[tuple[str, str]] = []
    facts = stored.facts
    if facts.etag:
        fields.append(("If-None-Match", facts.etag))
    if facts.last_modified is not None:
        fields.append(("If-Modified-Since", facts.combined["last-modified"][1]))
    return tuple(fields)


def is_conditional(req: RequestView) -> bool:
    """If-None-Match or If-Modified-Since (RFC 9110 §13.1): the caller validates its own copy."""
    return req.facts.is_conditional


def has_preconditions(req: RequestView) -> bool:
    """If-Match, If-Unmodified-Since and If-Range are for the origin to evaluate (RFC 9110 §13.1, §13.2.1)."""
    return req.facts.has_preconditions


def evaluate_conditional(req: RequestView, stored: StoredResponse) -> bool:
    """RFC 9111 §4.3.2 / RFC 9110 §13.2.2: True when the request's If-None-Match (or,
    without it, If-Modified-Since) says the client's copy is current: answer 304."""
    inm = req.headers.get("if-none-match")
    if inm is not None:
        tags = parse_etags(inm)
        etag = stored.facts.etag
        if "*" in tags:
            return True
        return etag is not None and any(etag_weak_match(t, etag) for t in tags)
    ims = parse_http_date(req.headers.get("if-modified-since"), stored.response_time)
    if ims is None:
        return False
    # RFC 9111 §4.3.2: Last-Modified, else Date, else the time the response was received
    facts = stored.facts
    last_modified = facts.last_modified if facts.last_modified is not None else facts.date
    return (stored.response_time if last_modified is None else last_modified) <= ims


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
        old = stored.facts.etag
        return old is not None and etag_weak_match(old, new_etag)
    new_lm = parse_http_date(resp.headers.get("last-modified"), stored.response_time)
    if new_lm is not None:
        old_lm = stored.facts.last_modified
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
    old_etag, new_etag = stored.facts.etag, resp.headers.get("etag")
    if old_etag and new_etag and old_etag.strip().startswith("W/") and not new_etag.strip().startswith("W/"):
        drop.add("etag")  # weakly equal (the 304 selected it); else it is a contradiction
    headers = stored.headers.replaced(resp.headers.without(drop))
    if options is not None:
        headers = without_fields_never_reused(headers, options)
    vary = stored.vary
    names = vary_names(headers)
    if options is not None and options._match_headers:  # the user's explicit Vary stays
        names = names + options._match_headers
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

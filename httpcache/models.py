"""Frozen values the policy reasons about: request and response views, stored
responses and the cache's options. No I/O here and no import of ``requests``.

A stored response and a request view carry their facts (``StoredFacts``,
``RequestFacts``): what the policy and the transport read of them, parsed once when
they are built (``__post_init__``), so a cache hit parses nothing.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Collection, Mapping, NamedTuple, Optional, Protocol, Union

from ._directives import RequestDirectives, ResponseDirectives, parse_request_directives, parse_response_directives
from ._headers import Headers, parse_age, parse_field_names, parse_http_date
from ._rules import MODES, UrlRule, UrlRulesArg, compile_rules, lifetime_seconds, url_rules
from .exceptions import HTTPCacheError


class Heuristic(Protocol):
    """What ``CacheOptions.heuristic`` is: cachecontrol's heuristic API
    (``httpcache.heuristics.BaseHeuristic``)."""

    def apply(self, response: Any) -> Any: ...


__all__ = ["CacheOptions", "RequestFacts", "RequestView", "ResponseView", "StoredFacts", "StoredResponse"]


@dataclass(frozen=True)
class CacheOptions:
    """How the cache behaves. Immutable: use ``options.replace(...)`` for a changed copy.

    - ``shared``: apply the shared-cache rules of RFC 9111 (``s-maxage``,
      ``proxy-revalidate``, ``private`` not stored, §3.5 ``Authorization``).
      The default is a private cache, the one a ``requests.Session`` is.
    - ``heuristic_fraction`` / ``heuristic_max``: heuristic freshness (§4.2.2) is
      ``heuristic_fraction * (Date - Last-Modified)``, at most ``heuristic_max``
      seconds. ``heuristic_fraction=0`` turns heuristic freshness off.
    - ``permanent_redirect_lifetime``: the heuristic freshness lifetime (§4.2.2) of a
      301 or 308 (heuristically cacheable: RFC 9110 §15.4.2, §15.4.9) that has no
      explicit freshness and no Last-Modified to take a fraction of; at most
      ``heuristic_max``. ``0`` turns it off, as does ``heuristic_fraction=0``. The
      default, an hour, spares the round trip of a redirect followed again and again
      while a permanent redirect set by mistake is undone within the hour.
    - ``max_variants``: how many Vary variants are kept per URL (oldest dropped).
    - ``surrogate``: act as a surrogate (a gateway / reverse-proxy cache) with this
      device token: announce ``Surrogate-Capability`` and obey ``Surrogate-Control``
      directives addressed to it, which take precedence over Cache-Control
      (W3C Edge Architecture Specification 1.0). Needs ``shared=True``.
    - ``targeted_fields``: for a surrogate only, its target list (RFC 9213 §2.2), most
      specific first: the first of these fields present with a valid, non-empty value
      (a Structured Field Dictionary) is obeyed instead of Cache-Control and Expires.
      ``()`` turns targeted fields off. A cache without ``surrogate`` ignores them.
    - ``coalesce_timeout``: concurrent misses for one URL in one process make one
      origin request; the others wait up to this many seconds for it to be stored
      (then send their own). ``0`` turns coalescing off.
    - ``cache_status``: add an RFC 9211 ``Cache-Status`` member naming this cache (e.g.
      ``"httpcache"``) to every response handed over; None (the default) adds none.

    cachecontrol's options (README "Coming from cachecontrol"):

    - ``heuristic``: a ``httpcache.heuristics.BaseHeuristic`` applied to each origin
      response to a request of a cacheable method before it is considered for storing
      (it may rewrite its fields: an explicit override of the origin's freshness).
    - ``cacheable_status_codes``: only responses with one of these statuses are stored.
      ``None`` (the default): every status RFC 9111 §3 allows (a final status, with
      explicit freshness or, for the heuristically cacheable ones, §4.2.2).
    - ``cacheable_methods``: the methods whose responses are looked up and stored,
      among ``GET``, ``HEAD`` (RFC 9111 §3; the default is both) and ``POST`` (opt-in:
      POST responses are then looked up and stored too, keyed by a digest of the
      request's body, ``RequestView.body_key``; README "What is stored and how it is found").
    - ``revalidate``: ``False`` (cachecontrol's ``cache_etags=False``): a stale stored
      response is never revalidated with its validators (§4.3.1): the request is sent
      as it is and its answer replaces it; a response with no freshness is not stored
      for its validators alone.

    Opt-in departures from RFC 9111 (README.rst "Expiry you choose", "What is stored and
    how it is found", "Modes"); their defaults leave the cache RFC 9111 exactly:

    - ``expire_after``: seconds (or a ``timedelta``) of freshness for a response with no
      explicit freshness (no max-age, s-maxage, Expires), in place of heuristic
      freshness (§4.2.2); statuses as for heuristics.
    - ``urls_expire_after``: rules by URL pattern (a glob string, or ``re.compile(...)``),
      the first match wins: a lifetime (as ``expire_after``, for its URLs),
      ``Force(lifetime)`` (cached whatever the headers say) or ``DO_NOT_CACHE``.
    - ``max_ttl``: at most this many seconds of freshness, whatever the origin asks.
    - ``filter_fn``: called with the origin's response (its body not read yet) when the
      rules would store it; False keeps it out of the cache.
    - ``ignored_parameters``: query parameters and request header fields left out of the
      key and of what is stored (the request sent keeps them).
    - ``match_headers``: request header fields that select a stored response, as if every
      response named them in Vary (§4.1).
    - ``key_fn``: maps a request's URL (normalised, ignored parameters removed) to the
      URL it is cached under: requests mapped to one URL share its entries.
    - ``mode``: the session's default mode (``httpcache.settings`` for a block of code);
      ``raise_on_miss``: ``only-if-cached`` / ``offline`` raise ``CacheMissError`` rather than
      answer 504.
    """

    shared: bool = False
    heuristic_fraction: float = 0.1
    heuristic_max: float = 86400.0
    permanent_redirect_lifetime: float = 3600.0
    max_variants: int = 16
    surrogate: Optional[str] = None
    targeted_fields: tuple[str, ...] = ("CDN-Cache-Control",)
    coalesce_timeout: float = 10.0
    cache_status: Optional[str] = None
    heuristic: Optional[Heuristic] = None
    cacheable_status_codes: Optional[frozenset[int]] = None
    cacheable_methods: tuple[str, ...] = ("GET", "HEAD")
    revalidate: bool = True
    expire_after: Union[float, timedelta, None] = None
    urls_expire_after: UrlRulesArg = ()
    max_ttl: Union[float, timedelta, None] = None
    filter_fn: Optional[Callable[[Any], bool]] = None
    ignored_parameters: tuple[str, ...] = ()
    match_headers: tuple[str, ...] = ()
    mode: str = "default"
    raise_on_miss: bool = False
    key_fn: Optional[Callable[[str], str]] = None
    # Derived once, when the options are built (compiled patterns, normalised names): set on
    # the instance by __post_init__, not fields (the options are the fields above).
    _expire_after: ClassVar[Optional[float]] = None
    _max_ttl: ClassVar[Optional[float]] = None
    _url_rules: ClassVar[tuple[UrlRule, ...]] = ()
    _ignored_query: ClassVar[frozenset[str]] = frozenset()
    _ignored_headers: ClassVar[frozenset[str]] = frozenset()
    _match_headers: ClassVar[tuple[str, ...]] = ()
    #: any expiry override (expire_after, urls_expire_after, max_ttl): the policy's one check
    _overrides: ClassVar[bool] = False
    #: "POST" in cacheable_methods: POST responses are looked up and stored, keyed by body
    _post_cacheable: ClassVar[bool] = False
    #: ignored_parameters or key_fn: the request the cache sees is rewritten (policy.cache_view)
    _rewrites: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._check_rfc_options()
        _check_compat_options(self)
        derive = functools.partial(object.__setattr__, self)  # derived fields, at construction only
        if self.expire_after is not None:
            derive("_expire_after", lifetime_seconds(self.expire_after, "expire_after"))
        if self.max_ttl is not None:
            derive("_max_ttl", lifetime_seconds(self.max_ttl, "max_ttl"))
        pairs = compile_rules(self.urls_expire_after)
        derive("urls_expire_after", pairs)
        derive("_url_rules", url_rules(pairs))
        derive("_overrides", bool(pairs) or self.expire_after is not None or self.max_ttl is not None)
        if self.filter_fn is not None and not callable(self.filter_fn):
            raise HTTPCacheError("filter_fn must be callable (response -> bool)")
        for option in ("ignored_parameters", "match_headers"):
            names = getattr(self, option)
            if isinstance(names, str) or not isinstance(names, (tuple, list, frozenset, set)):
                raise HTTPCacheError(f"{option} must be a tuple of names")
            if not all(isinstance(name, str) and name for name in names):
                raise HTTPCacheError(f"{option} must be a tuple of non-empty names")
            derive(option, tuple(names))
        derive("_ignored_query", frozenset(self.ignored_parameters))
        derive("_ignored_headers", frozenset(n.lower() for n in self.ignored_parameters if _is_token(n)))
        if not all(_is_token(name) for name in self.match_headers):
            raise HTTPCacheError("match_headers must be header field names")
        derive("_match_headers", tuple(dict.fromkeys(name.lower() for name in self.match_headers)))
        derive("_post_cacheable", "POST" in self.cacheable_methods)
        if self.key_fn is not None and not callable(self.key_fn):
            raise HTTPCacheError("key_fn must be callable (url -> the url it is cached under)")
        derive("_rewrites", bool(self._ignored_query or self._ignored_headers or self.key_fn))
        if self.mode not in MODES:
            raise HTTPCacheError(f"mode must be one of {', '.join(sorted(MODES))}, not {self.mode!r}")

    def _check_rfc_options(self) -> None:
        if not 0 <= self.coalesce_timeout < math.inf:  # NaN too
            raise HTTPCacheError("coalesce_timeout must be a finite number >= 0 (0 turns coalescing off)")
        if self.surrogate is not None:
            if not self.shared:
                raise HTTPCacheError("surrogate needs shared=True: a surrogate is a shared cache")
            if not self.surrogate or not all(c.isalnum() or c in "-_." for c in self.surrogate):
                raise HTTPCacheError("surrogate must be a token of letters, digits, '-', '_' or '.'")
        if not isinstance(self.targeted_fields, tuple) or not all(
            isinstance(name, str) and _is_token(name) and name.lower() != "cache-control"
            for name in self.targeted_fields
        ):
            raise HTTPCacheError("targeted_fields must be a tuple of field names other than Cache-Control")
        if not 0.0 <= self.heuristic_fraction <= 1.0:
            raise HTTPCacheError("heuristic_fraction must be between 0 and 1")
        if not 0 <= self.heuristic_max < math.inf:  # NaN too
            raise HTTPCacheError("heuristic_max must be a finite number of seconds >= 0")
        if not 0 <= self.permanent_redirect_lifetime < math.inf:  # NaN too
            raise HTTPCacheError("permanent_redirect_lifetime must be >= 0 (0 turns it off)")
        if self.cache_status is not None and not _is_sf_token(self.cache_status):
            raise HTTPCacheError("cache_status must be a cache's name, an RFC 8941 token such as 'httpcache'")
        if self.max_variants < 1:
            raise HTTPCacheError("max_variants must be >= 1")

    def replace(self, **changes: object) -> CacheOptions:
        return replace(self, **changes)  # type: ignore[arg-type]

    def given(self, **changes: object) -> CacheOptions:
        """A copy with those of ``changes`` that are not None (None: keep this value). The
        keyword forms of ``CacheControl`` and ``CacheControlAdapter`` build their options
        this way, so every default lives here, once."""
        present = {name: value for name, value in changes.items() if value is not None}
        return self.replace(**present) if present else self


def _is_sf_token(name: object) -> bool:
    """RFC 8941 §3.3.4: a Token starts with a letter or ``*``; then tchar, ``:`` or ``/``."""
    return (
        isinstance(name, str)
        and bool(name)
        and name[0].isascii()
        and (name[0].isalpha() or name[0] == "*")
        and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~:/") for c in name)
    )


#: The methods ``cacheable_methods`` may name (RFC 9111 §3; POST: RFC 9110 §9.3.3).
_KNOWN_METHODS = ("GET", "HEAD", "POST")


def _check_compat_options(options: CacheOptions) -> None:
    """Check and normalise cachecontrol's options (``heuristic``, ``cacheable_status_codes``,
    ``cacheable_methods``, ``revalidate``) once, when the options are built."""
    heuristic = options.heuristic
    if heuristic is not None and not callable(getattr(heuristic, "apply", None)):
        raise HTTPCacheError("heuristic must have an apply(response) method (a httpcache.heuristics.BaseHeuristic)")
    codes: Optional[Collection[object]] = options.cacheable_status_codes
    if codes is not None:
        if isinstance(codes, (str, bytes)) or not all(
            isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 999 for c in codes
        ):
            raise HTTPCacheError("cacheable_status_codes must be a collection of status codes (ints), or None")
        object.__setattr__(options, "cacheable_status_codes", frozenset(codes))
    methods: Collection[object] = options.cacheable_methods
    if isinstance(methods, (str, bytes)) or not methods or not all(isinstance(m, str) for m in methods):
        raise HTTPCacheError("cacheable_methods must be a non-empty collection of method names")
    upper = tuple(dict.fromkeys(str(m).upper() for m in methods))
    unknown = [m for m in upper if m not in _KNOWN_METHODS]
    if unknown:
        raise HTTPCacheError(f"cacheable_methods: {', '.join(unknown)} not supported (only GET, HEAD, POST)")
    object.__setattr__(options, "cacheable_methods", upper)
    if not isinstance(options.revalidate, bool):
        raise HTTPCacheError("revalidate must be True or False")


def _is_token(name: str) -> bool:
    """RFC 9110 §5.1: a field name is a token."""
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)


#: Request fields that make a request conditional (RFC 9110 §13.1), and those whose
#: preconditions are for the origin to evaluate (If-Match, If-Unmodified-Since, If-Range).
CONDITIONAL_FIELDS = ("if-none-match", "if-modified-since")
PRECONDITION_FIELDS = ("if-match", "if-unmodified-since", "if-range")


class RequestFacts(NamedTuple):
    """What the policy reads of a request, parsed once when its view is built.

    ``directives``: its Cache-Control (RFC 9111 §5.2.1), or Pragma without it (§5.4);
    ``is_conditional``: If-None-Match or If-Modified-Since (RFC 9110 §13.1);
    ``has_preconditions``: If-Match, If-Unmodified-Since or If-Range;
    ``auth_digest``: a SHA-256 hex digest of its Authorization, or None: in a private cache
    credentials act as an implicit Vary (the digest, never the credentials, is compared and
    stored).
    """

    directives: RequestDirectives
    is_conditional: bool
    has_preconditions: bool
    auth_digest: Optional[str]


_CONDITIONAL = frozenset(CONDITIONAL_FIELDS)
_PRECONDITIONS = frozenset(PRECONDITION_FIELDS)


def _request_facts(headers: Headers) -> RequestFacts:
    cc_value = headers.get("cache-control")
    authorization = headers.get("authorization")
    return RequestFacts(
        parse_request_directives(cc_value, headers.get("pragma") if cc_value is None else None),
        headers.has_any(_CONDITIONAL),
        headers.has_any(_PRECONDITIONS),
        None if authorization is None else credential_digest(authorization),
    )


def credential_digest(value: str) -> str:
    """A SHA-256 hex digest of a credential (an Authorization value): what is compared and
    stored in its place (RFC 9111 §4.1: private mode's implicit Vary)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class RequestView:
    """What the policy needs of a request: method, absolute URL, header fields; and its
    ``facts``, parsed from them once, when it is built."""

    method: str
    url: str
    headers: Headers
    #: a POST cached by its body (``CacheOptions.cacheable_methods``): a digest of the
    #: body, part of its key; None for every other request
    body_key: Optional[str] = None
    facts: RequestFacts = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # a field derived from the others, computed once at construction (frozen: no write later)
        object.__setattr__(self, "facts", _request_facts(self.headers))


@dataclass(frozen=True)
class ResponseView:
    """What the policy needs of a response as received: status and header fields."""

    status: int
    headers: Headers
    reason: str = ""


class StoredFacts(NamedTuple):
    """What the policy and the transport read of a stored response, parsed once when it is
    built (written, decoded or freshened) and kept with it, never recomputed.

    For the policy: ``directives`` (Cache-Control, RFC 9111 §5.2.2); ``date``, ``expires``,
    ``last_modified`` (HTTP-dates, RFC 9110 §5.6.7, two-digit years placed against the time
    it was received; None when absent or invalid), ``has_expires`` (an Expires is there:
    an invalid one means already expired, §5.3); ``age`` (the Age field, §5.1);
    ``corrected_initial_age`` (§4.2.3: apparent age, corrected Age and response delay);
    ``etag``; ``vary_names`` (§4.1, lower-cased).

    For building responses from it (the transport): ``lines_without_age`` (its field lines
    but Age, in order); ``combined`` (lower-cased name -> (first name, every value joined
    with ", "), RFC 9110 §5.3, in first-seen order, Age left out: a response built from it
    carries its own); ``identity_coded`` (no content coding, RFC 9110 §8.4.1);
    ``content_type``.

    The facts hold for any options. What depends on them (a surrogate's targeted field,
    RFC 9213, and its Surrogate-Control) is read from the stored fields by ``_directives``'
    parsers, memoised by field value. A ``NamedTuple``: immutable, and cheap to build (each
    decoded entry builds one).
    """

    directives: ResponseDirectives
    date: Optional[float]
    expires: Optional[float]
    has_expires: bool
    last_modified: Optional[float]
    age: Optional[int]
    corrected_initial_age: float
    etag: Optional[str]
    vary_names: tuple[str, ...]
    lines_without_age: tuple[tuple[str, str], ...]
    combined: Mapping[str, tuple[str, str]]
    identity_coded: bool
    content_type: Optional[str]


def _stored_facts(headers: Headers, request_time: float, response_time: float) -> StoredFacts:
    has_age = headers.has_any(_AGE)
    age = parse_age(headers.get("age")) if has_age else None
    lines = tuple(line for line in headers.items() if line[0].lower() != "age") if has_age else headers.items()
    combined = headers.combined(leave_out="age")
    get = combined.get
    cache_control, date_line, expires_line = get("cache-control"), get("date"), get("expires")
    last_modified_line, etag_line, vary_line = get("last-modified"), get("etag"), get("vary")
    coding_line, type_line = get("content-encoding"), get("content-type")
    date = None if date_line is None else parse_http_date(date_line[1], response_time)
    # RFC 9111 §4.2.3: corrected_initial_age = max(apparent_age, corrected_age_value); a Date
    # ahead of our clock gives an apparent age of 0, never a negative one
    apparent_age = 0.0 if date is None else max(0.0, response_time - date)
    corrected_age_value = (age or 0) + max(0.0, response_time - request_time)
    coding = None if coding_line is None else coding_line[1].strip().lower()
    return StoredFacts(
        parse_response_directives(None if cache_control is None else cache_control[1]),
        date,
        None if expires_line is None else parse_http_date(expires_line[1], response_time),
        expires_line is not None,
        None if last_modified_line is None else parse_http_date(last_modified_line[1], response_time),
        age,
        max(apparent_age, corrected_age_value),
        None if etag_line is None else etag_line[1],
        () if vary_line is None else _field_names(vary_line[1]),
        lines,
        MappingProxyType(combined),
        coding is None or coding in ("", "identity"),
        None if type_line is None else type_line[1],
    )


_AGE = frozenset({"age"})


@functools.lru_cache(maxsize=256)
def _field_names(value: str) -> tuple[str, ...]:
    """``parse_field_names`` as a tuple, memoised by the value (a Vary: few distinct ones)."""
    return tuple(parse_field_names(value))


@dataclass(frozen=True)
class StoredResponse:
    """A response in the cache, with what §4.2.3 and §4.1 need to judge it later.

    Its head, the value the policy judges: the body is not part of it, only its length
    (``body_length``). The body is the store's: an ``_body.Entry`` holds a stored
    response with its body, in memory or read from the store, and owns what it opened.

    ``vary`` holds, for each field named by the response's Vary, the normalised
    value the original request had (None when absent). ``auth`` is a digest of
    the Authorization the response was obtained with (private mode), or None.
    ``body_key``: for a POST response cached by its body, the request's ``body_key``.
    ``facts``: what is read of it, parsed from the fields above once, when it is built
    (``replace`` builds a new one, with its own facts).
    """

    url: str
    method: str
    status: int
    reason: str
    headers: Headers
    body_length: int
    request_time: float
    response_time: float
    vary: Mapping[str, Optional[str]] = field(default_factory=dict)
    auth: Optional[str] = None
    body_key: Optional[str] = None
    facts: StoredFacts = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # a field derived from the others, computed once at construction (frozen: no write later)
        object.__setattr__(self, "facts", _stored_facts(self.headers, self.request_time, self.response_time))

    def __reduce__(self) -> tuple[type[StoredResponse], tuple[object, ...]]:
        """Pickled and copied as its fields, built again (its facts are worked out anew)."""
        return type(self), (
            self.url,
            self.method,
            self.status,
            self.reason,
            self.headers,
            self.body_length,
            self.request_time,
            self.response_time,
            self.vary,
            self.auth,
            self.body_key,
        )

    def replace(self, **changes: object) -> StoredResponse:
        return replace(self, **changes)  # type: ignore[arg-type]

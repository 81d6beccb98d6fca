"""Cache directives, parsed: what a message asks of a cache, as frozen values.

The request directives of RFC 9111 §5.2.1 (and Pragma, §5.4) and the response
directives of §5.2.2 (with RFC 5861 and RFC 8246 extensions); for a surrogate, the
targeted fields of RFC 9213 (CDN-Cache-Control) it obeys instead of Cache-Control and
Expires, and the Surrogate-Control directives addressed to it (W3C Edge Architecture
1.0). Parsing only: the rules that act on these live in ``policy``, which re-exports the
public names.

A field value parses once: the parsers are memoised by the value (bounded ``lru_cache``s
of frozen results, keyed by Cache-Control, Pragma, targeted or Surrogate-Control values,
never by a credential). A stored response keeps its Cache-Control directives among its
facts (``models.StoredFacts``), a request view its own (``models.RequestFacts``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional

from ._headers import (
    Headers,
    parse_cache_control,
    parse_delta_seconds,
    parse_field_names,
    parse_targeted_cache_control,
    split_list,
)

if TYPE_CHECKING:  # models imports this module: the options and stored responses are only named here
    from .models import CacheOptions, StoredResponse

__all__ = [
    "RequestDirectives",
    "ResponseDirectives",
    "SurrogateDirectives",
    "request_directives",
    "response_directives",
    "effective_directives",
    "parse_request_directives",
    "parse_response_directives",
    "stored_directives",
    "surrogate_directives",
    "targeted_directives",
]


@dataclass(frozen=True)
class RequestDirectives:
    """RFC 9111 §5.2.1 request directives (and §5.4 Pragma)."""

    no_cache: bool = False
    no_store: bool = False
    max_age: Optional[int] = None
    max_stale: Optional[float] = None
    min_fresh: Optional[int] = None
    only_if_cached: bool = False
    stale_if_error: Optional[int] = None


@dataclass(frozen=True)
class ResponseDirectives:
    """RFC 9111 §5.2.2 response directives (and RFC 5861 / RFC 8246 extensions).

    ``targeted``: read from a targeted field (RFC 9213), so Expires is ignored too (§2.2).
    """

    no_store: bool = False
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    immutable: bool = False
    max_age: Optional[int] = None
    s_maxage: Optional[int] = None
    stale_while_revalidate: Optional[int] = None
    stale_if_error: Optional[int] = None
    targeted: bool = False


def _delta(cc: Mapping[str, Optional[str]], name: str) -> Optional[int]:
    """A delta-seconds directive: None when absent; 0 (stale) when present but invalid."""
    if name not in cc:
        return None
    value = parse_delta_seconds(cc[name])
    return 0 if value is None else value


def request_directives(headers: Headers) -> RequestDirectives:
    """Parse the request's Cache-Control (RFC 9111 §5.2.1), or Pragma (§5.4) without it.
    A request view keeps its own: ``RequestView.facts.directives``."""
    cc_value = headers.get("cache-control")
    return parse_request_directives(cc_value, headers.get("pragma") if cc_value is None else None)


@functools.lru_cache(maxsize=512)
def parse_request_directives(cc_value: Optional[str], pragma: Optional[str]) -> RequestDirectives:
    """A request's Cache-Control value (RFC 9111 §5.2.1), and its Pragma value when it has no
    Cache-Control (§5.4), parsed (frozen, so memoised by the values)."""
    cc = parse_cache_control(cc_value)
    no_cache = "no-cache" in cc
    if cc_value is None and "no-cache" in parse_cache_control(pragma):
        no_cache = True  # RFC 9111 §5.4: Pragma: no-cache only when Cache-Control is absent
    max_stale: Optional[float] = None
    if "max-stale" in cc:
        arg = cc["max-stale"]
        # §5.2.1.2: no value means any staleness is acceptable
        max_stale = math.inf if arg is None else parse_delta_seconds(arg)
    return RequestDirectives(
        no_cache=no_cache,
        no_store="no-store" in cc,
        max_age=_delta(cc, "max-age"),
        max_stale=max_stale,
        min_fresh=parse_delta_seconds(cc.get("min-fresh")) if "min-fresh" in cc else None,
        only_if_cached="only-if-cached" in cc,
        stale_if_error=parse_delta_seconds(cc.get("stale-if-error")) if "stale-if-error" in cc else None,
    )


def response_directives(headers: Headers) -> ResponseDirectives:
    """Parse the response's Cache-Control (RFC 9111 §5.2.2). A stored response keeps its
    own: ``StoredResponse.facts.directives``."""
    return parse_response_directives(headers.get("cache-control"))


@functools.lru_cache(maxsize=512)
def parse_response_directives(value: Optional[str]) -> ResponseDirectives:
    """A response's Cache-Control value (RFC 9111 §5.2.2), parsed (frozen, so memoised by the value)."""
    return _directives_of(parse_cache_control(value))


def _directives_of(cc: Mapping[str, Optional[str]], targeted: bool = False) -> ResponseDirectives:
    no_cache_arg = cc.get("no-cache")
    private_arg = cc.get("private")
    return ResponseDirectives(
        no_store="no-store" in cc,
        # §5.2.2.4: the qualified form only restricts the listed fields
        no_cache="no-cache" in cc and not parse_field_names(no_cache_arg),
        no_cache_fields=tuple(parse_field_names(no_cache_arg)),
        private="private" in cc and not parse_field_names(private_arg),
        private_fields=tuple(parse_field_names(private_arg)),
        public="public" in cc,
        must_revalidate="must-revalidate" in cc,
        proxy_revalidate="proxy-revalidate" in cc,
        must_understand="must-understand" in cc,
        immutable="immutable" in cc,
        max_age=_delta(cc, "max-age"),
        s_maxage=_delta(cc, "s-maxage"),
        stale_while_revalidate=parse_delta_seconds(cc.get("stale-while-revalidate")),
        stale_if_error=parse_delta_seconds(cc.get("stale-if-error")),
        targeted=targeted,
    )


def effective_directives(headers: Headers, options: CacheOptions) -> ResponseDirectives:
    """The response directives this cache obeys: Cache-Control (RFC 9111 §5.2.2) or, for a
    surrogate (a gateway/CDN cache), the first targeted field of ``options.targeted_fields``
    with a valid, non-empty value, "instead of" Cache-Control and Expires (RFC 9213 §2.2).

    Other caches ignore targeted fields ("MUST NOT change that cache's behavior", §2.2): a
    private cache is no CDN, and a shared one is not told which fields target it. Without
    a surrogate this costs one attribute test over ``response_directives``.

    Surrogate-Control directives addressed to this surrogate (``surrogate_directives``)
    keep precedence over these, as over Cache-Control: RFC 9213 §2.2 sets targeted
    fields above Cache-Control and Expires and says nothing of Surrogate-Control, whose
    directives can name this very device (``max-age=60;edge``), more specific than a
    field for every CDN; and a Surrogate-Control a gateway obeys today keeps working.
    """
    if options.surrogate is None or not options.targeted_fields:
        return response_directives(headers)
    targeted = targeted_directives(headers, options.targeted_fields)
    return response_directives(headers) if targeted is None else targeted


def stored_directives(stored: StoredResponse, options: CacheOptions) -> ResponseDirectives:
    """``effective_directives`` of a stored response, from its facts: its Cache-Control
    parsed when it was built; for a surrogate, a targeted field first (RFC 9213 §2.2)."""
    if options.surrogate is None or not options.targeted_fields:
        return stored.facts.directives
    targeted = targeted_directives(stored.headers, options.targeted_fields)
    return stored.facts.directives if targeted is None else targeted


def targeted_directives(headers: Headers, fields: tuple[str, ...]) -> Optional[ResponseDirectives]:
    """The directives of the first of ``fields`` in ``headers`` with a valid, non-empty value
    (RFC 9213 §2.2: "the first (in target-list order) field with a valid, non-empty
    value"), or None when there is none (Cache-Control and Expires then apply)."""
    for name in fields:
        value = headers.get(name)
        if value is not None:
            rd = _targeted_directives(value)
            if rd is not None:
                return rd
    return None


@functools.lru_cache(maxsize=256)
def _targeted_directives(value: str) -> Optional[ResponseDirectives]:
    """A targeted field's directives, None when it is empty or invalid (RFC 9213 §2.1)."""
    cc = parse_targeted_cache_control(value)
    return None if cc is None else _directives_of(cc, targeted=True)


@dataclass(frozen=True)
class SurrogateDirectives:
    """Surrogate-Control directives addressed to this cache (W3C Edge Architecture 1.0 §3)."""

    no_store: bool = False
    max_age: Optional[int] = None


def surrogate_directives(headers: Headers, options: CacheOptions) -> Optional[SurrogateDirectives]:
    """Surrogate-Control members with no target or targeted at ``options.surrogate``
    (``max-age=60;token``, W3C Edge Architecture §3); None when this cache is not a surrogate
    or none apply."""
    if options.surrogate is None:
        return None
    value = headers.get("surrogate-control")
    if not value:
        return None
    return _surrogate_directives(value, options.surrogate.lower())


@functools.lru_cache(maxsize=256)
def _surrogate_directives(value: str, token: str) -> Optional[SurrogateDirectives]:
    """The members of a Surrogate-Control ``value`` for the device ``token`` (lower-cased),
    parsed once per value and token (frozen, so memoised)."""
    no_store, max_age, found = False, None, False
    for member in split_list(value):
        directive, _, target = member.partition(";")
        if target.strip() and target.strip().lower() != token:
            continue
        name, sep, arg = directive.strip().partition("=")
        name = name.lower()
        if name == "no-store" and not sep:
            no_store = found = True
        elif name == "max-age" and sep and max_age is None:
            max_age = parse_delta_seconds(arg) if arg == arg.strip() else None
            found = found or max_age is not None
    return SurrogateDirectives(no_store, max_age) if found else None

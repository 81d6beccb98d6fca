"""Vary and credentials (RFC 9111 §4.1): the fields a response varies on, their
normalised values, the implicit Vary of a private cache's credentials, and the choice
among matching stored responses. Pure; re-exported by ``policy``."""

from __future__ import annotations

from typing import Optional, Sequence

from ._headers import Headers, parse_field_names
from .models import CacheOptions, RequestView, StoredResponse, credential_digest

__all__ = [
    "auth_digest",
    "most_recent",
    "normalize_field",
    "request_auth_digest",
    "variant_matches",
    "vary_names",
    "vary_values",
]


def vary_names(headers: Headers) -> tuple[str, ...]:
    """Field names listed by Vary, lower-cased (RFC 9111 §4.1). A stored response keeps
    its own: ``StoredResponse.facts.vary_names``."""
    value = headers.get("vary")
    return () if value is None else tuple(parse_field_names(value))


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
    """The request's normalised values of the fields a response varies on (RFC 9111 §4.1)."""
    return {name: normalize_field(req_headers.get_all(name), name) for name in names if name != "*"}


def auth_digest(req_headers: Headers, options: CacheOptions) -> Optional[str]:
    """In a private cache, a digest of the request's credentials (never the credentials):
    Authorization acts as an implicit Vary (RFC 9111 §4.1; §3.5 for a shared cache).
    A request view has its own, worked out once: ``request_auth_digest``."""
    if options.shared:
        return None
    value = req_headers.get("authorization")
    return None if value is None else credential_digest(value)


def request_auth_digest(req: RequestView, options: CacheOptions) -> Optional[str]:
    """``auth_digest`` of a request, from its facts: in a private cache, a digest of its
    Authorization, the implicit Vary of RFC 9111 §4.1 (§3.5); None in a shared cache."""
    return None if options.shared else req.facts.auth_digest


def variant_matches(req: RequestView, stored: StoredResponse, options: CacheOptions) -> bool:
    """RFC 9111 §4.1: the stored response's Vary fields match the request's, and (private
    mode) it was obtained with the same Authorization (or both without); and so do the
    fields of ``options.match_headers``, the user's explicit Vary."""
    if stored.auth != request_auth_digest(req, options):
        return False  # private mode: Authorization acts as an implicit Vary
    if options._match_headers and not all(
        normalize_field(req.headers.get_all(name), name) == stored.vary.get(name) for name in options._match_headers
    ):
        return False
    names = stored.facts.vary_names
    if not names:
        return True
    if "*" in names:
        return False
    return all(normalize_field(req.headers.get_all(name), name) == stored.vary.get(name) for name in names)


def most_recent(candidates: list[StoredResponse]) -> Optional[StoredResponse]:
    """RFC 9111 §4.1: of several matching responses, the most recent by Date."""
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    return max(candidates, key=lambda s: (s.facts.date or s.response_time, s.response_time))

"""Vary and credentials (RFC 9111 §4.1): the fields a response varies on, their
normalised values, the implicit Vary of a private cache's credentials, and the choice
among matching stored responses. Pure; re-exported by ``policy``."""

from __future__ import annotations

import hashlib
from typing import Optional, Sequence

from ._headers import Headers, parse_field_names, parse_http_date
from .models import CacheOptions, RequestView, StoredResponse

__all__ = ["auth_digest", "most_recent", "normalize_field", "variant_matches", "vary_names", "vary_values"]


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

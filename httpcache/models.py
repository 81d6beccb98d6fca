"""Frozen values the policy reasons about: request and response views, stored
responses and the cache's options. No I/O here and no import of ``requests``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Mapping, Optional, TypeVar

from ._headers import Headers
from .exceptions import HTTPCacheError

if TYPE_CHECKING:
    from ._body import StoredBody

__all__ = ["CacheOptions", "RequestView", "ResponseView", "StoredResponse"]

_T = TypeVar("_T")


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
    """

    shared: bool = False
    heuristic_fraction: float = 0.1
    heuristic_max: float = 86400.0
    permanent_redirect_lifetime: float = 3600.0
    max_variants: int = 16
    surrogate: Optional[str] = None
    targeted_fields: tuple[str, ...] = ("CDN-Cache-Control",)
    coalesce_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.coalesce_timeout < 0:
            raise HTTPCacheError("coalesce_timeout must be >= 0 (0 turns coalescing off)")
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
        if self.heuristic_max < 0:
            raise HTTPCacheError("heuristic_max must be >= 0")
        if not self.permanent_redirect_lifetime >= 0:  # NaN too
            raise HTTPCacheError("permanent_redirect_lifetime must be >= 0 (0 turns it off)")
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


def _is_token(name: str) -> bool:
    """RFC 9110 §5.1: a field name is a token."""
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)


@dataclass(frozen=True)
class RequestView:
    """What the policy needs of a request: method, absolute URL, header fields."""

    method: str
    url: str
    headers: Headers


@dataclass(frozen=True)
class ResponseView:
    """What the policy needs of a response as received: status and header fields."""

    status: int
    headers: Headers
    reason: str = ""


@dataclass(frozen=True)
class StoredResponse:
    """A response in the cache, with what §4.2.3 and §4.1 need to judge it later.

    ``vary`` holds, for each field named by the response's Vary, the normalised
    value the original request had (None when absent). ``auth`` is a digest of
    the Authorization the response was obtained with (private mode), or None.
    ``stream``: for a body too large to read at once, the open handle it is read
    through (``body`` is then empty); ``body_length`` is the body's size either way.
    """

    url: str
    method: str
    status: int
    reason: str
    headers: Headers
    body: bytes
    request_time: float
    response_time: float
    vary: Mapping[str, Optional[str]] = field(default_factory=dict)
    auth: Optional[str] = None
    stream: Optional[StoredBody] = field(default=None, compare=False, repr=False)

    @property
    def body_length(self) -> int:
        return self.stream.length if self.stream is not None else len(self.body)

    def derived(self, name: str, compute: Callable[[StoredResponse], _T]) -> _T:
        """``compute(self)`` worked out once (a stored response is frozen, and a hit on an
        in-memory store sees the same one again). Kept beside the fields, never compared or
        copied by ``replace``; racing threads may both compute it and get equal values."""
        memo = vars(self)
        try:
            return memo[name]  # type: ignore[no-any-return]
        except KeyError:
            value = compute(self)
            memo[name] = value
            return value

    def replace(self, **changes: object) -> StoredResponse:
        return replace(self, **changes)  # type: ignore[arg-type]

"""The policy's decisions, frozen values dispatched on exhaustively: on the request side
(``policy.decide``: RFC 9111 §4) and on the response side (``policy.after_response``,
``after_failure``, ``after_head``: §3, §4.3.4, §4.3.5, RFC 5861 §4). Each carries what
its caller needs, and a reason citing its section. Re-exported by ``policy``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from .models import StoredResponse

__all__ = [
    "Decision",
    "Fresh",
    "Freshen",
    "GatewayTimeout",
    "Miss",
    "PassThrough",
    "Remove",
    "ResponseOutcome",
    "ServeStale",
    "StaleAllowed",
    "StaleWhileRevalidate",
    "Store",
    "Unselected",
    "Validate",
]

# ---------------------------------------------------------------------------
# The request side (RFC 9111 §4)


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
    ``requested``: it was fresh, and the request asked for validation all the same.
    """

    headers: tuple[tuple[str, str], ...]
    reason: str
    stale_if_error: bool = False
    #: the stored response was fresh: the request (its directives, or its mode) asked for
    #: it to be validated (RFC 9211 §2.2 ``fwd=request``)
    requested: bool = False


@dataclass(frozen=True)
class Miss:
    """Nothing usable is stored: forward the request (RFC 9111 §4)."""

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


# ---------------------------------------------------------------------------
# The response side (RFC 9111 §3, §4.3.4, §4.3.5; RFC 5861 §4)


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
    response it makes obsolete (the one it replaces, when it is no error and no 304: a full
    response to a revalidation, RFC 9111 §4.3.3), or None."""

    reason: str
    remove: Optional[StoredResponse] = None


@dataclass(frozen=True)
class Remove:
    """RFC 9111 §4.3.5: a HEAD response contradicts the stored GET response: remove it."""

    stored: StoredResponse
    reason: str


ResponseOutcome = Union[Freshen, Unselected, ServeStale, Store, PassThrough]

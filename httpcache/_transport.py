"""What the engine needs of a client library (``Transport``), the request it carries
(``Call``), and the stored bodies it hands a transport: client-agnostic, like the engine."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Callable, Generic, Optional, Protocol, TypeVar, Union

from ._body import Entry
from ._headers import Headers
from ._info import CacheInfo
from ._tee import Sink
from .models import RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

__all__ = ["BACKGROUND_TIMEOUT", "Body", "Call", "Fields", "Transport", "expected_length"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")
#: Header fields, as (name, value) pairs.
Fields = tuple[tuple[str, str], ...]
#: A body from the cache: bytes, or a file reading it from the store.
Body = Union[bytes, io.RawIOBase]


@dataclass(frozen=True)
class Call(Generic[Req]):
    """One request as the engine sees it: the transport's own request object (whatever
    it needs to send it), the policy's view of it, whether the caller streams the body,
    and how long the caller is prepared to wait (its timeout, as one bound in seconds;
    None: no bound). ``mode``: the mode it is made in (``httpcache.settings``), set by the
    engine; ``fwd``: why it goes forward where the cache knows more than the outcome says
    (RFC 9211 §2.2: ``vary-miss``, ``request``, ``method``), set by the engine."""

    request: Req
    view: RequestView
    stream: bool = False
    wait_bound: Optional[float] = None
    mode: str = "default"
    fwd: Optional[str] = None


class Transport(Protocol[Req, Resp]):
    """What the engine needs of a client library. ``Req`` is the transport's request
    (as carried by ``Call.request``), ``Resp`` its response type."""

    #: Errors that mean the origin could not be reached (RFC 5861 §4 stale-if-error).
    unreachable: tuple[type[BaseException], ...]

    def send(self, call: Call[Req], fields: Fields = (), drop: tuple[str, ...] = (), background: bool = False) -> Resp:
        """Send the request to the origin with ``fields`` set and ``drop`` removed (the
        caller's request is left as it was); ``background``: for a background refresh
        (never streamed, a default timeout when the caller gave none)."""
        ...

    def view(self, resp: Resp) -> ResponseView:
        """The policy's view of a response from the origin."""
        ...

    def tee(self, resp: Resp, expected: Optional[int], sink: Sink, on_finish: Optional[Callable[[], None]]) -> bool:
        """Copy the body into ``sink`` as the caller reads it; ``on_finish`` once it is
        complete or thrown away. False (nothing installed) if the body cannot be teed."""
        ...

    def discard(self, resp: Resp) -> None:
        """Read and release a response that is not handed over (a 304 we answered ourselves)."""
        ...

    def drain(self, resp: Resp) -> None:
        """Read a response to its end (through its tee, if any) and close it."""
        ...

    def forwarded(self, resp: Resp) -> Resp:
        """A response from the origin, handed over as it is (``from_cache`` False)."""
        ...

    def hit(self, call: Call[Req], stored: StoredResponse, body: Body, age: float, preloaded: bool) -> Resp:
        """A response built from ``stored`` with ``body`` and ``Age: age`` (RFC 9111 §5.1);
        ``preloaded``: the body is bytes the caller did not ask to stream, handed over as read."""
        ...

    def build(
        self, call: Call[Req], status: int, reason: str, headers: Headers, body: bytes, age: Optional[float]
    ) -> Resp:
        """A response made by the cache itself (a 304, a 206, a 504); ``age``: from the cache."""
        ...

    def timed_out(self, call: Call[Req], message: str) -> BaseException:
        """The error the caller's own request would have raised when its timeout ran out."""
        ...

    def annotate(self, resp: Resp, info: CacheInfo, cache_status: Optional[str]) -> None:
        """Set ``info`` on a response about to be handed over (``response.cache_info``) and,
        when given, add ``cache_status`` to its ``Cache-Status`` field (RFC 9211 §2: a
        cache appends its member to the list)."""
        ...


#: Timeout for a background revalidation whose caller gave none.
BACKGROUND_TIMEOUT = 30.0


def expected_length(method: str, resp: ResponseView) -> Optional[int]:
    """How many body bytes a complete response has, when the framing says (RFC 9112 §6.3)."""
    if method == "HEAD" or resp.status in (204, 304) or resp.status < 200:
        return 0
    if "transfer-encoding" in resp.headers:
        return None
    lengths = {v.strip() for v in resp.headers.get_all("content-length")}
    if len(lengths) != 1:
        return None
    value = lengths.pop()
    return int(value) if value.isascii() and value.isdigit() else None


def damaged(entry: Entry) -> bool:
    """Is a body kept in the store damaged? Checked against its checksum (once per opened
    body); a damaged entry is deleted (see ``_body``). A body the store fails to read here
    is not known to be damaged: it is read in pieces, as it is served."""
    body = entry.body
    if isinstance(body, bytes):
        return False  # a whole value, checked before it was decoded
    try:
        body.verify()
    except OSError:
        pass
    return body.intact is False


def whole_body(entry: Entry) -> Optional[bytes]:
    """A stored body in one piece, checked before it is handed over; None (stream it
    instead, whose first read reports the failure) if the store fails to give all of it
    or it is damaged."""
    body = entry.body
    if isinstance(body, bytes):
        return body  # a whole value: checked before it was decoded
    try:
        return body.read_verified()
    except Exception as exc:  # noqa: BLE001 - served as a stream, whose reads report it
        log.debug("stored body of %s unreadable in one piece (%s): streamed instead", entry.head.url, exc)
        return None


def body_of(entry: Entry, start: int = 0, stop: Optional[int] = None) -> Optional[Body]:
    """A stored body (or ``[start, stop)`` of it): bytes, or a file reading it from the
    store, checked as it is read, which from then on owns it (None if it was closed or
    already handed to another)."""
    body = entry.body
    if isinstance(body, bytes):
        return body if start == 0 and stop is None else body[start:stop]
    return body.stream(start, stop)

"""A transport for the engine's tests, with no sockets (DESIGN.md rule 11).

- ``FakeOrigin``: a scripted origin. Per method and URL, a function from the header
  fields a request arrived with to ``(status, header lines, body)``; every request that
  reaches it is logged (``Sent``: method, URL, the fields sent, whether it was a
  background refresh) before it is answered, so a test can count what reached it while
  a handler blocks. A HEAD without its own route is answered as the GET route would be,
  without the body. A Content-Length is added to an answer that has no framing of its own.
- ``FakeResponse``: status, fields, body bytes; ``from_cache`` (as the requests
  transport marks it), ``built`` (made by the cache itself), and whether the engine
  discarded or drained it and whether it was closed. ``read()`` / ``content`` read its
  body; a body teed into the store is fed to the sink as it is read, like
  ``_tee._TeeReader``: complete at its Content-Length (or at its end without one),
  thrown away when cut short, overlong or closed early, ``on_finish`` called either way.
- ``FakeTransport``: ``engine.Transport`` over them (``received``: every response from
  the origin, to check that one not handed over was released). ``unreachable`` is
  ``(OriginUnreachableError,)`` (a handler raises it to stand for a connection error);
  ``timed_out`` returns a ``TimedOutError``.
- ``FakeClock``: the controller's clock, moved by hand.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from httpcache import policy
from httpcache._headers import Headers
from httpcache._info import CacheInfo
from httpcache._tee import Sink
from httpcache.engine import Body, Call, Fields
from httpcache.models import RequestView, ResponseView, StoredResponse

__all__ = [
    "NOW",
    "Answer",
    "FakeClock",
    "FakeOrigin",
    "FakeRequest",
    "FakeResponse",
    "FakeTransport",
    "Handler",
    "Lines",
    "Sent",
    "TimedOutError",
    "OriginUnreachableError",
    "eventually",
    "make_call",
]

#: Where the fake clock starts.
NOW = 1_700_000_000.0

Lines = Sequence[tuple[str, str]]
#: What the scripted origin answers: status, header lines, body.
Answer = tuple[int, Lines, bytes]
#: A route of the scripted origin: the request's header fields -> its answer.
Handler = Callable[[Headers], Answer]


class OriginUnreachableError(Exception):
    """The origin could not be reached (what a connection error is to ``requests``)."""


class TimedOutError(Exception):
    """The caller's own timeout ran out (``FakeTransport.timed_out``)."""


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = NOW) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class FakeRequest:
    """The transport's own request, as ``Call.request`` carries it."""

    method: str
    url: str
    headers: Headers


def make_call(
    method: str,
    url: str,
    headers: Lines = (),
    *,
    stream: bool = False,
    wait_bound: Optional[float] = None,
) -> Call[FakeRequest]:
    """A ``Call`` whose request and view agree."""
    fields = Headers(headers)
    return Call(FakeRequest(method, url, fields), RequestView(method, url, fields), stream, wait_bound)


@dataclass(frozen=True)
class Sent:
    """One request that reached the origin, with the header fields it was sent with."""

    method: str
    url: str
    headers: Headers
    background: bool

    def get(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    @property
    def conditional(self) -> dict[str, str]:
        """The conditional fields it carried (RFC 9110 §13.1), by lower-case name."""
        return {name: value for name in policy.CONDITIONAL_FIELDS if (value := self.headers.get(name)) is not None}


class FakeOrigin:
    """A scripted origin that logs every request reaching it."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Handler] = {}
        self._log: list[Sent] = []
        self._lock = threading.Lock()

    def route(self, url: str, handler: Handler, method: str = "GET") -> None:
        with self._lock:
            self._routes[(method, url)] = handler

    def reply(self, url: str, status: int = 200, headers: Lines = (), body: bytes = b"", method: str = "GET") -> None:
        """The same answer to every request for ``url``."""
        answer: Answer = (status, tuple(headers), body)
        self.route(url, lambda _fields: answer, method)

    def sent(self, url: Optional[str] = None, method: Optional[str] = None) -> list[Sent]:
        """The requests that reached the origin, oldest first (optionally for one URL / method)."""
        with self._lock:
            return [s for s in self._log if (url is None or s.url == url) and (method is None or s.method == method)]

    def count(self, url: Optional[str] = None, method: Optional[str] = None) -> int:
        return len(self.sent(url, method))

    def last(self) -> Sent:
        with self._lock:
            return self._log[-1]

    def serve(self, method: str, url: str, headers: Headers, background: bool) -> Answer:
        with self._lock:
            self._log.append(Sent(method, url, headers, background))
            handler = self._routes.get((method, url))
            if handler is None and method == "HEAD":
                handler = self._routes.get(("GET", url))
        if handler is None:
            raise AssertionError(f"the fake origin has no route for {method} {url}")
        return handler(headers)


class _Tee:
    """A body on its way into ``sink`` as it is read (what ``_tee._TeeReader`` does)."""

    def __init__(self, expected: Optional[int], sink: Sink, on_finish: Optional[Callable[[], None]]) -> None:
        self._expected = expected
        self._sink: Optional[Sink] = sink
        self._on_finish = on_finish
        self._size = 0

    def feed(self, data: bytes, eof: bool) -> None:
        sink = self._sink
        if sink is None:
            return
        if data:
            self._size += len(data)
            if self._expected is None or self._size <= self._expected:
                sink.write(data)
        if self._expected is not None and self._size > self._expected:
            self._end(ok=False)  # overlong
        elif self._expected is not None and self._size == self._expected:
            self._end(ok=True)
        elif eof:
            self._end(ok=self._expected is None)  # cut short unless no length was announced

    def abort(self) -> None:
        if self._sink is not None:
            self._end(ok=False)

    def _end(self, ok: bool) -> None:
        sink, self._sink = self._sink, None
        assert sink is not None
        try:
            if ok:
                sink.complete()
            else:
                sink.abort()
        finally:
            on_finish, self._on_finish = self._on_finish, None
            if on_finish is not None:
                on_finish()


class FakeResponse:
    """A response from the fake origin or built from the cache."""

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        *,
        reason: str = "",
        from_cache: bool = False,
        built: bool = False,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.from_cache = from_cache
        self.built = built  # made by the cache itself (a 304, 206 or 504 of its own)
        self.discarded = False
        self.drained = False
        self.closed = False
        self.cache_info: Optional[CacheInfo] = None  # what the engine told of it (annotate)
        self._body = body
        self._pos = 0
        self._tee: Optional[_Tee] = None
        self._lock = threading.Lock()

    @property
    def age(self) -> Optional[str]:
        return self.headers.get("age")

    def read(self, amt: Optional[int] = None) -> bytes:
        """Read (up to ``amt`` bytes of) the body; what is read is teed into the store."""
        with self._lock:
            if self.closed:
                return b""
            end = len(self._body) if amt is None else min(len(self._body), self._pos + amt)
            data, self._pos = self._body[self._pos : end], end
            tee = self._tee
        if tee is not None:
            tee.feed(data, eof=end >= len(self._body))
        return data

    @property
    def content(self) -> bytes:
        """The whole body, read to its end (as ``requests.Response.content``)."""
        self.read()
        return self._body

    @property
    def consumed(self) -> bool:
        return self._pos >= len(self._body)

    def close(self) -> None:
        """Release it; a body teed but not read to its end is not stored."""
        with self._lock:
            self.closed = True
            tee = self._tee
        if tee is not None:
            tee.abort()

    def install_tee(self, expected: Optional[int], sink: Sink, on_finish: Optional[Callable[[], None]]) -> bool:
        with self._lock:
            if self._tee is not None or self._pos or self.closed or self.from_cache:
                return False
            self._tee = _Tee(expected, sink, on_finish)
            return True

    def __repr__(self) -> str:
        return f"<FakeResponse {self.status} from_cache={self.from_cache} {self._body[:20]!r}>"


def _framed(status: int, headers: Headers, body: bytes) -> Headers:
    """A Content-Length for an answer with a body and no framing of its own."""
    if status < 200 or status in (204, 304) or "content-length" in headers or "transfer-encoding" in headers:
        return headers
    return Headers([*headers.items(), ("Content-Length", str(len(body)))])


def _with_age(headers: Headers, age: Optional[float]) -> Headers:
    if age is None:
        return headers
    return Headers([*headers.without(("age",)).items(), ("Age", policy.age_header(age))])


class FakeTransport:
    """``engine.Transport[FakeRequest, FakeResponse]`` against a ``FakeOrigin``.
    ``teeable=False``: no body can be teed into the store (``tee`` returns False)."""

    unreachable: tuple[type[BaseException], ...] = (OriginUnreachableError,)

    def __init__(self, origin: FakeOrigin, *, teeable: bool = True) -> None:
        self.origin = origin
        self.teeable = teeable
        #: every response the origin gave, in the order received
        self.received: list[FakeResponse] = []

    def send(
        self, call: Call[FakeRequest], fields: Fields = (), drop: tuple[str, ...] = (), background: bool = False
    ) -> FakeResponse:
        request = call.request
        headers = request.headers.without(drop)
        if fields:
            headers = headers.replaced(Headers(fields))
        status, lines, body = self.origin.serve(request.method, request.url, headers, background)
        answer = _framed(status, Headers(lines), body)
        if request.method == "HEAD":
            body = b""
        resp = FakeResponse(status, answer, body)
        self.received.append(resp)
        return resp

    def view(self, resp: FakeResponse) -> ResponseView:
        return ResponseView(resp.status, resp.headers, resp.reason)

    def tee(
        self, resp: FakeResponse, expected: Optional[int], sink: Sink, on_finish: Optional[Callable[[], None]]
    ) -> bool:
        return self.teeable and resp.install_tee(expected, sink, on_finish)

    def discard(self, resp: FakeResponse) -> None:
        resp.read()
        resp.close()
        resp.discarded = True

    def drain(self, resp: FakeResponse) -> None:
        try:
            resp.read()
        finally:
            resp.close()
        resp.drained = True

    def forwarded(self, resp: FakeResponse) -> FakeResponse:
        resp.from_cache = False
        return resp

    def hit(
        self, call: Call[FakeRequest], stored: StoredResponse, body: Body, age: float, preloaded: bool
    ) -> FakeResponse:
        if isinstance(body, bytes):
            data = body
        else:
            with body:
                data = io.BufferedReader(body).read()
        return FakeResponse(stored.status, _with_age(stored.headers, age), data, reason=stored.reason, from_cache=True)

    def build(
        self, call: Call[FakeRequest], status: int, reason: str, headers: Headers, body: bytes, age: Optional[float]
    ) -> FakeResponse:
        # from_cache as the requests transport marks it: a response with an Age from the cache
        return FakeResponse(
            status, _with_age(headers, age), body, reason=reason, from_cache=age is not None, built=True
        )

    def timed_out(self, call: Call[FakeRequest], message: str) -> BaseException:
        return TimedOutError(message)

    def annotate(self, resp: FakeResponse, info: CacheInfo, cache_status: Optional[str]) -> None:
        resp.cache_info = info
        if cache_status is not None:
            existing = resp.headers.get("cache-status")
            value = f"{existing}, {cache_status}" if existing else cache_status
            resp.headers = resp.headers.without(("cache-status",)).replaced(Headers([("Cache-Status", value)]))


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()

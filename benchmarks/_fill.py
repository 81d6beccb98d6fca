"""Filling a client's store fast for the hit-cost-by-size case (worker side: stdlib, requests, urllib3).

Up to 100k entries through real loopback round trips would take many minutes per client, so
``fill()`` stores them through the client's own session, one miss + store per URL, with
only the socket replaced: ``session.send(request)`` (``requests.Session.send``, the public
call ``session.get`` ends in, given a request prepared by ``session.prepare_request``
once and copied with each URL, which is all ``get`` would add) while
``urllib3.connectionpool.HTTPConnectionPool.urlopen`` (which every client here reaches
through requests' ``HTTPAdapter.send``) answers from memory: a ``urllib3.HTTPResponse``
with status 200, the headers the benchmark origin sends for that path
(``_workload.response_headers``: ``Date``, ``Cache-Control: max-age=3600``,
``Content-Type``, ``Content-Length``) and a 1 KB body from an object read the way
``http.client.HTTPResponse`` is (closed, and ``fp`` None, once read to the end). So each
entry is the client's own serialisation of the response it would get from the origin,
under its own key, with whatever the client keeps in memory about it.

Checks: every filled URL must reach the transport exactly once (a miss); afterwards a
sample of filled URLs is fetched again with ``session.get`` and must not reach it (hits), and
must come back with a 1 KB body and its own URL (``spot_check``, also used on copies).
"""

from __future__ import annotations

import io
import random
import threading
from typing import Any, Optional

from _workload import fresh_headers, response_headers, size_of
from requests import Request
from urllib3 import HTTPHeaderDict, HTTPResponse
from urllib3.connectionpool import HTTPConnectionPool

SPOT_CHECKS = 20


def path_of(url: str) -> str:
    """The path of what urllib3 is asked for (requests passes the path; through a proxy, the URL)."""
    if "://" not in url:
        return url
    rest = url.split("://", 1)[1]
    slash = rest.find("/")
    return "/" if slash < 0 else rest[slash:]


class Body:
    """A response body read like ``http.client.HTTPResponse``: once read to the end it is closed
    and its ``fp`` is None (which is how urllib3, cachecontrol and httpcache see the end)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self.fp: Optional[Body] = self

    def read(self, amt: Optional[int] = None) -> bytes:
        if self.fp is None:
            return b""
        end = len(self._data) if amt is None or amt < 0 else min(len(self._data), self._pos + amt)
        data, self._pos = self._data[self._pos : end], end
        if self._pos >= len(self._data):
            self.fp = None
        return data

    def read1(self, amt: Optional[int] = None) -> bytes:
        return self.read(amt)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def isclosed(self) -> bool:
        return self.fp is None

    @property
    def closed(self) -> bool:
        return self.fp is None

    def close(self) -> None:
        self.fp = None

    def readable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no socket: an answer from memory")


class MemoryTransport:
    """While entered, every ``HTTPConnectionPool.urlopen`` in this process answers from memory."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._saved: Any = None

    def urlopen(self, method: str, url: str, **kw: Any) -> HTTPResponse:
        path = path_of(url)
        if method != "GET" or not path.startswith("/fresh/"):
            raise RuntimeError(f"the fill transport serves GET /fresh/ only, not {method} {url}")
        with self._lock:
            self.calls += 1
        body = b"x" * size_of(path)
        return HTTPResponse(
            body=Body(body),  # type: ignore[arg-type]  # read like http.client.HTTPResponse, not an IO
            headers=HTTPHeaderDict(response_headers(200, fresh_headers(), body)),
            status=200,
            version=11,
            reason="OK",
            preload_content=bool(kw.get("preload_content", True)),
            decode_content=bool(kw.get("decode_content", True)),
            enforce_content_length=True,
            request_method=method,
            request_url=url,
            retries=kw.get("retries"),
        )

    def __enter__(self) -> MemoryTransport:
        transport = self

        def urlopen(pool: HTTPConnectionPool, method: str, url: str, *args: Any, **kw: Any) -> HTTPResponse:
            return transport.urlopen(method, url, **kw)

        self._saved = HTTPConnectionPool.urlopen
        HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        HTTPConnectionPool.urlopen = self._saved  # type: ignore[method-assign]


def fill(session: Any, urls: list[str], expected: int, seed: int = 0) -> dict[str, Any]:
    """GET each of ``urls`` once through ``session`` on the memory transport; check misses and hits.

    Must run while no other thread uses the network in this process.
    """
    bad = 0
    template = session.prepare_request(Request("GET", urls[0] if urls else "http://127.0.0.1/"))
    send = session.send
    with MemoryTransport() as transport:
        for url in urls:
            request = template.copy()
            request.url = url
            if len(send(request).content) != expected:
                bad += 1
    checked = spot_check(session, urls, expected, seed)
    return {"filled": len(urls), "misses": transport.calls, **checked, "bad": bad + checked["bad"]}


def spot_check(session: Any, urls: list[str], expected: int, seed: int = 0) -> dict[str, int]:
    """GET ``SPOT_CHECKS`` of ``urls`` (drawn with ``seed``) on the memory transport: each must be
    a hit (``refetched``: those that reached the transport) with the right body for its own URL."""
    sample: list[str] = random.Random(seed).sample(urls, min(SPOT_CHECKS, len(urls)))
    bad = 0
    with MemoryTransport() as transport:
        for url in sample:
            resp = session.get(url)
            if len(resp.content) != expected or resp.url != url:
                bad += 1
    return {"spot_checks": len(sample), "refetched": transport.calls, "bad": bad}

"""Neutral HTTP gateway that puts a Python HTTP cache in front of an origin.

Every request received on 127.0.0.1 is forwarded to ``--upstream`` through one
``requests.Session`` for the whole run, wrapped by the client under test
(``--client``). The gateway itself never caches, never follows redirects, does
not decode content codings and does not add request headers of its own. See
conformance/README.md for the full list of what it changes on the way.

Usage (normally started by run.py)::

    python conformance/proxy.py --upstream http://127.0.0.1:8000 \
        --client httpcache --shared --ready-file r.json --stats-file s.json
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger("conformance.proxy")

CLIENTS = ("none", "httpcache", "cachecontrol", "requests-cache", "hishel")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
NO_BODY_STATUS = frozenset({204, 304})
UPSTREAM_TIMEOUT = 30.0
SOCKET_TIMEOUT = 60.0
CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})


def is_hop_by_hop(name: str, connection_tokens: frozenset[str]) -> bool:
    lname = name.lower()
    return lname in HOP_BY_HOP or lname.startswith("proxy-") or lname in connection_tokens


def connection_tokens(values: list[str]) -> frozenset[str]:
    return frozenset(
        tok.strip().lower() for value in values for tok in value.split(",") if tok.strip()
    )


def neutralize(session: requests.Session) -> requests.Session:
    """Stop requests from adding anything the downstream client did not send."""
    session.headers.clear()  # no default User-Agent / Accept / Accept-Encoding / Connection
    session.trust_env = False  # no proxies, netrc auth or CA bundles from the environment
    # Never store cookies from Set-Cookie, so no Cookie header is ever added.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def build_session(client: str, shared: bool) -> requests.Session:
    """One session for the whole run, wrapped by the client under test."""
    # Imported by name: each peer lives in its own venv (see run.py).
    if client == "none":
        return neutralize(requests.Session())
    if client == "httpcache":
        httpcache: Any = importlib.import_module("httpcache")
        # in shared mode the gateway is a surrogate (a reverse-proxy cache): it says so
        return neutralize(
            httpcache.CacheControl(requests.Session(), shared=shared, surrogate="httpcache" if shared else None)
        )
    if client == "cachecontrol":
        cachecontrol: Any = importlib.import_module("cachecontrol")
        return neutralize(cachecontrol.CacheControl(requests.Session()))  # in-memory DictCache
    if client == "requests-cache":
        requests_cache: Any = importlib.import_module("requests_cache")
        # expire_after=EXPIRE_IMMEDIATELY: without freshness headers a response is
        # stored already stale (revalidated if it has a validator), so only the
        # response headers decide (cache_control=True).
        return neutralize(requests_cache.CachedSession(
            backend="memory",
            cache_control=True,
            expire_after=requests_cache.EXPIRE_IMMEDIATELY,
        ))
    if client == "hishel":
        hishel: Any = importlib.import_module("hishel")
        hishel_requests: Any = importlib.import_module("hishel.requests")
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        adapter = hishel_requests.CacheAdapter(
            storage=hishel.SqliteStorage(connection=conn),
            rfc=hishel.CacheOptions(shared=shared),
        )
        session = neutralize(requests.Session())
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session
    raise ValueError(f"unknown client {client!r}")


class Stats:
    """Counters reported to the runner at shutdown."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {
            "received": 0,  # requests parsed from the test client
            "forwarded": 0,  # requests handed to the session (client under test)
            "answered": 0,  # responses written back
            "upstream_errors": 0,  # requests.RequestException -> 502
            "client_errors": 0,  # any other exception from the client -> 500
            "decoded_bodies": 0,  # body only available decoded although coded
        }

    def bump(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the suite opens ~100 connections at once

    def __init__(self, addr: tuple[str, int], upstream: str, session: requests.Session) -> None:
        super().__init__(addr, GatewayHandler)
        self.upstream = upstream.rstrip("/")
        self.session = session
        self.session_lock = threading.Lock()
        self.stats = Stats()


def read_body(resp: requests.Response) -> tuple[bytes, bool]:
    """The response body as received (content codings intact); flag if decoded."""
    raw = resp.raw
    if getattr(resp, "_content_consumed", False) or raw is None:
        # The client under test already read the body; only the decoded copy is left.
        return resp.content or b"", True
    try:
        data = raw.read(decode_content=False)
    except TypeError:  # a raw object without urllib3's signature
        data = raw.read()
    return (data or b""), False


def response_header_lines(resp: requests.Response) -> list[tuple[str, str]]:
    """Header lines as the client under test returned them, duplicates kept apart.

    ``resp.headers`` is authoritative (a client may edit it); when a field's
    joined value equals the ", "-join of the raw lines, the raw lines are used.
    """
    raw_headers = getattr(resp.raw, "headers", None)
    raw_lines: list[tuple[str, str]] = []
    if raw_headers is not None and hasattr(raw_headers, "items"):
        raw_lines = [(str(k), str(v)) for k, v in raw_headers.items()]
    out: list[tuple[str, str]] = []
    for name, value in resp.headers.items():
        lname = name.lower()
        raw_values = [v for k, v in raw_lines if k.lower() == lname]
        if len(raw_values) > 1 and ", ".join(raw_values) == value:
            out.extend((name, v) for v in raw_values)
        else:
            out.append((name, value))
    return out


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: Gateway

    def __getattr__(self, name: str) -> Callable[[], None]:
        # do_GET, do_POST, do_FOO...: every method is forwarded.
        if name.startswith("do_"):
            return self.forward
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s - %s", self.address_string(), format % args)

    def read_request_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def request_headers(self) -> dict[str, str]:
        tokens = connection_tokens(self.headers.get_all("Connection") or [])
        headers: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, value in self.headers.items():
            lname = name.lower()
            if is_hop_by_hop(name, tokens) or lname in ("host", "content-length"):
                continue
            if lname in names:  # requests takes a dict: repeated lines are joined
                sep = "; " if lname == "cookie" else ", "
                headers[names[lname]] += sep + value
            else:
                names[lname] = name
                headers[name] = value
        return headers

    def forward(self) -> None:
        gw = self.server
        gw.stats.bump("received")
        body = self.read_request_body()
        path = self.path
        if not path.startswith("/"):  # absolute-form: keep path and query only
            parts = urlsplit(path)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        url = gw.upstream + path
        headers = self.request_headers()
        try:
            with gw.session_lock:
                gw.stats.bump("forwarded")
                resp = gw.session.request(
                    self.command,
                    url,
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                    stream=True,
                    timeout=UPSTREAM_TIMEOUT,
                )
                try:
                    data, decoded = read_body(resp)
                    lines = response_header_lines(resp)
                finally:
                    resp.close()
        except requests.RequestException as exc:
            gw.stats.bump("upstream_errors")
            log.info("%s %s: upstream error: %r", self.command, path, exc)
            self.send_plain(502, f"Bad Gateway: {exc!r}\n")
            return
        except Exception as exc:
            gw.stats.bump("client_errors")
            log.exception("%s %s: client under test raised", self.command, path)
            self.send_plain(500, f"client under test raised {exc!r}\n")
            return
        self.send_upstream_response(resp, lines, data, decoded)

    def send_upstream_response(
        self, resp: requests.Response, lines: list[tuple[str, str]], data: bytes, decoded: bool
    ) -> None:
        gw = self.server
        tokens = connection_tokens([v for k, v in lines if k.lower() == "connection"])
        out = [(k, v) for k, v in lines if not is_hop_by_hop(k, tokens)]
        keep_length = self.command == "HEAD" or resp.status_code in NO_BODY_STATUS
        if keep_length:
            data = b""
        else:
            out = [(k, v) for k, v in out if k.lower() != "content-length"]
            out.append(("Content-Length", str(len(data))))
            coding = {v.strip().lower() for k, v in out if k.lower() == "content-encoding"}
            if decoded and coding & CODINGS:
                gw.stats.bump("decoded_bodies")
                log.warning("%s %s: only a decoded body was available", self.command, self.path)
        reason = resp.reason or http.client.responses.get(resp.status_code, "")
        self.send_response_only(resp.status_code, reason)  # no Server/Date added
        for name, value in out:
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)
        gw.stats.bump("answered")

    def send_plain(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.server.stats.bump("answered")


def write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--upstream", required=True, help="origin base URL, e.g. http://127.0.0.1:8000")
    ap.add_argument("--client", choices=CLIENTS, default="none")
    ap.add_argument("--shared", action="store_true", help="shared-cache rules where supported")
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0: any)")
    ap.add_argument("--ready-file", type=Path, help="write {port, pid} here once listening")
    ap.add_argument("--stats-file", type=Path, help="write the request counters here at exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if urlsplit(args.upstream).hostname not in ("127.0.0.1", "localhost", "::1"):
        ap.error("upstream must be on the loopback interface")

    session = build_session(args.client, args.shared)
    gw = Gateway(("127.0.0.1", args.port), args.upstream, session)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        threading.Thread(target=gw.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = gw.server_address[1]
    log.info("gateway http://127.0.0.1:%d -> %s (client=%s shared=%s)",
             port, args.upstream, args.client, args.shared)
    if args.ready_file:
        write_json(args.ready_file, {"port": port, "pid": os.getpid()})
    try:
        gw.serve_forever(poll_interval=0.2)
    finally:
        gw.server_close()
        with gw.stats.lock:
            counts = dict(gw.stats.counts)
        log.info("counts: %s", counts)
        if args.stats_file:
            write_json(args.stats_file, counts)
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real origin server for end-to-end tests: stdlib ``http.server`` on 127.0.0.1.

Tests register a handler per path; the server counts the requests it receives
per path (and keeps the request headers), so tests assert on what actually
reached the origin, not only on flags.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Union

Body = Union[bytes, list[bytes]]  # a list is sent chunked, one chunk per item


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Body = b""
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a burst of more connections than that, on a
    # busy machine, has its SYNs dropped and retried a second later (TCP's first retry)
    request_queue_size = 128


class Origin:
    """``with Origin() as origin: origin.route("/x", handler); origin.url("/x")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Seen] = []
        self.counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        origin = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def send_response(self, code: int, message: Optional[str] = None) -> None:
                # http.server would always add "Date: now"; a reply may set its own
                # (in the past, to make a response stale without sleeping): see _handle
                self.log_request(code)
                self.send_response_only(code, message)
                self.send_header("Server", self.version_string())

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with origin._lock:
                    origin.requests.append(seen)
                    origin.counts[path] += 1
                handler = origin.routes.get(path)
                reply = handler(seen) if handler else Reply(404, [("Content-Type", "text/plain")], b"no route")
                if reply.delay:
                    threading.Event().wait(reply.delay)
                self.send_response(reply.status)
                names = {k.lower() for k, _ in reply.headers}
                for name, value in reply.headers:
                    self.send_header(name, value)
                if "date" not in {k.lower() for k, _ in reply.headers}:
                    self.send_header("Date", self.date_time_string())
                no_body = self.command == "HEAD" or reply.status in (204, 304)
                if isinstance(reply.body, list):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if not no_body:
                        for chunk in reply.body:
                            if chunk:
                                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    return
                if "content-length" not in names and reply.status not in (204, 304):
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

            def do_PURGE(self) -> None:  # an unknown method
                self._handle()

        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Union[Handler, Reply]) -> None:
        if isinstance(handler, Reply):
            fixed = handler

            def reply(seen: Seen) -> Reply:
                return fixed

            self.routes[path] = reply
        else:
            self.routes[path] = handler

    def count(self, path: str) -> int:
        with self._lock:
            return self.counts[path]

    def last(self, path: str) -> Seen:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path][-1]

    def start(self) -> Origin:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Origin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""``python -m httpcache demo``: a local origin on 127.0.0.1 and a cached session
showing a miss, a hit, a revalidation and an invalidation, with the origin's own
request counts and the time each call took. No internet needed."""

from __future__ import annotations

import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, TextIO

import requests

from .wrapper import CacheControl


class _DemoOrigin:
    """An origin with a fresh resource, a validated one, and one changed by POST."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.version = 1
        self._lock = threading.Lock()
        demo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD" and status != 304:
                    self.wfile.write(body)

            def _count(self) -> None:
                with demo._lock:
                    key = f"{self.command} {self.path}"
                    demo.counts[key] = demo.counts.get(key, 0) + 1

            def do_GET(self) -> None:
                self._count()
                time.sleep(0.05)  # a slow origin makes the cache's effect visible
                if self.path == "/fresh":
                    self._reply(200, {"Cache-Control": "max-age=60"}, b"fresh for 60 seconds\n")
                elif self.path == "/validated":
                    etag = '"v1"'
                    if self.headers.get("If-None-Match") == etag:
                        self._reply(304, {"ETag": etag, "Cache-Control": "no-cache"}, b"")
                    else:
                        self._reply(200, {"ETag": etag, "Cache-Control": "no-cache"}, b"must be revalidated\n")
                elif self.path == "/item":
                    body = f"item version {demo.version}\n".encode()
                    self._reply(200, {"Cache-Control": "max-age=60", "Date": formatdate(usegmt=True)}, body)
                else:
                    self._reply(404, {"Content-Type": "text/plain"}, b"not found\n")

            def do_POST(self) -> None:
                self._count()
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with demo._lock:
                    demo.version += 1
                self._reply(204, {}, b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.counts.get(f"{method} {path}", 0)


def run_demo(out: TextIO = sys.stdout) -> int:
    origin = _DemoOrigin()
    thread = threading.Thread(target=origin.server.serve_forever, daemon=True)
    thread.start()
    session = requests.Session()
    session.trust_env = False  # talk to 127.0.0.1 directly, whatever proxies the environment names
    cached = CacheControl(session)
    write: Callable[[str], object] = out.write
    write(f"httpcache demo: origin at {origin.url}\n\n")
    write(f"{'step':<44} {'status':>6} {'from_cache':>10} {'origin hits':>11} {'ms':>8}\n")

    def step(label: str, method: str, path: str) -> requests.Response:
        start = time.perf_counter()
        resp = cached.request(method, origin.url + path)
        elapsed = (time.perf_counter() - start) * 1000
        hits = origin.count(method, path)
        write(
            f"{label:<44} {resp.status_code:>6} {getattr(resp, 'from_cache', False)!s:>10} {hits:>11} {elapsed:>8.1f}\n"
        )
        return resp

    try:
        step("1. GET /fresh (miss: stored)", "GET", "/fresh")
        step("2. GET /fresh (hit: no origin request)", "GET", "/fresh")
        step("3. GET /validated (miss: stored)", "GET", "/validated")
        step("4. GET /validated (revalidated with a 304)", "GET", "/validated")
        step("5. GET /item (miss: stored)", "GET", "/item")
        step("6. GET /item (hit)", "GET", "/item")
        step("7. POST /item (invalidates /item, §4.4)", "POST", "/item")
        resp = step("8. GET /item (miss again: new version)", "GET", "/item")
        write(f"\n/item now says: {resp.text.strip()!r}\n")
    finally:
        session.close()
        origin.server.shutdown()
        origin.server.server_close()
    return 0

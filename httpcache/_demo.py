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

#: How long the demo origin takes to answer a GET, as an origin across a network would.
ORIGIN_DELAY_MS = 50


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
                time.sleep(ORIGIN_DELAY_MS / 1000)  # a slow origin makes the cache's effect visible
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
    cached = CacheControl(session)  # no store given: a DictCache, in this process's memory
    write: Callable[[str], object] = out.write
    write(
        f"httpcache demo: an origin at {origin.url} that takes {ORIGIN_DELAY_MS} ms to answer each GET\n"
        "(slow on purpose, as a real one over a network is, so that the cache's effect shows in the times).\n"
        "Store: DictCache, in memory; it is gone when this process ends.\n\n"
    )
    header = f"{'step':<44} {'status':>6} {'from_cache':>10} {'sent':>5} {'origin total':>12} {'ms':>8}  outcome"
    write(header + "\n")

    def step(label: str, method: str, path: str) -> requests.Response:
        before = origin.count(method, path)
        start = time.perf_counter()
        resp = cached.request(method, origin.url + path)
        elapsed = (time.perf_counter() - start) * 1000
        total = origin.count(method, path)
        sent = "yes" if total > before else "no"
        from_cache = getattr(resp, "from_cache", False)
        info = getattr(resp, "cache_info", None)  # what the cache says happened (CacheInfo)
        outcome = "" if info is None else info.outcome
        row = f"{label:<44} {resp.status_code:>6} {from_cache!s:>10} {sent:>5} {total:>12} {elapsed:>8.1f}  {outcome}"
        write(row + "\n")
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
        adapter = cached.get_adapter(origin.url)
        snap = adapter.controller.stats.snapshot()  # type: ignore[attr-defined]
        write(
            f"The cache's counters: {snap.requests} requests, {snap.hits} hits, {snap.revalidated} revalidated, "
            f"{snap.misses_stored} misses stored, {snap.bypassed} bypassed, {snap.invalidations} invalidation(s).\n"
        )
        write(
            "\nColumns: 'sent' says whether this call sent a request to the origin; 'origin total' counts\n"
            "the requests the origin has received for that method and path so far (not cache hits);\n"
            "'outcome' is what the cache says it did (response.cache_info.outcome; its .reason says why).\n"
            "Step 4 is from_cache=True and yet sent a request: the stored response had to be\n"
            "revalidated (Cache-Control: no-cache); the origin answered 304 Not Modified, without a\n"
            "body, and the stored body was served as a 200.\n"
            "\nTo keep the cache between runs and share it between processes, give CacheControl a store:\n"
            "    from httpcache import CacheControl, SQLiteCache\n"
            '    session = CacheControl(requests.Session(), SQLiteCache("http-cache.db"))\n'
        )
    finally:
        session.close()
        origin.server.shutdown()
        origin.server.server_close()
    return 0

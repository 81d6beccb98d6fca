"""The benchmark's origin: a stdlib ThreadingHTTPServer on 127.0.0.1 (started by run.py).

Prints ``{"port": N}`` on stdout once listening, then serves until SIGTERM or until
its stdin is closed (so it never outlives the runner). See _workload.py for the paths.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Optional

from _workload import SIZES, SLOW_MS, etag_of, fresh_headers, response_headers, size_of

BODIES = {size: b"x" * size for size in SIZES.values()}


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0

    def add(self, not_modified: bool) -> None:
        with self.lock:
            self.requests += 1
            self.not_modified += not_modified

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "not_modified": self.not_modified}


COUNTERS = Counters()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    server_version = "bench-origin"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/__stats":
            self._send(200, [("Content-Type", "application/json")], json.dumps(COUNTERS.snapshot()).encode())
            return
        kind = path.split("/")[1] if path.count("/") >= 3 else ""
        if kind in ("fresh", "new", "slow"):
            COUNTERS.add(False)
            if kind == "slow":
                time.sleep(SLOW_MS / 1000)  # this connection's thread only: the others go on
            self._send(200, fresh_headers(), BODIES[size_of(path)])
        elif kind == "etag":
            etag = etag_of(path)
            headers = [("ETag", etag), ("Cache-Control", "no-cache")]
            inm = self.headers.get("If-None-Match")
            if inm is not None and etag in (tag.strip() for tag in inm.split(",")):
                COUNTERS.add(True)
                self._send(304, headers, b"")
            else:
                COUNTERS.add(False)
                self._send(200, headers, BODIES[size_of(path)])
        else:
            self._send(404, [], b"not found\n")

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in response_headers(status, headers, body):
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main() -> int:
    return serve(Server(("127.0.0.1", 0), Handler))


def serve(server: ThreadingHTTPServer) -> int:
    """Print ``{"port": N}``, then serve until SIGTERM / SIGINT or EOF on stdin."""

    def stop(signum: Optional[int] = None, frame: Optional[FrameType] = None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the runner closed the pipe or died
        stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

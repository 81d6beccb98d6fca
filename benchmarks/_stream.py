"""The large-body origin and the one-shot client worker of ``stream_rss.py`` (stdlib only,
plus ``requests`` and the client's own package in the worker).

    python benchmarks/_stream.py origin
    python benchmarks/_stream.py worker --client httpcache-file --origin URL --path P --warm-path P --dir DIR

**Body.** ``blocks(size)`` yields a deterministic, incompressible body in 64 KiB blocks,
never whole in memory: a fixed pseudo-random 64 KiB pattern whose first 8 bytes of every
4 KiB page are replaced by that page's offset in the body, so no two pages are alike and a
misplaced, repeated or missing piece changes the bytes (and the SHA-256).

**Origin.** A stdlib ``ThreadingHTTPServer`` on 127.0.0.1, HTTP/1.1. Prints ``{"port": N}``
once listening; serves until SIGTERM or until its stdin closes. Paths:

* ``/length/<size>/<tag>``: ``<size>`` bytes with ``Content-Length``;
* ``/chunked/<size>/<tag>``: the same bytes, ``Transfer-Encoding: chunked`` (no length);
* ``/__stats``: ``{path: {"200": n, "304": n}}`` for every path asked (not counted itself).

Both body paths send ``Cache-Control: max-age=3600``, an ``ETag`` (``304`` to a matching
``If-None-Match``) and ``Last-Modified``.

**Worker.** One client in a fresh process (its own venv for a peer): imports, builds the
session on a cache in ``--dir``, warms up (stores and hits a 96 KiB body on the same kind
of path), measures the baseline RSS, then runs two phases on ``--path``: *store* (a miss)
and *hit*, each ``GET(stream=True)``, ``iter_content(64 KiB)`` into SHA-256 and a byte
comparison with ``blocks()``, ``close()``. During each phase a thread samples
``/proc/self/status`` every ``--interval-ms``; the kernel's own high-water mark
(``VmHWM``) is reset before each phase by writing ``5`` to ``/proc/self/clear_refs`` and
read after it; the phase's peak is the larger of the two. Prints one JSON object on the
original stdout and exits.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import http.client
import importlib
import json
import os
import random
import re
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

BLOCK = 64 * 1024
PAGE = 4096
SEED = 20261124
MAX_AGE = 3600
LAST_MODIFIED = "Mon, 02 Nov 2026 00:00:00 GMT"
WARM_SIZE = 96 * 1024
READ_CHUNK = 64 * 1024  # iter_content()

# client -> (distribution whose version is reported, what it is)
CLIENTS: dict[str, tuple[str, str]] = {
    "httpcache-file": ("httpcache", "httpcache.CacheControl(Session(), cache=FileCache(dir))"),
    "httpcache-sqlite": ("httpcache", "httpcache.CacheControl(Session(), cache=SQLiteCache(dir/cache.sqlite))"),
    "cachecontrol-file": ("cachecontrol", "cachecontrol.CacheControl(Session(), cache=FileCache(dir))"),
    "cachecontrol-separate": (
        "cachecontrol",
        "cachecontrol.CacheControl(Session(), cache=SeparateBodyFileCache(dir)) (its large-body variant)",
    ),
    "requests-cache-sqlite": (
        "requests-cache",
        "requests_cache.CachedSession(dir/rc, backend='sqlite', cache_control=True, expire_after=EXPIRE_IMMEDIATELY)",
    ),
    "requests-cache-filesystem": (
        "requests-cache",
        "requests_cache.CachedSession(dir/rc, backend='filesystem', cache_control=True, "
        "expire_after=EXPIRE_IMMEDIATELY)",
    ),
    "hishel-sqlite": (
        "hishel",
        "hishel.requests.CacheAdapter(storage=SqliteStorage(database_path=dir/hishel.db), "
        "rfc=CacheOptions(shared=False)) (hishel 2.0 has no file-system storage)",
    ),
}


# -- the body ------------------------------------------------------------------------------


def _pattern() -> bytes:
    return random.Random(SEED).getrandbits(BLOCK * 8).to_bytes(BLOCK, "little")


def blocks(size: int) -> Iterator[bytes]:
    """The body of ``size`` bytes, in blocks of at most BLOCK bytes."""
    pattern = _pattern()
    for offset in range(0, size, BLOCK):
        block = bytearray(pattern[: min(BLOCK, size - offset)])
        for page in range(0, len(block), PAGE):
            stamp = (offset + page).to_bytes(8, "big")
            block[page : page + 8] = stamp[: len(block) - page]
        yield bytes(block)


def body_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for block in blocks(size):
        digest.update(block)
    return digest.hexdigest()


class Comparer:
    """Compares bytes as they arrive with ``blocks(size)``; remembers the first difference."""

    def __init__(self, size: int) -> None:
        self._expected = blocks(size)
        self._pending = b""
        self.position = 0
        self.first_difference: Optional[int] = None

    def feed(self, data: bytes) -> None:
        if self.first_difference is not None:
            self.position += len(data)
            return
        view = memoryview(data)
        while view:
            if not self._pending:
                self._pending = next(self._expected, b"")
                if not self._pending:  # longer than the body
                    self.first_difference = self.position
                    self.position += len(view)
                    return
            n = min(len(view), len(self._pending))
            if view[:n] != self._pending[:n]:
                for i in range(n):  # pin the byte (rare: only on a mismatch)
                    if view[i] != self._pending[i]:
                        break
                self.first_difference = self.position + i
                self.position += len(view)
                return
            self._pending = self._pending[n:]
            self.position += n
            view = view[n:]


# -- the origin ------------------------------------------------------------------------------


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_path: dict[str, dict[str, int]] = {}

    def add(self, path: str, status: int) -> None:
        with self.lock:
            counts = self.by_path.setdefault(path, {"200": 0, "304": 0})
            counts[str(status)] = counts.get(str(status), 0) + 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {path: dict(counts) for path, counts in self.by_path.items()}


COUNTS = Counts()
_BODY_PATH = re.compile(r"^/(length|chunked)/(\d+)/([A-Za-z0-9._-]+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bench-stream-origin"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/__stats":
            self._small(200, "application/json", json.dumps(COUNTS.snapshot()).encode())
            return
        match = _BODY_PATH.match(path)
        if match is None:
            self._small(404, "text/plain", b"not found\n")
            return
        transfer, size, tag = match.group(1), int(match.group(2)), match.group(3)
        etag = f'"{size}-{tag}"'
        inm = self.headers.get("If-None-Match")
        status = 304 if inm is not None and etag in (t.strip() for t in inm.split(",")) else 200
        COUNTS.add(path, status)
        self.send_response_only(status)
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("Cache-Control", f"max-age={MAX_AGE}")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        if status == 304:
            self.end_headers()
            return
        self.send_header("Content-Type", "application/octet-stream")
        if transfer == "length":
            self.send_header("Content-Length", str(size))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for block in blocks(size):
                if transfer == "length":
                    self.wfile.write(block)
                else:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(block), block))
            if transfer == "chunked":
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading
            self.close_connection = True

    def _small(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


def origin_main() -> int:
    from _origin import serve  # the benchmark origin's own loop (imported here: workers never need it)

    return serve(Server(("127.0.0.1", 0), Handler))


# -- memory --------------------------------------------------------------------------------

_STATUS_FIELDS = re.compile(rb"^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem):\s+(\d+) kB", re.MULTILINE)


class Status:
    """``/proc/self/status`` memory fields in bytes, read through one open descriptor."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/self/status", os.O_RDONLY)

    def read(self) -> dict[str, int]:
        text = os.pread(self._fd, 16384, 0)
        return {name.decode(): int(kb) * 1024 for name, kb in _STATUS_FIELDS.findall(text)}

    def close(self) -> None:
        os.close(self._fd)


def reset_hwm() -> bool:
    """Reset the kernel's peak RSS (VmHWM) to the current RSS (Linux 4.0+); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class Sampler:
    """A thread that reads VmRSS (and its anon/file split) every ``interval`` seconds."""

    def __init__(self, status: Status, interval: float) -> None:
        self._status = status
        self._interval = interval
        self._stop = threading.Event()
        self.samples = 0
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _take(self) -> None:
        now = self._status.read()
        for name in self.peak:
            self.peak[name] = max(self.peak[name], now.get(name, 0))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._take()

    def __enter__(self) -> Sampler:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


# -- the worker ------------------------------------------------------------------------------


def stream_versions(client: str) -> dict[str, str]:
    import _sessions  # the worker's side only (see Worker)

    found = _sessions.versions(CLIENTS[client][0])
    if CLIENTS[client][0] == "httpcache":  # its source is being edited: say which one this process ran
        found["package"] += f", src {source_digest(importlib.import_module('httpcache').__file__)}"
    return found


def source_digest(init_file: Optional[str]) -> str:
    """First 12 hex digits of a SHA-256 over a package's ``*.py`` files (paths and contents)."""
    if not init_file:
        return "?"
    root = os.path.dirname(os.path.abspath(init_file))
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(f for f in filenames if f.endswith(".py")):
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()[:12]


class Worker:
    def __init__(self, client: str, origin: str, directory: str, interval: float) -> None:
        self.client = client
        self.origin = origin.rstrip("/")
        import _sessions  # the worker's side only: the runners import this module for CLIENTS, stdlib only

        self.built = _sessions.build(client, directory)
        self.from_cache = _sessions.from_cache
        self.session = self.built.session
        self.notes = self.built.notes
        self.status = Status()
        self.interval = interval

    def origin_counts(self, path: str) -> dict[str, int]:
        split = urlsplit(self.origin)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
        try:
            conn.request("GET", "/__stats")
            stats: dict[str, dict[str, int]] = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return stats.get(path, {"200": 0, "304": 0})

    def fetch(self, path: str, size: int) -> dict[str, Any]:
        """GET ``path`` streamed, read in READ_CHUNK pieces into SHA-256 and a comparison, close."""
        digest = hashlib.sha256()
        compare = Comparer(size)
        resp = self.session.get(self.origin + path, stream=True, timeout=(30, 300))
        try:
            status = resp.status_code
            for chunk in resp.iter_content(READ_CHUNK):
                digest.update(chunk)
                compare.feed(chunk)
            cached = self.from_cache(self.client, resp)
        finally:
            resp.close()
        return {
            "status": status,
            "bytes": compare.position,
            "sha256": digest.hexdigest(),
            "first_difference": compare.first_difference,
            "from_cache": cached,
        }

    def phase(self, path: str, size: int) -> dict[str, Any]:
        """One measured fetch: RSS before, peak (sampled and VmHWM), after; time; origin requests."""
        before_counts = self.origin_counts(path)
        gc.collect()
        start_rss = self.status.read()["VmRSS"]
        hwm_reset = reset_hwm()
        with Sampler(self.status, self.interval) as sampler:
            t0 = time.perf_counter()
            result = self.fetch(path, size)
            seconds = time.perf_counter() - t0
        end = self.status.read()
        gc.collect()
        after_gc = self.status.read()["VmRSS"]
        after_counts = self.origin_counts(path)
        result.update(
            {
                "seconds": seconds,
                "rss_start": start_rss,
                "rss_end": end["VmRSS"],
                "rss_after_gc": after_gc,
                "peak_sampled": sampler.peak["VmRSS"],
                "peak_anon_sampled": sampler.peak["RssAnon"],
                "peak_file_sampled": sampler.peak["RssFile"],
                "peak_hwm": end["VmHWM"] if hwm_reset else None,
                "peak": max(sampler.peak["VmRSS"], end["VmHWM"] if hwm_reset else 0),
                "samples": sampler.samples,
                "origin_200": after_counts["200"] - before_counts["200"],
                "origin_304": after_counts["304"] - before_counts["304"],
            }
        )
        return result

    def run(self, path: str, size: int, warm_path: str) -> dict[str, Any]:
        warm = [self.fetch(warm_path, WARM_SIZE) for _ in range(2)]  # imports, store and hit paths
        gc.collect()
        time.sleep(0.05)
        baseline = self.status.read()
        store = self.phase(path, size)
        hit = self.phase(path, size)
        return {
            "ok": True,
            "versions": stream_versions(self.client),
            "notes": self.notes,
            "warm_from_cache": [w["from_cache"] for w in warm],
            "baseline": baseline["VmRSS"],
            "baseline_anon": baseline["RssAnon"],
            "baseline_file": baseline["RssFile"],
            "store": store,
            "hit": hit,
        }


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="_stream.py worker")
    parser.add_argument("--client", required=True, choices=list(CLIENTS))
    parser.add_argument("--origin", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--warm-path", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--interval-ms", type=float, default=2.0)
    args = parser.parse_args(argv)
    from _sessions import answer_channel, failure, reply  # the worker's side only (see Worker)

    answers = answer_channel()
    try:
        worker = Worker(args.client, args.origin, args.dir, args.interval_ms / 1000)
        answer = worker.run(args.path, args.size, args.warm_path)
        worker.built.close()
    except Exception:  # noqa: BLE001 - reported to the runner
        answer = failure(12)
    reply(answers, answer)
    return 0 if answer["ok"] else 1


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "origin":
        return origin_main()
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        return worker_main(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

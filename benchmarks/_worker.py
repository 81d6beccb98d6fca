"""One benchmark client in its own process (and venv), driven by run.py.

    python benchmarks/_worker.py --client httpcache --origin http://127.0.0.1:PORT

Needs only the standard library, ``requests`` and the client's own package, so it
runs unchanged in each peer's venv. Reads one JSON command per line on stdin and
answers one JSON object per line on the original stdout (anything a library prints
goes to stderr instead). Exits at EOF on stdin.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import json
import os
import platform
import pstats
import sqlite3
import sys
import threading
import time
import traceback
from importlib import metadata
from typing import Any, Callable, Mapping, Optional, TextIO, Union

import requests
from _workload import CASES, HOT_URLS, MAX_AGE, SIZES, THREADS
from requests.adapters import BaseAdapter
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict

PACKAGES = {
    "httpcache": "httpcache",
    "cachecontrol": "cachecontrol",
    "requests-cache": "requests-cache",
    "hishel": "hishel",
}


class PrebuiltAdapter(BaseAdapter):
    """F1: answers every request with the same prebuilt ``Response``; no I/O, no cache."""

    def __init__(self) -> None:
        super().__init__()
        self._small = self._prebuilt(SIZES["1k"])
        self._large = self._prebuilt(SIZES["1m"])

    @staticmethod
    def _prebuilt(size: int) -> Response:
        resp = Response()
        resp.status_code = 200
        resp.reason = "OK"
        resp.headers = CaseInsensitiveDict(
            {
                "Cache-Control": f"max-age={MAX_AGE}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
            }
        )
        resp._content = b"x" * size
        return resp

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Union[float, tuple[float, float], tuple[float, None], None] = None,
        verify: Union[bool, str] = True,
        cert: Union[bytes, str, tuple[Union[bytes, str], Union[bytes, str]], None] = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> Response:
        resp = self._large if "/1m/" in (request.url or "") else self._small
        resp.request = request
        resp.url = request.url or ""
        return resp

    def close(self) -> None:
        pass


def build_session(client: str) -> requests.Session:
    """The client's session; peers are imported by name (each lives in its own venv)."""
    session: requests.Session
    if client == "F1":
        session = requests.Session()
        session.mount("http://", PrebuiltAdapter())
    elif client == "F2":
        session = requests.Session()
    elif client == "httpcache":
        httpcache: Any = importlib.import_module("httpcache")
        session = httpcache.CacheControl(requests.Session())  # DictCache
    elif client == "cachecontrol":
        cachecontrol: Any = importlib.import_module("cachecontrol")
        session = cachecontrol.CacheControl(requests.Session())  # in-memory DictCache
    elif client == "requests-cache":
        requests_cache: Any = importlib.import_module("requests_cache")
        # EXPIRE_IMMEDIATELY: without freshness headers a response is stored already
        # stale, so only the response headers decide (as in conformance/proxy.py).
        session = requests_cache.CachedSession(
            backend="memory", cache_control=True, expire_after=requests_cache.EXPIRE_IMMEDIATELY
        )
    elif client == "hishel":
        hishel: Any = importlib.import_module("hishel")
        hishel_requests: Any = importlib.import_module("hishel.requests")
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        adapter = hishel_requests.CacheAdapter(
            storage=hishel.SqliteStorage(connection=conn), rfc=hishel.CacheOptions(shared=False)
        )
        session = requests.Session()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    else:
        raise ValueError(f"unknown client {client!r}")
    session.trust_env = False  # no proxy / netrc / CA lookups in the environment
    return session


def versions(client: str) -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "requests": metadata.version("requests"),
        "urllib3": metadata.version("urllib3"),
    }
    if client in PACKAGES:
        try:
            found[client] = metadata.version(PACKAGES[client])
        except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH
            found[client] = str(getattr(importlib.import_module(client), "__version__", "?"))
    return found


class Bench:
    def __init__(self, client: str, origin: str) -> None:
        self.client = client
        self.origin = origin.rstrip("/")
        self.session = build_session(client)
        self.serial = 0  # distinct URLs for miss_store
        self.hot = [self.url("threads", i) for i in range(HOT_URLS)]

    def url(self, case: str, n: int) -> str:
        return self.origin + CASES[case][1].format(n=n)

    def urls(self, case: str, calls: int) -> list[str]:
        if case == "miss_store":
            first, self.serial = self.serial, self.serial + calls
            return [self.url(case, n) for n in range(first, first + calls)]
        return [self.url(case, 0)] * calls

    def prime(self, case: str) -> None:
        """Make the cache hold what the case reads (a miss + store per URL)."""
        if case == "miss_store":
            return  # every call is a new URL
        for url in self.hot if case == "threads" else [self.url(case, 0)]:
            self.session.get(url).content  # noqa: B018 - read so a cache stores it

    # -- measuring -------------------------------------------------------------------

    def sequential(self, case: str, calls: int) -> dict[str, Any]:
        """``calls`` GETs one after the other; the body is always read."""
        expected = SIZES["1m"] if case == "hit_1m" else SIZES["1k"]
        urls = self.urls(case, calls)
        get = self.session.get
        bad = 0
        gc.collect()
        start = time.perf_counter_ns()
        for url in urls:
            if len(get(url).content) != expected:
                bad += 1
        elapsed = time.perf_counter_ns() - start
        return {"ns": elapsed, "calls": calls, "bad": bad, "errors": 0}

    def threaded(self, calls: int) -> dict[str, Any]:
        """THREADS threads share the session, each making ``calls // THREADS`` GETs over the hot URLs."""
        per_thread = max(1, calls // THREADS)
        expected = SIZES["1k"]
        errors = [0] * THREADS
        bad = [0] * THREADS
        first_error: list[str] = []
        barrier = threading.Barrier(THREADS + 1)
        get = self.session.get
        hot = self.hot

        def work(t: int) -> None:
            offset = t * (HOT_URLS // THREADS)
            barrier.wait()
            for i in range(per_thread):
                try:
                    if len(get(hot[(offset + i) % HOT_URLS]).content) != expected:
                        bad[t] += 1
                except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                    errors[t] += 1
                    if not first_error:
                        first_error.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        gc.collect()
        barrier.wait()
        start = time.perf_counter_ns()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter_ns() - start
        out: dict[str, Any] = {"ns": elapsed, "calls": per_thread * THREADS, "bad": sum(bad), "errors": sum(errors)}
        if first_error:
            out["first_error"] = first_error[0]
        return out

    def sample(self, case: str, calls: int) -> dict[str, Any]:
        return self.threaded(calls) if case == "threads" else self.sequential(case, calls)

    def warm(self, case: str, target_s: float) -> dict[str, Any]:
        """Prime, warm up, and find how many calls take about ``target_s``."""
        self.prime(case)
        calls = THREADS if case == "threads" else 1
        while True:
            result = self.sample(case, calls)
            seconds = result["ns"] / 1e9
            if seconds >= target_s / 4 or calls >= 10_000_000:
                break
            calls *= 4
        per_call = seconds / result["calls"]
        result["suggested_calls"] = max(THREADS if case == "threads" else 1, round(target_s / max(per_call, 1e-9)))
        return result

    def profile(self, case: str, calls: int, top: int) -> dict[str, Any]:
        self.warm(case, 0.2)
        profiler = cProfile.Profile()
        profiler.enable()
        self.sample(case, calls)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        return {"text": text.getvalue()}


def serve(bench: Bench, commands: TextIO, answers: TextIO) -> None:
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "warm": lambda cmd: bench.warm(cmd["case"], float(cmd["target_s"])),
        "sample": lambda cmd: bench.sample(cmd["case"], int(cmd["calls"])),
        "profile": lambda cmd: bench.profile(cmd["case"], int(cmd["calls"]), int(cmd.get("top", 25))),
    }
    for line in commands:
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        try:
            answer = {"ok": True, **handlers[cmd["op"]](cmd)}
        except Exception:  # noqa: BLE001 - reported to the runner, which skips this client
            answer = {"ok": False, "error": traceback.format_exc(limit=8)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True)
    parser.add_argument("--origin", required=True)
    args = parser.parse_args()
    # The protocol gets the real stdout; whatever else writes to fd 1 lands on stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        bench = Bench(args.client, args.origin)
        ready: dict[str, Any] = {"ok": True, "versions": versions(args.client)}
    except Exception:  # noqa: BLE001 - reported to the runner
        answers.write(json.dumps({"ok": False, "error": traceback.format_exc(limit=8)}) + "\n")
        answers.flush()
        return 1
    answers.write(json.dumps(ready) + "\n")
    answers.flush()
    try:
        serve(bench, sys.stdin, answers)
    except KeyboardInterrupt:
        return 130
    finally:
        bench.session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

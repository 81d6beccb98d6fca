"""One benchmark client in its own process (and venv), driven by run.py.

    python benchmarks/_worker.py --client httpcache-file --origin http://127.0.0.1:PORT --dir DIR

Needs only the standard library, ``requests`` and the client's own package, so it
runs unchanged in each peer's venv. Reads one JSON command per line on stdin and
answers one JSON object per line on the original stdout (anything a library prints
goes to stderr instead). Exits at EOF on stdin, closing its stores first (the runner
removes ``--dir``; ``httpcache-redis`` clears its ``--redis-prefix``).

Commands: ``warm`` (store what a case reads, find the calls per sample), ``sample`` (one
timed sample; ``seed``: the spread case's draws), ``scale_fill`` (fill the store-size cases'
own store; ``_scale.py``), ``profile``, ``quit``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import sys
import time
from typing import Any, Callable, TextIO, Union

from _scale import SCALE_HOT, ScaleStore
from _sessions import Built, answer_channel, build, failure, reply, versions
from _timing import profile_text, released_together
from _workload import CASES, CLIENTS, FLOORS, HOT_URLS, SIZES, STORE_CASES, STORM_URLS, THREADS


class Bench:
    def __init__(self, client: str, origin: str, directory: str, redis_url: str, redis_prefix: str) -> None:
        self.client = client
        self.origin = origin.rstrip("/")
        self.directory = directory
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.main = self.build("main")
        self.session = self.main.session
        make = None if client in FLOORS else lambda: self.build("scale")
        self.scale = ScaleStore(client, make, lambda name: self.url("scale", name))  # filled by scale_fill
        self.serial = 0  # distinct URLs for miss_store and storm
        self.hot = [self.url("threads", i) for i in range(HOT_URLS)]

    def build(self, name: str) -> Built:
        """A session on a new store named ``name`` (its own subdirectory, or Redis prefix; none for a floor)."""
        prefix = f"{self.redis_prefix}{name}:" if self.redis_prefix else ""
        return build(self.client, os.path.join(self.directory, name), self.redis_url, prefix)

    def url(self, case: str, n: Union[int, str]) -> str:
        return self.origin + CASES[case][1].format(n=n)

    def urls(self, case: str, calls: int, seed: int = 0) -> list[str]:
        if case == "miss_store":
            first, self.serial = self.serial, self.serial + calls
            return [self.url(case, n) for n in range(first, first + calls)]
        if case == "spread":  # drawn from every entry stored (a floor: the same names)
            return self.scale.draw(seed, calls)
        if case == "scale" and self.scale.built is not None:
            return [self.url(case, SCALE_HOT)] * calls
        return [self.url("hit_1k" if case == "scale" else case, 0)] * calls  # F1, F2: hit_1k's call

    def session_for(self, case: str) -> Any:
        built = self.scale.built
        return built.session if case in STORE_CASES and built is not None else self.session

    def prime(self, case: str) -> None:
        """Make the cache hold what the case reads (a miss + store per URL)."""
        if case in ("miss_store", "storm", "spread"):
            return  # every call is a new URL, or the store is filled already
        get = self.session_for(case).get
        for url in self.hot if case == "threads" else self.urls(case, 1):
            get(url).content  # noqa: B018 - read so a cache stores it

    # -- measuring -------------------------------------------------------------------

    def sequential(self, case: str, calls: int, seed: int = 0) -> dict[str, Any]:
        """``calls`` GETs one after the other; the body is always read."""
        expected = SIZES["1m"] if case == "hit_1m" else SIZES["1k"]
        urls = self.urls(case, calls, seed)
        get = self.session_for(case).get
        bad = 0
        gc.collect()
        start = time.perf_counter_ns()
        for url in urls:
            if len(get(url).content) != expected:
                bad += 1
        elapsed = time.perf_counter_ns() - start
        return {"ns": elapsed, "calls": calls, "bad": bad, "errors": 0}

    def _threads(self, plan: Callable[[int], list[str]], calls_per_thread: int) -> dict[str, Any]:
        """THREADS threads share the session, released together; thread ``t`` GETs ``plan(t)``."""
        expected = SIZES["1k"]
        errors = [0] * THREADS
        bad = [0] * THREADS
        first_error: list[str] = []
        get = self.session.get
        work_lists = [plan(t) for t in range(THREADS)]

        def work(t: int) -> None:
            for url in work_lists[t]:
                try:
                    if len(get(url).content) != expected:
                        bad[t] += 1
                except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                    errors[t] += 1
                    if not first_error:
                        first_error.append(f"{type(exc).__name__}: {exc}")

        elapsed = released_together(work, THREADS)
        out: dict[str, Any] = {
            "ns": elapsed,
            "calls": calls_per_thread * THREADS,
            "bad": sum(bad),
            "errors": sum(errors),
        }
        if first_error:
            out["first_error"] = first_error[0]
        return out

    def threaded(self, calls: int) -> dict[str, Any]:
        """Each thread makes ``calls // THREADS`` GETs cycling over the hot URLs from its own offset."""
        per_thread = max(1, calls // THREADS)
        hot = self.hot

        def plan(t: int) -> list[str]:
            offset = t * (HOT_URLS // THREADS)
            return [hot[(offset + i) % HOT_URLS] for i in range(per_thread)]

        return self._threads(plan, per_thread)

    def storm(self, count: int = STORM_URLS) -> dict[str, Any]:
        """Every thread GETs the same ``count`` never-asked URLs in the same order (a cold storm)."""
        first, self.serial = self.serial, self.serial + count
        urls = [self.url("storm", f"{self.client}-{n}") for n in range(first, first + count)]
        out = self._threads(lambda t: urls, count)
        out["urls"] = count
        return out

    def sample(self, case: str, calls: int, seed: int = 0) -> dict[str, Any]:
        if case == "threads":
            return self.threaded(calls)
        if case == "storm":
            return self.storm()
        return self.sequential(case, calls, seed)

    def warm(self, case: str, target_s: float, seed: int = 0) -> dict[str, Any]:
        """Prime, warm up, and find how many calls take about ``target_s``."""
        if case == "storm":  # a fixed size: warm the threads' connections and code paths on a small storm
            result = self.storm(4)
            result["suggested_calls"] = THREADS * STORM_URLS
            return result
        self.prime(case)
        calls = THREADS if case == "threads" else 1
        while True:
            result = self.sample(case, calls, seed)
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
        return {"text": profile_text(profiler, top, "tottime", "cumulative")}

    def close(self) -> None:
        self.main.close()
        self.scale.close()


def serve(bench: Bench, commands: TextIO, answers: TextIO) -> None:
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "warm": lambda cmd: bench.warm(cmd["case"], float(cmd["target_s"]), int(cmd.get("seed", 0))),
        "sample": lambda cmd: bench.sample(cmd["case"], int(cmd["calls"]), int(cmd.get("seed", 0))),
        "scale_fill": lambda cmd: bench.scale.fill_to(int(cmd["entries"]), int(cmd["real_max"])),
        "profile": lambda cmd: bench.profile(cmd["case"], int(cmd["calls"]), int(cmd.get("top", 25))),
    }
    for line in commands:
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        try:
            answer = {"ok": True, **handlers[cmd["op"]](cmd)}
        except Exception:  # noqa: BLE001 - reported to the runner, which skips this client
            answer = failure(8)
        reply(answers, answer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True, choices=list(CLIENTS))
    parser.add_argument("--origin", required=True)
    parser.add_argument("--dir", required=True, help="where this worker's disk stores go")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--redis-prefix", default="")
    args = parser.parse_args()
    answers = answer_channel()
    try:
        bench = Bench(args.client, args.origin, args.dir, args.redis_url, args.redis_prefix)
        ready = {"ok": True, "versions": versions(CLIENTS[args.client].package), "notes": bench.main.notes}
    except Exception:  # noqa: BLE001 - reported to the runner
        reply(answers, failure(8))
        return 1
    reply(answers, ready)
    try:
        serve(bench, sys.stdin, answers)
    except KeyboardInterrupt:
        return 130
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

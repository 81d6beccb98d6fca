"""Side-by-side benchmark of httpcache and other ``requests`` caches (see benchmarks/README.md).

    python benchmarks/run.py            # every client and case: about 9 min on 2 vCPUs
    python benchmarks/run.py --quick    # about 2 min, noisier
    python benchmarks/run.py --cases hit_1k,storm --clients httpcache,httpcache-sqlite
    python benchmarks/run.py --profile  # cProfile of httpcache's 1 KB fresh-hit path

Starts a local origin (its own process) and one worker process per client, each in
its own interpreter/venv, then interleaves the clients round by round; then the store
sizes (each client's store filled to 100 ... 100k entries: the hit cost of its hot URL,
hits spread over all its entries, the RSS per entry); then the 200 MiB streamed body
(stream_rss.py's measurement, each client in a process of its own).
Prints a Markdown report and writes it to benchmarks/results/latest.md (and the raw
samples to latest.json). Timings are reported, never judged: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator, Optional

import _cli
import _redis
import stream_rss
from _procs import (
    HERE,
    RESULTS,
    START_TIMEOUT,
    BenchError,
    Child,
    NoAnswerError,
    Origin,
    machine,
    origin,
    python_for,
    stop_all,
)
from _report import Run, Sample, Settings, report, summarise
from _report_stores import checked
from _report_stores import section as stores_section
from _stream import CLIENTS as STREAM_CLIENTS
from _timing import rotated
from _workload import CASES, CLIENTS, FLOORS, REDIS_CLIENTS, ROUND_CASES, STORE_CASES

log = logging.getLogger("benchmarks")

WORKER = HERE / "_worker.py"
FILL_TIMEOUT = 1800.0  # one fill step of every worker at once (the last one, to 100k entries, is the longest)

FULL = Settings(
    rounds=12,
    target_s=0.2,
    threads_target_s=0.4,
    max_seconds=420.0,
    storm_rounds=5,
    scale_levels=(100, 1_000, 10_000, 100_000),
    spread_levels=(1_000, 10_000, 100_000),
    scale_real_max=10_000,
    scale_rounds=5,
    stream_mib=200,
)
QUICK = Settings(
    rounds=4,
    target_s=0.08,
    threads_target_s=0.16,
    max_seconds=90.0,
    storm_rounds=2,
    scale_levels=(100, 1_000, 10_000),
    spread_levels=(1_000, 10_000),
    scale_real_max=10_000,
    scale_rounds=3,
    stream_mib=50,
)


# -- measuring ---------------------------------------------------------------------------


class Measurer:
    def __init__(self, workers: dict[str, Child], origin: Origin, run: Run) -> None:
        self.alive = dict(workers)
        self.origin = origin
        self.run = run

    def fail(self, key: str, client: str, exc: BenchError) -> None:
        log.warning("%s / %s: %s", key, client, exc)
        self.run.failures[f"{key}/{client}"] = str(exc)[:2000]
        gone = client in self.alive and self.alive[client].proc.poll() is not None
        if gone or isinstance(exc, NoAnswerError):  # a late answer would be taken for the next command's
            self.alive.pop(client, None)

    def ok(self, key: str, client: str) -> bool:
        return client in self.alive and f"{key}/{client}" not in self.run.failures

    def warm(self, case: str, key: str, clients: list[str], seed: int = 0) -> None:
        target = self.run.settings.threads_target_s if case == "threads" else self.run.settings.target_s
        for client in clients:
            if not self.ok(key, client):
                continue
            log.info("warming up %-26s %s", client, key)
            try:
                answer = self.alive[client].ask({"op": "warm", "case": case, "target_s": target, "seed": seed})
            except BenchError as exc:
                self.fail(key, client, exc)
                continue
            self.run.calls[f"{key}/{client}"] = int(answer["suggested_calls"])

    def sample(self, case: str, key: str, client: str, rnd: int, seed: int = 0) -> None:
        if not self.ok(key, client) or f"{key}/{client}" not in self.run.calls:
            return
        calls = self.run.calls[f"{key}/{client}"]
        try:
            before = self.origin.stats()
            answer = self.alive[client].ask({"op": "sample", "case": case, "calls": calls, "seed": seed})
            after = self.origin.stats()
        except (BenchError, OSError) as exc:
            self.fail(key, client, exc if isinstance(exc, BenchError) else BenchError(str(exc)))
            return
        if "first_error" in answer:
            self.run.first_errors.setdefault(f"{key}/{client}", answer["first_error"])
        self.run.samples.setdefault(f"{key}/{client}", []).append(
            Sample(
                round=rnd,
                ns=int(answer["ns"]),
                calls=int(answer["calls"]),
                origin_requests=after["requests"] - before["requests"],
                not_modified=after["not_modified"] - before["not_modified"],
                bad=int(answer["bad"]),
                errors=int(answer["errors"]),
                urls=int(answer.get("urls", 0)),
            )
        )

    def rounds(self) -> None:
        """The round cases: warm every client, then rounds of one sample per case and client."""
        run, settings = self.run, self.run.settings
        cases = [c for c in run.cases if c in ROUND_CASES]
        if not cases:
            return
        started_at = time.monotonic()
        for case in cases:
            self.warm(case, case, run.clients)
        for rnd in range(settings.rounds):
            if time.monotonic() - started_at > settings.max_seconds:
                run.notes.append(f"stopped after {rnd} of {settings.rounds} rounds (time limit)")
                break
            log.info("round %d/%d", rnd + 1, settings.rounds)
            for case in cases:
                if case == "storm" and rnd >= settings.storm_rounds:
                    continue
                for client in rotated(run.clients, rnd):  # nobody always goes first
                    self.sample(case, case, client, rnd)
            run.rounds_done = rnd + 1
        run.seconds["rounds"] = time.monotonic() - started_at

    def stores(self) -> None:
        """The store-size cases: fill every client's own store to each size (all at once), then
        interleaved rounds of hits on it: ``scale`` on its hot URL, ``spread`` on URLs drawn from
        all its entries (the same draws for every client: a seed per size and round)."""
        run, settings = self.run, self.run.settings
        started_at = time.monotonic()
        clients = [c for c in run.clients if c != "F2"]  # F1 is the floor; F2 has no store to fill
        plan = {"scale": settings.scale_levels, "spread": settings.spread_levels}
        plan = {case: levels for case, levels in plan.items() if case in run.cases}
        for level in sorted({n for levels in plan.values() for n in levels}):
            cases = [case for case, levels in plan.items() if level in levels]
            self.fill(level, clients, cases)
            for case in cases:
                self.warm(case, f"{case}@{level}", clients, seed=level * 100 + 99)
            for rnd in range(settings.scale_rounds):
                for case in cases:
                    for client in rotated(clients, rnd):
                        self.sample(case, f"{case}@{level}", client, rnd, seed=level * 100 + rnd)
        run.seconds["store sizes"] = time.monotonic() - started_at

    def fill(self, level: int, clients: list[str], cases: list[str]) -> None:
        """Every client's store filled to ``level`` entries (all workers at once); a client whose
        fill fails (now or at a smaller size) has no figure for ``cases`` at this size."""
        run, key = self.run, f"fill@{level}"
        log.info("filling every store to %s entries", f"{level:,}")
        for client in clients:
            if any(k.startswith("fill@") and k.rsplit("/", 1)[1] == client for k in run.failures):
                run.failures.setdefault(f"{key}/{client}", "failed at a smaller size")
        asked = []
        for client in clients:
            if self.ok(key, client):
                try:
                    self.alive[client].send(
                        {"op": "scale_fill", "entries": level, "real_max": run.settings.scale_real_max}
                    )
                    asked.append(client)
                except BenchError as exc:
                    self.fail(key, client, exc)
        for client in asked:
            try:
                fill = self.alive[client].receive(FILL_TIMEOUT)
            except BenchError as exc:
                self.fail(key, client, exc)
                continue
            fill.pop("ok", None)
            run.fills[f"{key}/{client}"] = fill
            log.info("  %-26s %s entries (%.0f s)", client, fill.get("entries"), fill["seconds"])
            if "copy_note" in fill:
                run.notes.append(f"{client}: no copies, filled for real: {fill['copy_note']}")
            if not checked(fill):
                run.notes.append(f"{key}/{client}: the fill did not check out: {fill}")
        for client in clients:
            if f"{key}/{client}" in run.failures:
                for case in cases:
                    run.failures.setdefault(f"{case}@{level}/{client}", "its store was not filled")


# -- processes ---------------------------------------------------------------------------------


class Stores:
    """Where the workers' stores live: a temporary directory and a Redis prefix of this run's own."""

    def __init__(self, redis_url: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="httpcache-bench-"))
        self.redis_url = redis_url
        self.redis_prefix = _redis.run_prefix()
        self.redis_used = False

    def close(self) -> None:
        if self.redis_used:
            try:
                deleted = _redis.clean(self.redis_url, self.redis_prefix)
                log.info("deleted %d Redis keys under %s", deleted, self.redis_prefix)
            except Exception as exc:  # noqa: BLE001 - reported; the run's results stand
                log.warning("could not clean Redis keys under %s: %s", self.redis_prefix, exc)
        shutil.rmtree(self.root, ignore_errors=True)


def start_workers(
    stack: contextlib.ExitStack, server: Origin, run: Run, logs: Path, stores: Stores
) -> dict[str, Child]:
    workers: dict[str, Child] = {}
    children: list[Child] = []
    stack.callback(stop_all, children)  # all at once: a busy worker finishes its command while the others exit
    for client in list(run.clients):
        python, env, why = python_for(CLIENTS[client].package)
        if python is None:
            log.warning("skipping %s: %s", client, why)
            run.skipped[client] = why
            continue
        directory = stores.root / client
        directory.mkdir()
        env = {**env, "TMPDIR": str(directory)}  # a client's own temporary files go there too
        cmd = [python, str(WORKER), "--client", client, "--origin", server.url, "--dir", str(directory)]
        if client in REDIS_CLIENTS:
            why = _redis.unavailable(stores.redis_url)
            if why:
                log.warning("skipping %s: %s", client, why)
                run.skipped[client] = why
                run.notes.append(f"{client} skipped: {why}")
                continue
            stores.redis_used = True
            _redis.clean(stores.redis_url, stores.redis_prefix)
            cmd += ["--redis-url", stores.redis_url, "--redis-prefix", f"{stores.redis_prefix}{client}:"]
        child = Child(f"worker {client}", cmd, env, logs / f"worker-{client}.log")
        children.append(child)
        workers[client] = child
    for client, child in list(workers.items()):  # they import in parallel
        try:
            ready = child.receive(START_TIMEOUT)
        except BenchError as exc:
            log.warning("skipping %s: %s", client, exc)
            run.skipped[client] = str(exc).splitlines()[-1]
            del workers[client]
            child.stop()
            continue
        run.versions[client] = ready["versions"]
        run.notes += [f"{client}: {note}" for note in ready.get("notes", [])]
    return workers


@contextlib.contextmanager
def workers_up(run: Run, logs: Path, redis_url: str) -> Iterator[tuple[Origin, dict[str, Child]]]:
    """The origin and a worker per client of ``run`` (those that started), on stores of this run's own;
    on exit all stopped and the stores removed."""
    stores = Stores(redis_url)
    try:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(origin(logs / "origin.log"))
            yield server, start_workers(stack, server, run, logs, stores)
            log.info("stopping the origin and the workers")
    finally:
        stores.close()


def profile(client: str, calls: int, case: str, redis_url: str) -> int:
    run = Run(settings=QUICK, clients=[client], cases=[case])
    with workers_up(run, _cli.logs_in(RESULTS), redis_url) as (_, workers):
        if client not in workers:
            return 1
        answer = workers[client].ask({"op": "profile", "case": case, "calls": calls, "top": 25})
        print(answer["text"])
    return 0


def measure_stream(run: Run, logs: Path, stream_clients: list[str]) -> None:
    """The stream case: stream_rss.py's measurement (Content-Length transfer), its section of the report."""
    started_at = time.monotonic()
    stream = stream_rss.measure(
        size=int(run.settings.stream_mib * stream_rss.MIB),
        clients=stream_clients,
        transfers=["length"],
        logs=logs,
    )
    run.seconds["stream"] = time.monotonic() - started_at
    run.stream_section = stream_rss.section(stream, run.seconds["stream"])


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = _cli.parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds; scale to 10k; 50 MiB stream")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    _cli.subset(parser, "clients", CLIENTS, f"comma-separated subset of {','.join(CLIENTS)} (F1, F2 always run)")
    _cli.subset(parser, "cases", CASES)
    _cli.subset(
        parser, "stream-clients", STREAM_CLIENTS, f"the stream case's clients, a subset of {','.join(STREAM_CLIENTS)}"
    )
    parser.add_argument(
        "--real-max",
        type=int,
        help="the store-size cases fill for real up to this many entries, copies beyond (default 10000)",
    )
    parser.add_argument("--redis-url", default=_redis.DEFAULT_URL, help="for httpcache-redis (skipped if unreachable)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.md / latest.json go")
    parser.add_argument(
        "--profile", nargs="?", const="httpcache", metavar="CLIENT", help="cProfile CLIENT's 1 KB fresh hits instead"
    )
    parser.add_argument("--profile-case", default="hit_1k", choices=list(ROUND_CASES), help="the case --profile runs")
    parser.add_argument("--profile-calls", type=int, default=20_000, help="how many calls --profile runs")
    args = _cli.parse(parser, argv)
    args.clients = [c for c in CLIENTS if c in FLOORS or c in args.clients]
    if args.profile is not None and args.profile not in CLIENTS:
        parser.error(f"unknown client {args.profile}")
    for name in ("rounds", "real_max"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    _cli.setup(args.verbose)
    return _cli.guarded(lambda: run_and_report(args), "the origin and the workers")


def run_and_report(args: argparse.Namespace) -> int:
    if args.profile is not None:
        return profile(args.profile, args.profile_calls, args.profile_case, args.redis_url)
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = replace(settings, rounds=args.rounds, storm_rounds=min(settings.storm_rounds, args.rounds))
    if args.real_max:
        settings = replace(settings, scale_real_max=args.real_max)
    run = Run(settings=settings, clients=args.clients, cases=args.cases)
    out: Path = args.out
    logs = _cli.logs_in(out)
    when = _cli.utc_now()
    started_at = time.monotonic()
    if any(c in ROUND_CASES or c in STORE_CASES for c in run.cases):
        with workers_up(run, logs, args.redis_url) as (server, workers):
            measurer = Measurer(workers, server, run)
            measurer.rounds()
            measurer.stores()
    if "stream" in run.cases:
        measure_stream(run, logs, args.stream_clients)
    run.seconds["total"] = time.monotonic() - started_at
    summaries = summarise(run)
    text = report(run, summaries, machine(), when, stores_section(run, summaries))
    raw = {"settings": asdict(settings), "run": {k: v for k, v in asdict(run).items() if k != "settings"}}
    written = _cli.write(out, "latest", text, raw)
    log.info("wrote %s and latest.json in %.0f s", written, run.seconds["total"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

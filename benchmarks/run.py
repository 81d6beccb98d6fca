"""Side-by-side benchmark of httpcache and other ``requests`` caches (see benchmarks/README.md).

    python benchmarks/run.py            # about 1.5 min
    python benchmarks/run.py --quick    # about 20 s
    python benchmarks/run.py --profile  # cProfile of httpcache's 1 KB fresh-hit path

Starts a local origin (its own process) and one worker process per client, each in
its own interpreter/venv, then interleaves the clients round by round. Prints a
Markdown table and writes it to benchmarks/results/latest.md (and the raw samples
to latest.json). Timings are reported, never judged: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, Iterator, Optional, TextIO

from _workload import CASES, CLIENTS, EXPECTED_ORIGIN_PER_CALL, FLOORS, HOT_URLS, THREADS

log = logging.getLogger("benchmarks")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PEER_VENVS = REPO / "conformance" / ".work"  # created and pinned by conformance/harness.py
ORIGIN = HERE / "_origin.py"
WORKER = HERE / "_worker.py"

START_TIMEOUT = 60.0  # a worker imports its client; the origin binds a port
COMMAND_TIMEOUT = 120.0  # one warm-up or sample (each aims at well under a second)
STOP_TIMEOUT = 10.0
GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    rounds: int
    target_s: float  # aimed duration of one sample of a sequential case
    threads_target_s: float  # ... and of the threaded case
    max_seconds: float  # stop starting new rounds after this long (results are kept)


FULL = Settings(rounds=12, target_s=0.25, threads_target_s=0.5, max_seconds=160.0)
QUICK = Settings(rounds=5, target_s=0.08, threads_target_s=0.16, max_seconds=30.0)


class BenchError(RuntimeError):
    """A process of the benchmark did not start or answer."""


# -- child processes -------------------------------------------------------------------


def clean_env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment without proxy settings (requests reads them on every call) or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "PYTHONPATH"}
    env.update(extra or {})
    return env


class Child:
    """A process we started, talking JSON lines over its stdin/stdout; stderr goes to a log."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logfile: Path) -> None:
        self.name = name
        self.logfile = logfile
        self._log = logfile.open("wb")
        log.debug("starting %s: %s", name, " ".join(cmd))
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # Ctrl-C reaches only the runner, which stops us in order
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: Optional[TextIO]) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{self.name}: no answer within {timeout:.0f} s; see {self.logfile}") from None
        if line is None:
            self.proc.wait(timeout=STOP_TIMEOUT)
            tail = self.logfile.read_text(errors="replace")[-2000:]
            raise BenchError(f"{self.name} exited {self.proc.returncode}; see {self.logfile}:\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok", True):
            raise BenchError(f"{self.name}: {answer.get('error', answer)}")
        return answer

    def ask(self, command: dict[str, Any], timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise BenchError(f"{self.name} is gone; see {self.logfile}") from exc
        return self.receive(timeout)

    def stop(self) -> None:
        """Close its stdin (it exits at EOF), then SIGTERM, then SIGKILL; by PID only."""
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    assert self.proc.stdin is not None
                    self.proc.stdin.close()
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT / 2)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()
                    try:
                        self.proc.wait(timeout=STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, self.proc.pid)
                        self.proc.kill()
                        self.proc.wait(timeout=STOP_TIMEOUT)
        finally:
            self._log.close()


@contextlib.contextmanager
def started(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        child.stop()


class Origin:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stats(self) -> dict[str, int]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/__stats")
            data: dict[str, int] = json.loads(conn.getresponse().read())
            return data
        finally:
            conn.close()


def worker_python(client: str) -> tuple[Optional[str], dict[str, str], str]:
    """(interpreter, environment, why not) for a client's worker."""
    if client in FLOORS:
        return sys.executable, clean_env(), ""
    if client == "httpcache":  # this source tree, as conformance/ does
        return sys.executable, clean_env({"PYTHONPATH": str(REPO)}), ""
    python = PEER_VENVS / f"venv-{client}" / "bin" / "python"
    if not python.exists():
        return None, {}, f"no {python}: run `python conformance/run.py --client {client}` once to create it"
    return str(python), clean_env(), ""


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Sample:
    round: int
    ns: int
    calls: int
    origin_requests: int
    not_modified: int
    bad: int
    errors: int

    @property
    def us_per_call(self) -> float:
        return self.ns / self.calls / 1000

    @property
    def per_second(self) -> float:
        return self.calls / (self.ns / 1e9)


@dataclass
class Run:
    settings: Settings
    clients: list[str]
    cases: list[str]
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # client -> why
    failures: dict[str, str] = field(default_factory=dict)  # "case/client" -> error
    calls: dict[str, int] = field(default_factory=dict)  # "case/client" -> calls per sample
    samples: dict[str, list[Sample]] = field(default_factory=dict)  # "case/client" -> samples
    first_errors: dict[str, str] = field(default_factory=dict)
    rounds_done: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def measure(workers: dict[str, Child], origin: Origin, run: Run) -> None:
    started_at = time.monotonic()
    alive = dict(workers)

    def fail(case: str, client: str, exc: BenchError) -> None:
        log.warning("%s / %s: %s", case, client, exc)
        run.failures[f"{case}/{client}"] = str(exc)[:2000]
        if client in alive and alive[client].proc.poll() is not None:
            del alive[client]

    def ok(case: str, client: str) -> bool:
        return client in alive and f"{case}/{client}" not in run.failures

    for case in run.cases:
        target = run.settings.threads_target_s if case == "threads" else run.settings.target_s
        for client in run.clients:
            if not ok(case, client):
                continue
            log.info("warming up %-14s %s", client, case)
            try:
                answer = alive[client].ask({"op": "warm", "case": case, "target_s": target})
            except BenchError as exc:
                fail(case, client, exc)
                continue
            run.calls[f"{case}/{client}"] = int(answer["suggested_calls"])

    for rnd in range(run.settings.rounds):
        if time.monotonic() - started_at > run.settings.max_seconds:
            run.notes.append(f"stopped after {rnd} of {run.settings.rounds} rounds (time limit)")
            break
        log.info("round %d/%d", rnd + 1, run.settings.rounds)
        shift = rnd % len(run.clients)
        order = run.clients[shift:] + run.clients[:shift]  # nobody always goes first
        for case in run.cases:
            for client in order:
                key = f"{case}/{client}"
                if not ok(case, client) or key not in run.calls:
                    continue
                try:
                    before = origin.stats()
                    answer = alive[client].ask({"op": "sample", "case": case, "calls": run.calls[key]})
                    after = origin.stats()
                except (BenchError, OSError) as exc:
                    fail(case, client, exc if isinstance(exc, BenchError) else BenchError(str(exc)))
                    continue
                if "first_error" in answer:
                    run.first_errors.setdefault(key, answer["first_error"])
                run.samples.setdefault(key, []).append(
                    Sample(
                        round=rnd,
                        ns=int(answer["ns"]),
                        calls=int(answer["calls"]),
                        origin_requests=after["requests"] - before["requests"],
                        not_modified=after["not_modified"] - before["not_modified"],
                        bad=int(answer["bad"]),
                        errors=int(answer["errors"]),
                    )
                )
        run.rounds_done = rnd + 1
    run.seconds = time.monotonic() - started_at


# -- summarising ---------------------------------------------------------------------------


@dataclass
class Summary:
    case: str
    client: str
    value: float  # median µs per call; calls per second for "threads"
    low: float
    high: float
    ratio_f1: Optional[float]  # value / F1's value (medians of the same rounds)
    ratio_f2: Optional[float]
    over_f2_us: Optional[float]  # µs - F2's µs (medians)
    origin_per_call: float
    not_modified_per_call: float
    bad: int
    errors: int
    calls: int
    rounds: int

    @property
    def suspicious(self) -> bool:
        """The origin saw a different number of requests than the case is about, or calls failed."""
        if self.client == "F1":
            expected = 0
        elif self.client == "F2":
            expected = 1
        else:
            expected = EXPECTED_ORIGIN_PER_CALL[self.case]
        if abs(self.origin_per_call - expected) > 0.02 or self.bad or self.errors:
            return True
        return self.case == "revalidate_304" and self.client not in FLOORS and self.not_modified_per_call < 0.98


def median_of(samples: list[Sample], threaded: bool) -> Optional[float]:
    if not samples:
        return None
    return statistics.median(s.per_second if threaded else s.us_per_call for s in samples)


def summarise(run: Run) -> list[Summary]:
    out: list[Summary] = []
    for case in run.cases:
        threaded = case == "threads"
        f1 = median_of(run.samples.get(f"{case}/F1", []), threaded)
        f2 = median_of(run.samples.get(f"{case}/F2", []), threaded)
        for client in run.clients:
            samples = run.samples.get(f"{case}/{client}", [])
            if not samples:
                continue
            values = [s.per_second if threaded else s.us_per_call for s in samples]
            calls = sum(s.calls for s in samples)
            value = statistics.median(values)
            out.append(
                Summary(
                    case=case,
                    client=client,
                    value=value,
                    low=min(values),
                    high=max(values),
                    ratio_f1=None if f1 is None else value / f1,
                    ratio_f2=None if f2 is None else value / f2,
                    over_f2_us=None if f2 is None or threaded else value - f2,
                    origin_per_call=sum(s.origin_requests for s in samples) / calls,
                    not_modified_per_call=sum(s.not_modified for s in samples) / calls,
                    bad=sum(s.bad for s in samples),
                    errors=sum(s.errors for s in samples),
                    calls=calls,
                    rounds=len(samples),
                )
            )
    return out


def us(value: float) -> str:
    return f"{value:,.0f} µs" if value >= 100 else f"{value:.1f} µs"


def times(value: Optional[float], floor: str) -> str:
    if value is None:
        return f"n/a x {floor}"
    return f"{value:.2f}x {floor}" if value < 10 else f"{value:.0f}x {floor}"


def cell(s: Summary) -> str:
    mark = " †" if s.suspicious else ""
    if s.case == "threads":
        rate = f"{s.value / 1000:.1f} k/s" if s.value >= 1000 else f"{s.value:.0f} /s"
        ratio = "floor" if s.client == "F1" else times(s.ratio_f1, "F1")
        return f"{rate} · {ratio} · {s.errors} exc{mark}"
    if s.client == "F1":
        return f"{us(s.value)} · floor{mark}"
    if s.client == "F2":
        return f"{us(s.value)} · {times(s.ratio_f1, 'F1')}{mark}"
    if s.case == "miss_store":
        over = "n/a" if s.over_f2_us is None else f"{s.over_f2_us:+,.0f} µs"
        return f"{us(s.value)} · {over} over F2 ({times(s.ratio_f2, 'F2')}){mark}"
    if s.case == "revalidate_304":
        return f"{us(s.value)} · {times(s.ratio_f2, 'F2')} · {times(s.ratio_f1, 'F1')}{mark}"
    return f"{us(s.value)} · {times(s.ratio_f1, 'F1')}{mark}"


def main_table(run: Run, summaries: list[Summary]) -> str:
    by_key = {(s.case, s.client): s for s in summaries}
    lines = [
        "| client | " + " | ".join(CASES[c][0] for c in run.cases) + " |",
        "|---" * (len(run.cases) + 1) + "|",
    ]
    for client in run.clients:
        cells = []
        for case in run.cases:
            s = by_key.get((case, client))
            if s is not None:
                cells.append(cell(s))
            elif client in run.skipped:
                cells.append("skipped")
            else:
                cells.append("failed" if f"{case}/{client}" in run.failures else "—")
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail_table(summaries: list[Summary]) -> str:
    lines = [
        "| case | client | median | min - max | x F1 | x F2 | origin req/call | 304/call | calls x rounds "
        "| bad / exc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        if s.case == "threads":
            median, spread = f"{s.value:,.0f} /s", f"{s.low:,.0f} - {s.high:,.0f}"
        else:
            median, spread = us(s.value), f"{s.low:,.1f} - {s.high:,.1f}"
        f1 = "n/a" if s.ratio_f1 is None else f"{s.ratio_f1:.2f}"
        f2 = "n/a" if s.ratio_f2 is None else f"{s.ratio_f2:.2f}"
        lines.append(
            f"| {s.case} | {s.client}{' †' if s.suspicious else ''} | {median} | {spread} | {f1} | {f2} "
            f"| {s.origin_per_call:.2f} | {s.not_modified_per_call:.2f} | {s.calls // s.rounds} x {s.rounds} "
            f"| {s.bad} / {s.errors} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 0)
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(REPO)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=GIT_TIMEOUT
        )
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, timeout=GIT_TIMEOUT)
        commit = head.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")
    return {
        "cpus (nproc)": str(cpus),
        "cpu": model,
        "os": platform.platform(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "commit": commit,
    }


def report(run: Run, summaries: list[Summary], info: dict[str, str], when: str) -> str:
    s = run.settings
    lines = [
        f"# httpcache benchmark, {when}",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()),
        "",
        f"Method: {run.rounds_done} interleaved rounds (client order rotated each round), one sample per "
        f"client and case per round, each sample ≈ {s.target_s * 1000:.0f} ms "
        f"({s.threads_target_s * 1000:.0f} ms threaded) of calls; median over rounds. "
        "Ratios compare these medians with the floors' medians from the same rounds. "
        f"Measuring took {run.seconds:.0f} s.",
        "",
        main_table(run, summaries),
        "",
        "Cells: median per call · ratio to F1 (requests' own per-call cost) or F2 (uncached GET over loopback). "
        f"Threaded: GETs per second by {THREADS} threads on one session over {HOT_URLS} fresh URLs, "
        "ratio to F1 measured the same way, exceptions raised. "
        "† the origin saw a different number of requests per call than the case is about, "
        "or calls failed or returned a wrong body: see the details.",
        "",
        "Clients:",
        "",
    ]
    lines += [f"- **{c}**: {CLIENTS[c]}" for c in run.clients]
    lines += ["", "Versions:", "", "| client | python | requests | urllib3 | package |", "|---|---|---|---|---|"]
    for client in run.clients:
        v = run.versions.get(client)
        if v is None:
            lines.append(f"| {client} | skipped: {run.skipped.get(client, 'did not start')} | | | |")
            continue
        package = f"{client} {v[client]}" if client in v else "—"
        lines.append(f"| {client} | {v['python']} | {v['requests']} | {v['urllib3']} | {package} |")
    lines += ["", "Details:", "", detail_table(summaries), ""]
    problems = [*(f"{k}: {v}" for k, v in run.first_errors.items())]
    problems += [f"{k} failed: {v.splitlines()[-1] if v else v}" for k, v in run.failures.items()]
    if run.notes or problems:
        lines += ["Notes:", ""] + [f"- {n}" for n in run.notes + problems] + [""]
    lines += [
        "Not yet measured: the disk stores, a cold storm (many threads missing the same URL "
        "at once) and hit cost against store size; a 200 MB body: benchmarks/stream_rss.py.",
        "",
    ]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------


def start_workers(stack: contextlib.ExitStack, origin: Origin, run: Run, logs: Path) -> dict[str, Child]:
    workers: dict[str, Child] = {}
    for client in list(run.clients):
        python, env, why = worker_python(client)
        if python is None:
            log.warning("skipping %s: %s", client, why)
            run.skipped[client] = why
            continue
        cmd = [python, str(WORKER), "--client", client, "--origin", origin.url]
        child = stack.enter_context(started(Child(f"worker {client}", cmd, env, logs / f"worker-{client}.log")))
        workers[client] = child
    for client, child in list(workers.items()):  # they import in parallel
        try:
            run.versions[client] = child.receive(START_TIMEOUT)["versions"]
        except BenchError as exc:
            log.warning("skipping %s: %s", client, exc)
            run.skipped[client] = str(exc).splitlines()[-1]
            del workers[client]
            child.stop()
    return workers


def start_origin(stack: contextlib.ExitStack, logs: Path) -> Origin:
    cmd = [sys.executable, str(ORIGIN)]
    child = stack.enter_context(started(Child("origin", cmd, clean_env(), logs / "origin.log")))
    return Origin(int(child.receive(START_TIMEOUT)["port"]))


def profile(client: str, calls: int, case: str) -> int:
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    run = Run(settings=QUICK, clients=[client], cases=[case])
    with contextlib.ExitStack() as stack:
        origin = start_origin(stack, logs)
        workers = start_workers(stack, origin, run, logs)
        if client not in workers:
            return 1
        answer = workers[client].ask({"op": "profile", "case": case, "calls": calls, "top": 25})
        print(answer["text"])
    return 0


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 short rounds (about 20 s)")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument(
        "--clients",
        default=",".join(CLIENTS),
        help=f"comma-separated subset of {','.join(CLIENTS)} (F1, F2 always run)",
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.md / latest.json go")
    parser.add_argument(
        "--profile", nargs="?", const="httpcache", metavar="CLIENT", help="cProfile CLIENT's 1 KB fresh hits instead"
    )
    parser.add_argument("--profile-case", default="hit_1k", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--profile-calls", type=int, default=20_000, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    for name, allowed in (("clients", CLIENTS), ("cases", CASES)):
        chosen = [x.strip() for x in getattr(args, name).split(",") if x.strip()]
        unknown = [x for x in chosen if x not in allowed]
        if unknown:
            parser.error(f"unknown {name}: {', '.join(unknown)}")
        setattr(args, name, chosen)
    args.clients = [c for c in CLIENTS if c in FLOORS or c in args.clients]
    args.cases = [c for c in CASES if c in args.cases]
    if args.profile is not None and args.profile not in CLIENTS:
        parser.error(f"unknown client {args.profile}")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        if args.profile is not None:
            return profile(args.profile, args.profile_calls, args.profile_case)
        settings = QUICK if args.quick else FULL
        if args.rounds:
            settings = Settings(args.rounds, settings.target_s, settings.threads_target_s, settings.max_seconds)
        run = Run(settings=settings, clients=args.clients, cases=args.cases)
        out: Path = args.out
        logs = out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with contextlib.ExitStack() as stack:
            origin = start_origin(stack, logs)
            workers = start_workers(stack, origin, run, logs)
            measure(workers, origin, run)
        summaries = summarise(run)
        text = report(run, summaries, machine(), when)
        print(text)
        (out / "latest.md").write_text(text, encoding="utf-8")
        raw = {"settings": asdict(settings), "run": {k: v for k, v in asdict(run).items() if k != "settings"}}
        (out / "latest.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
        log.info("wrote %s and latest.json", out / "latest.md")
        return 0
    except BenchError as exc:
        log.error("%s", exc)
        return 3
    except KeyboardInterrupt:
        log.error("interrupted; stopped the origin and the workers")
        return 130


if __name__ == "__main__":
    sys.exit(main())

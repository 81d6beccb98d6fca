"""Peak RSS of a large body fetched with ``stream=True``, stored and then hit (see benchmarks/README.md).

    python benchmarks/stream_rss.py                          # 500 MiB body, every client, both transfers
    python benchmarks/stream_rss.py --size-mb 200 --clients httpcache-file,cachecontrol-file
    python benchmarks/stream_rss.py --size-mb 50 --transfer length

Starts an origin (its own process) serving a deterministic body of ``--size-mb`` MiB,
then runs each client, one after the other, in a fresh process of its own (peers in their
venvs under conformance/.work). Each process warms up, takes its baseline RSS, then fetches
the body twice, ``iter_content(64 KiB)`` into SHA-256: a store (miss) and a hit. It prints
a Markdown table of peak RSS over the baseline per phase, and writes it to
benchmarks/results/stream_rss.md (raw figures in stream_rss.json).

Exit status: 0 when every httpcache store (httpcache-file, httpcache-sqlite) that ran kept
its peak RSS over the baseline within ``--bound-mb`` (32 MiB) on store and on hit, came back
byte-identical both times and served the hit from its cache; 1 when one did not; 2 when
one could not run; 3 when the benchmark itself failed. Peers never change the status.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import _cli
from _procs import HERE, RESULTS, BenchError, Child, machine, origin, python_for, started
from _report import VERSIONS, machine_line, table, versions_cells
from _stream import BLOCK, CLIENTS, WARM_SIZE, body_sha256

log = logging.getLogger("benchmarks")

STREAM = HERE / "_stream.py"
MIB = 1024 * 1024
HTTPCACHE = ("httpcache-file", "httpcache-sqlite")
TRANSFERS = ("length", "chunked")
PERF_TARGET = 0.02  # the performance issue's target for a disk store: peak over baseline ≤ 0.02x the body
DISK_FACTOR = 3  # free space wanted per client: this many bodies (a store may keep a temporary copy) ...
DISK_MARGIN = 1024 * MIB  # ... plus this


@dataclass
class Row:
    client: str
    transfer: str
    size: int
    result: Optional[dict[str, Any]] = None
    skipped: str = ""  # why it did not run
    error: str = ""  # why it failed
    seconds: float = 0.0  # the whole process, start to exit

    def phase(self, name: str) -> dict[str, Any]:
        assert self.result is not None
        phase: dict[str, Any] = self.result[name]
        return phase

    def over(self, name: str) -> int:
        """Peak RSS of a phase over the process's baseline (taken before the store), in bytes."""
        assert self.result is not None
        return int(self.phase(name)["peak"]) - int(self.result["baseline"])

    def identical(self, name: str, expected_sha: str) -> bool:
        p = self.phase(name)
        return (
            p["status"] == 200
            and p["bytes"] == self.size
            and p["first_difference"] is None
            and p["sha256"] == expected_sha
        )

    def hit_from_cache(self) -> bool:
        hit = self.phase("hit")
        return hit["origin_200"] == 0 and hit["origin_304"] == 0 and hit["from_cache"] is not False

    def store_went_to_origin(self) -> bool:
        return int(self.phase("store")["origin_200"]) == 1


@dataclass
class Run:
    size: int
    bound: int
    interval_ms: float
    expected_sha: str
    rows: list[Row] = field(default_factory=list)


def disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def run_client(origin_url: str, client: str, transfer: str, run: Run, tmp: Path, logs: Path, timeout: float) -> Row:
    row = Row(client=client, transfer=transfer, size=run.size)
    peer = CLIENTS[client][0]
    python, env, why = python_for(peer)
    if python is None:
        row.skipped = f"{peer} venv missing: {why}"
        return row
    free = disk_free(tmp)
    if free < DISK_FACTOR * run.size + DISK_MARGIN:
        row.skipped = f"only {free / MIB:,.0f} MiB free under {tmp}"
        return row
    directory = Path(tempfile.mkdtemp(prefix=f"{client}-{transfer}-", dir=tmp))
    env = {**env, "TMPDIR": str(directory)}  # a peer's temporary files go here too, and are removed with it
    tag = f"{client}.{int(time.time() * 1000)}"
    cmd = [python, str(STREAM), "worker", "--client", client, "--origin", origin_url]
    cmd += ["--path", f"/{transfer}/{run.size}/{tag}", "--size", str(run.size)]
    cmd += ["--warm-path", f"/{transfer}/{WARM_SIZE}/{tag}.warm", "--dir", str(directory)]
    cmd += ["--interval-ms", str(run.interval_ms)]
    started_at = time.monotonic()
    try:
        with started(Child(f"{client} ({transfer})", cmd, env, logs / f"stream-{client}-{transfer}.log")) as child:
            answer = child.receive(timeout)
        row.result = answer
    except BenchError as exc:
        row.error = str(exc)
    finally:
        row.seconds = time.monotonic() - started_at
        shutil.rmtree(directory, ignore_errors=True)
    return row


# -- report ------------------------------------------------------------------------------------


def mib(n: float) -> str:
    return f"{n / MIB:,.1f} MiB"


def over_cell(row: Row, name: str) -> str:
    over = row.over(name)
    return f"{mib(over)} · {over / row.size:.3f}x"


def yes_no(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main_table(run: Run) -> str:
    rows = []
    for row in run.rows:
        head = [row.client, row.transfer, f"{row.size / MIB:,.0f} MiB"]
        if row.result is None:
            what = f"skipped: {row.skipped}" if row.skipped else f"failed: {last_line(row.error)}"
            rows.append([*head, what, "", "", "", ""])
            continue
        identical = row.identical("store", run.expected_sha) and row.identical("hit", run.expected_sha)
        times = f"{row.phase('store')['seconds']:.1f} s / {row.phase('hit')['seconds']:.1f} s"
        rows.append(
            [
                *head,
                over_cell(row, "store"),
                over_cell(row, "hit"),
                yes_no(identical),
                yes_no(row.hit_from_cache()),
                times,
            ]
        )
    header = ["client", "transfer", "body", "store: peak RSS over baseline · x body"]
    header += ["hit: peak RSS over baseline · x body", "byte-identical (store, hit)", "hit served from cache"]
    return table([*header, "store / hit time"], rows)


def detail_table(run: Run) -> str:
    rows = []
    for row in run.rows:
        if row.result is None:
            continue
        r = row.result
        base = f"{mib(r['baseline'])} ({mib(r['baseline_anon'])} / {mib(r['baseline_file'])})"
        for name in ("store", "hit"):
            p = row.phase(name)
            hwm = "n/a" if p["peak_hwm"] is None else mib(p["peak_hwm"])
            diff = "none" if p["first_difference"] is None else f"at byte {p['first_difference']:,}"
            peak = f"{hwm} / {mib(p['peak_sampled'])}"
            split = f"{mib(p['peak_anon_sampled'])} / {mib(p['peak_file_sampled'])}"
            after = f"{mib(p['rss_end'])} / {mib(p['rss_after_gc'])}"
            asked = f"{p['origin_200']} / {p['origin_304']}"
            last = [str(p["from_cache"]), f"{p['bytes']:,} · {diff}", str(p["samples"])]
            rows.append([row.client, row.transfer, base, name, mib(p["rss_start"]), peak, split, after, asked, *last])
    header = ["client", "transfer", "baseline RSS (anon / file)", "phase", "RSS at start", "peak: VmHWM / sampled"]
    header += ["peak anon / file (sampled)", "RSS after close / after gc", "origin 200 / 304"]
    return table([*header, "client's from-cache flag", "bytes · first difference", "samples"], rows)


def versions_table(run: Run) -> str:
    """One row per client, or per transfer where a client's versions differ (httpcache's source)."""
    seen: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (client, versions) -> transfers
    for row in run.rows:
        v = ("did not run", "", "", "") if row.result is None else tuple(versions_cells(row.result["versions"]))
        seen.setdefault((row.client, v), []).append(row.transfer)
    rows = []
    for client in dict.fromkeys(row.client for row in run.rows):
        variants = [(v, transfers) for (c, v), transfers in seen.items() if c == client]
        for v, transfers in variants:
            rows.append([client if len(variants) == 1 else f"{client} ({', '.join(transfers)})", *v])
    return table(VERSIONS, rows)


def client_lines(run: Run) -> list[str]:
    return [f"- **{c}**: {CLIENTS[c][1]}" for c in dict.fromkeys(row.client for row in run.rows)]


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def verdicts(run: Run) -> tuple[list[str], int]:
    """One line per httpcache row, and the exit status."""
    lines: list[str] = []
    status = 0
    for row in run.rows:
        if row.client not in HTTPCACHE:
            continue
        name = f"{row.client} ({row.transfer})"
        if row.result is None:
            lines.append(f"- **{name}: did not run**: {last_line(row.skipped or row.error)}")
            status = max(status, 2)
            continue
        problems = []
        for phase in ("store", "hit"):
            if row.over(phase) > run.bound:
                problems.append(f"{phase} peak {mib(row.over(phase))} over the baseline > {mib(run.bound)}")
            if not row.identical(phase, run.expected_sha):
                problems.append(f"{phase} body not byte-identical")
        if not row.hit_from_cache():
            problems.append("the hit was not served from the cache")
        if not row.store_went_to_origin():
            problems.append(f"the store made {row.phase('store')['origin_200']} origin requests, not 1")
        if problems:
            lines.append(f"- **{name}: FAIL**: " + "; ".join(problems))
            status = max(status, 1)
        else:
            lines.append(
                f"- {name}: pass (store {mib(row.over('store'))}, hit {mib(row.over('hit'))} "
                f"over the baseline, within {mib(run.bound)}; byte-identical; hit from the cache)"
            )
        met = {phase: "met" if row.over(phase) <= PERF_TARGET * row.size else "not met" for phase in ("store", "hit")}
        target = ", ".join(f"{phase} {row.over(phase) / row.size:.3f}x {met[phase]}" for phase in met)
        lines.append(f"  - performance target ≤ {PERF_TARGET}x the body (not part of the exit status): {target}")
    return lines, status


def report(run: Run, when: str, info: dict[str, str], seconds: float) -> tuple[str, int]:
    verdict_lines, status = verdicts(run)
    lines = [
        f"# Streamed large body: peak RSS, {when}",
        "",
        machine_line(info),
        "",
        f"Body: {run.size:,} bytes ({run.size / MIB:,.0f} MiB), sha256 {run.expected_sha[:16]}…; "
        "each client in a fresh process: warm-up, baseline, store "
        f"(GET stream=True, iter_content({BLOCK // 1024} KiB), close), hit (the same). "
        f"Peak = max(VmHWM reset before the phase, VmRSS sampled every {run.interval_ms:g} ms), "
        f"over the baseline taken before the store (1 MiB = 2^20 bytes). Took {seconds:.0f} s.",
        "",
        main_table(run),
        "",
        f"Pass/fail (httpcache's stores: ≤ {mib(run.bound)} over the baseline on store and on hit, byte-identical, "
        "hit from the cache):",
        "",
        *verdict_lines,
        "",
        "Clients:",
        "",
        *client_lines(run),
        "",
        "Versions:",
        "",
        versions_table(run),
    ]
    lines += ["", "Details (RSS in MiB of the whole process):", "", detail_table(run), ""]
    if notes(run):
        lines += ["Notes:", "", *(f"- {n}" for n in notes(run)), ""]
    return "\n".join(lines), status


def notes(run: Run) -> list[str]:
    found = []
    for row in run.rows:
        if row.result is not None:
            found += [f"{row.client}: {note}" for note in row.result.get("notes", [])]
            warm = row.result.get("warm_from_cache")
            if warm and warm[1] is False:
                found.append(f"{row.client} ({row.transfer}): the warm-up's second request was not a hit")
        elif row.error:
            found.append(f"{row.client} ({row.transfer}) failed:\n\n```\n{row.error.strip()[-1500:]}\n```")
    sources = {row.result["versions"]["package"] for row in run.rows if row.result and row.client in HTTPCACHE}
    if len(sources) > 1:
        found.append("httpcache's source changed during the run (see Versions): its rows measured different code")
    return list(dict.fromkeys(found))


# -- main ------------------------------------------------------------------------------------------


def measure(
    size: int,
    clients: list[str],
    transfers: list[str],
    logs: Path,
    bound: int = 32 * MIB,
    interval_ms: float = 2.0,
    tmp: Optional[Path] = None,
    timeout: float = 900.0,
) -> Run:
    """Start the origin, run each client for each transfer in a fresh process, one after the other.

    Raises BenchError if the origin does not start (a client that fails is a row saying so)."""
    log.info("computing the body's sha256 (%s)", mib(size))
    run = Run(size=size, bound=bound, interval_ms=interval_ms, expected_sha=body_sha256(size))
    root = Path(tempfile.mkdtemp(prefix="httpcache-stream-rss-", dir=tmp))
    try:
        with origin(logs / "stream-origin.log", str(STREAM), "origin") as server:
            for transfer in transfers:
                for client in clients:
                    free = f"{disk_free(root) / MIB:,.0f}"
                    log.info("%s, %s, %s: running (%s MiB free under %s)", client, transfer, mib(size), free, root)
                    row = run_client(server.url, client, transfer, run, root, logs, timeout)
                    run.rows.append(row)
                    if row.result is not None:
                        over = mib(row.over("store")), mib(row.over("hit"))
                        log.info(
                            "%s, %s: store %s, hit %s over the baseline (%.1f s)", client, transfer, *over, row.seconds
                        )
                    else:
                        log.warning("%s, %s: %s", client, transfer, last_line(row.skipped or row.error))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return run


def section(run: Run, seconds: float) -> list[str]:
    """run.py's part of the report: the main table and the performance target per httpcache row."""
    verdict_lines, _ = verdicts(run)
    return [
        f"## A {run.size / MIB:,.0f} MiB body fetched with stream=True: peak RSS (stream_rss.py's measurement)",
        "",
        main_table(run),
        "",
        "Each client in a fresh process of its own: warm-up, baseline RSS, store (GET stream=True, "
        f"iter_content({BLOCK // 1024} KiB), close), hit (the same); peak = max(VmHWM reset before the phase, "
        f"VmRSS sampled every {run.interval_ms:g} ms) over the baseline. Took {seconds:.0f} s. httpcache's rows "
        "against the performance issue's target (≤ 0.02x the body) and the stores issue's bound:",
        "",
        *verdict_lines,
        "",
        "Its clients (peers' versions as above):",
        "",
        *client_lines(run),
        *(f"- {n}" for n in notes(run)),
        "",
    ]


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = _cli.parser(__doc__)
    parser.add_argument("--size-mb", type=float, default=500, help="body size in MiB (default 500)")
    _cli.subset(parser, "clients", CLIENTS)
    _cli.subset(parser, "transfer", TRANSFERS, "length (Content-Length), chunked, or both (default)")
    parser.add_argument("--bound-mb", type=float, default=32, help="httpcache's pass bound over the baseline, MiB")
    parser.add_argument("--interval-ms", type=float, default=2.0, help="RSS sampling interval (default 2 ms)")
    parser.add_argument("--tmp", type=Path, default=None, help="where the caches go (default: the system tmp dir)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per client process")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where stream_rss.md / .json go")
    args = _cli.parse(parser, argv)
    if not args.size_mb > 0:
        parser.error("--size-mb must be positive")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    _cli.setup(args.verbose)
    return _cli.guarded(lambda: run_and_report(args), "the origin and the client")


def run_and_report(args: argparse.Namespace) -> int:
    out: Path = args.out
    when = _cli.utc_now()
    started_at = time.monotonic()
    run = measure(
        size=int(args.size_mb * MIB),
        clients=args.clients,
        transfers=args.transfer,
        logs=_cli.logs_in(out),
        bound=int(args.bound_mb * MIB),
        interval_ms=args.interval_ms,
        tmp=args.tmp,
        timeout=args.timeout,
    )
    info = machine()
    text, status = report(run, when, info, time.monotonic() - started_at)
    rows = [row.__dict__ for row in run.rows]
    raw = {"when": when, "machine": info, "size": run.size, "bound": run.bound, "expected_sha256": run.expected_sha}
    written = _cli.write(out, "stream_rss", text, {**raw, "rows": rows})
    log.info("wrote %s and stream_rss.json; exit status %d", written, status)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""run.py's summary and Markdown report (stdlib only)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from _workload import (
    CASES,
    CLIENTS,
    EXPECTED_ORIGIN_PER_CALL,
    FLOORS,
    HOT_URLS,
    ROUND_CASES,
    SLOW_MS,
    STORM_URLS,
    THREADS,
)


@dataclass(frozen=True)
class Settings:
    rounds: int
    target_s: float  # aimed duration of one sample of a sequential case
    threads_target_s: float  # ... and of the threaded case
    max_seconds: float  # stop starting new rounds after this long (results are kept)
    storm_rounds: int  # the cold storm is sampled in the first this many rounds only
    scale_levels: tuple[int, ...]  # store sizes of the scale case (one hot URL) ...
    spread_levels: tuple[int, ...]  # ... and of the spread case (URLs drawn from every entry)
    scale_real_max: int  # past this many entries, the store-size cases' stores get copies (see _copies.py)
    scale_rounds: int
    stream_mib: float


@dataclass
class Sample:
    round: int
    ns: int
    calls: int
    origin_requests: int
    not_modified: int
    bad: int
    errors: int
    urls: int = 0  # the storm's new URLs

    @property
    def us_per_call(self) -> float:
        return self.ns / self.calls / 1000

    @property
    def per_second(self) -> float:
        return self.calls / (self.ns / 1e9)

    @property
    def origin_per_url(self) -> float:
        return self.origin_requests / max(1, self.urls)


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
    fills: dict[str, dict[str, Any]] = field(default_factory=dict)  # "fill@N/client" -> the worker's answer
    rounds_done: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    notes: list[str] = field(default_factory=list)
    stream_section: list[str] = field(default_factory=list)  # the stream case's report lines


def base_case(key: str) -> str:
    """``spread@1000`` -> ``spread``."""
    return key.split("@", 1)[0]


@dataclass
class Summary:
    case: str  # a case, or scale@<entries>
    client: str
    value: float  # median µs per call; calls per second for "threads"; origin requests per URL for "storm"
    low: float
    high: float
    ratio_f1: Optional[float]  # value / F1's value (medians of the same rounds); the storm: wall time
    ratio_f2: Optional[float]
    over_f2_us: Optional[float]  # µs - F2's µs (medians)
    origin_per_call: float
    not_modified_per_call: float
    bad: int
    errors: int
    calls: int
    rounds: int
    wall_s: float = 0.0  # the storm: median wall time of a sample

    @property
    def suspicious(self) -> bool:
        """The origin saw a different number of requests than the case is about, or calls failed."""
        if self.bad or self.errors:
            return True
        case = base_case(self.case)
        if case == "storm":  # the figure itself; fewer than 1 request per new URL can not be right
            return self.client != "F1" and self.value < 0.99
        expected = {"F1": 0, "F2": 1}.get(self.client, EXPECTED_ORIGIN_PER_CALL.get(case, 0))
        if abs(self.origin_per_call - expected) > 0.02:
            return True
        return case == "revalidate_304" and self.client not in FLOORS and self.not_modified_per_call < 0.98


def figure(case: str, s: Sample) -> float:
    if case == "threads":
        return s.per_second
    if case == "storm":
        return s.origin_per_url
    return s.us_per_call


def wall(s: Sample) -> float:
    return s.ns / 1e9


def compared(case: str, s: Sample) -> float:
    """What is compared with the floors: the figure, or for the storm its wall time."""
    return wall(s) if case == "storm" else figure(case, s)


def summarise(run: Run) -> list[Summary]:
    keys = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in run.samples))
    out: list[Summary] = []
    for key in keys:
        case = base_case(key)
        floors: dict[str, Optional[float]] = {}
        for floor in FLOORS:
            samples = run.samples.get(f"{key}/{floor}", [])
            floors[floor] = statistics.median(compared(case, s) for s in samples) if samples else None
        for client in run.clients:
            samples = run.samples.get(f"{key}/{client}", [])
            if not samples:
                continue
            values = [figure(case, s) for s in samples]
            versus = statistics.median(compared(case, s) for s in samples)
            calls = sum(s.calls for s in samples)
            f1, f2 = floors["F1"], floors["F2"]
            out.append(
                Summary(
                    case=key,
                    client=client,
                    value=statistics.median(values),
                    low=min(values),
                    high=max(values),
                    ratio_f1=None if not f1 else versus / f1,
                    ratio_f2=None if not f2 else versus / f2,
                    over_f2_us=None if f2 is None or case in ("threads", "storm") else versus - f2,
                    origin_per_call=sum(s.origin_requests for s in samples) / calls,
                    not_modified_per_call=sum(s.not_modified for s in samples) / calls,
                    bad=sum(s.bad for s in samples),
                    errors=sum(s.errors for s in samples),
                    calls=calls,
                    rounds=len(samples),
                    wall_s=statistics.median(wall(s) for s in samples),
                )
            )
    return out


# -- cells and tables --------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table (an empty cell is written ``| |``)."""

    def line(row: Sequence[str]) -> str:
        return "|" + "|".join(f" {c} " if c else " " for c in row) + "|"

    return "\n".join([line(header), "|---" * len(header) + "|", *(line(row) for row in rows)])


def machine_line(info: dict[str, str]) -> str:
    return "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items())


VERSIONS = ("client", "python", "requests", "urllib3", "package")


def versions_cells(v: dict[str, str]) -> list[str]:
    """A worker's versions (``_sessions.versions``), in VERSIONS's order after the client."""
    return [v["python"], v["requests"], v["urllib3"], v.get("package", "—")]


def us(value: float) -> str:
    return f"{value:,.0f} µs" if value >= 100 else f"{value:.1f} µs"


def times(value: Optional[float], floor: str) -> str:
    if value is None:
        return f"n/a x {floor}"
    return f"{value:.2f}x {floor}" if value < 10 else f"{value:.0f}x {floor}"


def cell(s: Summary) -> str:
    mark = " †" if s.suspicious else ""
    case = base_case(s.case)
    if case == "threads":
        rate = f"{s.value / 1000:.1f} k/s" if s.value >= 1000 else f"{s.value:.0f} /s"
        ratio = "floor" if s.client == "F1" else times(s.ratio_f1, "F1")
        return f"{rate} · {ratio} · {s.errors} exc{mark}"
    if case == "storm":
        worst = f" (max {s.high:.2f})" if s.high != s.value else ""
        time_ratio = "" if s.client == "F2" else f" ({times(s.ratio_f2, 'F2')})"
        return f"{s.value:.2f} req/URL{worst} · {s.wall_s * 1000:,.0f} ms{time_ratio} · {s.errors} exc{mark}"
    if s.client == "F1":
        return f"{us(s.value)} · floor{mark}"
    if s.client == "F2":
        return f"{us(s.value)} · {times(s.ratio_f1, 'F1')}{mark}"
    if case == "miss_store":
        over = "n/a" if s.over_f2_us is None else f"{s.over_f2_us:+,.0f} µs"
        return f"{us(s.value)} · {over} over F2 ({times(s.ratio_f2, 'F2')}){mark}"
    if case == "revalidate_304":
        return f"{us(s.value)} · {times(s.ratio_f2, 'F2')} · {times(s.ratio_f1, 'F1')}{mark}"
    return f"{us(s.value)} · {times(s.ratio_f1, 'F1')}{mark}"


def missing(run: Run, key: str, client: str) -> str:
    if client in run.skipped:
        return "skipped"
    return "failed" if f"{key}/{client}" in run.failures else "—"


def cells(run: Run, summaries: list[Summary], keys: list[str], client: str) -> list[str]:
    """``client``'s cell for each of ``keys`` (a case, or ``case@entries``), or why there is none."""
    by_key = {(s.case, s.client): s for s in summaries}
    found = [by_key.get((key, client)) for key in keys]
    return [missing(run, key, client) if s is None else cell(s) for key, s in zip(keys, found)]


def main_table(run: Run, summaries: list[Summary], cases: list[str]) -> str:
    rows = [[c, CLIENTS[c].store, *cells(run, summaries, cases, c)] for c in run.clients]
    return table(["client", "store", *(CASES[c][0] for c in cases)], rows)


def detail_table(summaries: list[Summary]) -> str:
    rows = []
    for s in summaries:
        case = base_case(s.case)
        if case == "threads":
            median, spread = f"{s.value:,.0f} /s", f"{s.low:,.0f} - {s.high:,.0f}"
        elif case == "storm":
            median, spread = f"{s.value:.2f} req/URL, {s.wall_s * 1000:,.0f} ms", f"{s.low:.2f} - {s.high:.2f}"
        else:
            median, spread = us(s.value), f"{s.low:,.1f} - {s.high:,.1f}"
        f1 = "n/a" if s.ratio_f1 is None else f"{s.ratio_f1:.2f}"
        f2 = "n/a" if s.ratio_f2 is None else f"{s.ratio_f2:.2f}"
        client = f"{s.client}{' †' if s.suspicious else ''}"
        counts = [f"{s.origin_per_call:.2f}", f"{s.not_modified_per_call:.2f}", f"{s.calls // s.rounds} x {s.rounds}"]
        rows.append([s.case, client, median, spread, f1, f2, *counts, f"{s.bad} / {s.errors}"])
    header = ["case", "client", "median", "min - max", "x F1", "x F2", "origin req/call", "304/call"]
    return table([*header, "calls x rounds", "bad / exc"], rows)


def versions_table(run: Run) -> str:
    rows = []
    for client in run.clients:
        v = run.versions.get(client)
        if v is None:
            rows.append([client, f"skipped: {run.skipped.get(client, 'did not start')}", "", "", ""])
        else:
            rows.append([client, *versions_cells(v)])
    return table(VERSIONS, rows)


def report(run: Run, summaries: list[Summary], info: dict[str, str], when: str, stores: list[str]) -> str:
    """The Markdown report; ``stores``: the store-size cases' section (``_report_stores.section``)."""
    s = run.settings
    took = ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in run.seconds.items())
    round_cases = [c for c in run.cases if c in ROUND_CASES]
    lines = [
        f"# httpcache benchmark, {when}",
        "",
        machine_line(info),
        "",
        f"Took: {took}.",
        "",
    ]
    if round_cases:
        storm = f" (the cold storm in the first {s.storm_rounds})" if "storm" in round_cases else ""
        lines += [
            f"Method: {run.rounds_done} interleaved rounds (client order rotated each round), one sample per "
            f"client and case per round{storm}, each sample ≈ {s.target_s * 1000:.0f} ms "
            f"({s.threads_target_s * 1000:.0f} ms threaded) of calls; median over rounds. "
            "Ratios compare these medians with the floors' medians from the same rounds.",
            "",
            main_table(run, summaries, round_cases),
            "",
            "Cells: median per call · ratio to F1 (requests' own per-call cost) or F2 (uncached GET over loopback). "
            f"Threaded: GETs per second by {THREADS} threads on one session over {HOT_URLS} fresh URLs, "
            "ratio to F1 measured the same way, exceptions raised. "
            f"Cold storm: {THREADS} threads on one session released together, each GETting the same {STORM_URLS} "
            f"new URLs in the same order (the origin answers them after {SLOW_MS} ms); origin requests per new URL "
            "(median over rounds; 1.00 = every collision coalesced, 8.00 = none), wall time of the storm and its "
            "ratio to F2's, exceptions. "
            "† the origin saw a different number of requests per call than the case is about, "
            "or calls failed or returned a wrong body: see the details.",
            "",
        ]
    lines += stores
    if run.stream_section:
        lines += run.stream_section
    lines += ["Clients:", ""]
    lines += [f"- **{c}** ({CLIENTS[c].store}): {CLIENTS[c].what}" for c in run.clients]
    lines += ["", "Versions:", "", versions_table(run), "", "Details:", "", detail_table(summaries), ""]
    problems = [*(f"{k}: {v}" for k, v in run.first_errors.items())]
    problems += [f"{k} failed: {v.splitlines()[-1] if v else v}" for k, v in run.failures.items()]
    if run.notes or problems:
        lines += ["Notes:", ""] + [f"- {n}" for n in dict.fromkeys(run.notes + problems)] + [""]
    return "\n".join(lines)

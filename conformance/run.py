"""Run the http-cache-tests suite (cache-tests.fyi) through a Python HTTP cache.

    python conformance/run.py --client httpcache --mode private
    python conformance/run.py --all
    python conformance/run.py --client httpcache --check-baseline

See conformance/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import harness
from harness import CLIENTS, HERE, HarnessError, log

MODES = ("private", "shared")
RESULTS = HERE / "results"
BASELINE = HERE / "baseline"
KINDS = ("required", "optimal", "check")
PASSED = "pass"


def outcome(test_id: str, results: dict[str, Any], meta: dict[str, dict[str, Any]],
            honor_deps: bool = True, _seen: frozenset[str] = frozenset()) -> str:
    """What lib/display.mjs determineTestResult shows, in words.

    pass | fail | dependency | setup | retry | untested
    ("pass" covers a check test's "yes"; "fail" its "no" and an optimal's warning).
    """
    result = results.get(test_id)
    if result is None or test_id in _seen:
        return "untested"
    for dep in meta.get(test_id, {}).get("depends_on", []) if honor_deps else []:
        if outcome(dep, results, meta, True, _seen | {test_id}) != PASSED:
            return "dependency"
    if isinstance(result, list) and result and result[0] == "Setup":
        return "retry" if len(result) > 1 and result[1] == "retry" else "setup"
    return PASSED if result is True else "fail"


@dataclass
class RunResult:
    client: str
    mode: str
    tests: list[dict[str, Any]]
    raw: dict[str, Any]
    honor_deps: bool = True  # False for a single --id run, as cli.mjs does
    outcomes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        meta = {t["id"]: t for t in self.tests}
        self.outcomes = {t["id"]: outcome(t["id"], self.raw, meta, self.honor_deps)
                         for t in self.tests}

    def count(self, kinds: tuple[str, ...]) -> tuple[int, int]:
        sel = [t["id"] for t in self.tests if t["kind"] in kinds]
        return sum(self.outcomes[i] == PASSED for i in sel), len(sel)

    def passing(self) -> list[str]:
        return sorted(i for i, o in self.outcomes.items() if o == PASSED)


def run_one(client: str, mode: str, test_id: str | None, verbose: bool) -> RunResult:
    tag = f"{client}-{mode}"
    tests = harness.list_tests(mode)
    with harness.origin_server(tag) as origin:
        with harness.gateway(client, mode == "shared", origin, tag, verbose) as gw:
            log.info("%s: running %s selection through %s", tag, mode, gw.url)
            data = harness.run_suite(mode, gw.url, test_id)
        stats = gw.stats()
    sent = data["requests_sent"]
    log.info("%s: suite sent %d requests; gateway %s", tag, sent, stats)
    if not (sent == stats["received"] == stats["forwarded"] == stats["answered"]):
        raise HarnessError(
            f"{tag}: request count mismatch: suite sent {sent}, gateway received "
            f"{stats['received']}, forwarded {stats['forwarded']}, answered {stats['answered']}"
            f" (see {gw.logfile})")
    if stats["client_errors"]:
        log.warning("%s: the client under test raised %d times (500s); see %s",
                    tag, stats["client_errors"], gw.logfile)
    raw: dict[str, Any] = data["results"]
    if test_id:
        tests = [t for t in tests if t["id"] == test_id or t["id"] in raw]
    else:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{tag}.json").write_text(json.dumps(raw, indent=2) + "\n")
        missing = {t["id"] for t in tests} - raw.keys()
        if missing:
            raise HarnessError(f"{tag}: no result for {len(missing)} tests: {sorted(missing)[:5]}")
    return RunResult(client, mode, tests, raw, honor_deps=test_id is None)


def ratio(pair: tuple[int, int]) -> str:
    return f"{pair[0]}/{pair[1]}"


def print_summary(res: RunResult) -> None:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in res.tests:
        groups[t["suite_name"]].append(t)
    width = max([len(g) for g in groups] + [5])
    print(f"\n== {res.client} / {res.mode} ({len(res.tests)} tests)")
    print(f"{'group':<{width}}  " + "  ".join(f"{k:>9}" for k in KINDS))
    for name, tests in groups.items():
        cells = []
        for kind in KINDS:
            sel = [t["id"] for t in tests if t["kind"] == kind]
            ok = sum(res.outcomes[i] == PASSED for i in sel)
            cells.append(f"{ok}/{len(sel)}" if sel else "-")
        print(f"{name:<{width}}  " + "  ".join(f"{c:>9}" for c in cells))
    totals = [ratio(res.count((k,))) for k in KINDS]
    print(f"{'TOTAL':<{width}}  " + "  ".join(f"{c:>9}" for c in totals))
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(res.outcomes.values()).items())))
    print(f"passed {ratio(res.count(('required', 'optimal')))} (required+optimal), "
          f"required {ratio(res.count(('required',)))}, check yes {ratio(res.count(('check',)))}")


def print_failures(res: RunResult) -> None:
    for t in res.tests:
        o = res.outcomes[t["id"]]
        if o != PASSED:
            detail = res.raw.get(t["id"])
            why = detail[1] if isinstance(detail, list) and len(detail) > 1 else ""
            print(f"  {o:<10} {t['kind']:<8} {t['id']}: {why}")


def print_table(rows: list[RunResult], versions: dict[str, str]) -> None:
    print(f"\n== comparison ({date.today().isoformat()}, {harness.SUITE_NAME}@{harness.SUITE_VERSION})")
    print("passed = required+optimal tests passed (dependencies honoured); checks reported apart")
    head = f"{'client':<16} {'version':<22} {'mode':<8} {'passed':>9} {'required':>9} {'check yes':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.client:<16} {versions.get(r.client, ''):<22} {r.mode:<8} "
              f"{ratio(r.count(('required', 'optimal'))):>9} {ratio(r.count(('required',))):>9} "
              f"{ratio(r.count(('check',))):>10}")


def baseline_path(mode: str) -> Path:
    return BASELINE / f"{mode}.json"


def check_baseline(res: RunResult) -> list[str]:
    path = baseline_path(res.mode)
    if not path.is_file():
        raise HarnessError(f"no baseline at {path}; create it with --update-baseline")
    expected: list[str] = json.loads(path.read_text())
    selected = {t["id"] for t in res.tests}
    regressions = [i for i in expected if i in selected and res.outcomes.get(i) != PASSED]
    gone = [i for i in expected if i not in selected]
    new = sorted(set(res.passing()) - set(expected))
    for i in regressions:
        print(f"REGRESSION {res.mode}: {i}: {res.raw.get(i)}")
    if gone:
        print(f"baseline {res.mode}: {len(gone)} ids not in this selection: {gone}")
        regressions += gone
    if new:
        print(f"baseline {res.mode}: {len(new)} newly passing (run --update-baseline to keep): {new}")
    if not regressions:
        print(f"baseline {res.mode}: all {len(expected)} baseline tests pass")
    return regressions


def update_baseline(res: RunResult) -> None:
    BASELINE.mkdir(exist_ok=True)
    baseline_path(res.mode).write_text(json.dumps(res.passing(), indent=1) + "\n")
    print(f"baseline {res.mode}: wrote {len(res.passing())} ids to {baseline_path(res.mode)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Run http-cache-tests through a Python HTTP cache.")
    who = ap.add_mutually_exclusive_group(required=True)
    who.add_argument("--client", choices=CLIENTS, help="client under test")
    who.add_argument("--all", action="store_true", help="every client, both modes, one table")
    ap.add_argument("--mode", choices=(*MODES, "both"), default="both",
                    help="private: browser selection, private cache; shared: CLI selection, "
                         "shared cache (default: both)")
    ap.add_argument("--id", help="run one test and show the suite's request/response dump")
    ap.add_argument("--failures", action="store_true", help="list every test that did not pass")
    base = ap.add_mutually_exclusive_group()
    base.add_argument("--check-baseline", action="store_true",
                      help="exit 1 if a test in baseline/<mode>.json did not pass (httpcache)")
    base.add_argument("--update-baseline", action="store_true",
                      help="rewrite baseline/<mode>.json from this run (httpcache)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if (args.check_baseline or args.update_baseline) and (args.client != "httpcache" or args.id):
        ap.error("the baseline is for a full --client httpcache run")
    if args.all and args.id:
        ap.error("--id needs --client")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    modes = MODES if args.mode == "both" else (args.mode,)
    try:
        harness.ensure_suite()
        if args.all:
            clients = [c for c in CLIENTS if c != "httpcache" or harness.httpcache_available()]
            if "httpcache" not in clients:
                log.warning("httpcache is not importable yet; leaving it out")
        else:
            clients = [args.client]
            if args.client == "httpcache" and not harness.httpcache_available():
                raise HarnessError("cannot import httpcache.CacheControl (run with -v for details)")
        rows: list[RunResult] = []
        for client in clients:
            for mode in modes:
                res = run_one(client, mode, args.id, args.verbose)
                rows.append(res)
                print_summary(res)
                if args.failures or args.id:
                    print_failures(res)
        if args.all:
            print_table(rows, {c: harness.client_version(c) for c in clients})
    except HarnessError as exc:
        log.error("%s", exc)
        return 3
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    failed: list[str] = []
    for res in rows:
        if args.update_baseline:
            update_baseline(res)
        elif args.check_baseline:
            try:
                failed += check_baseline(res)
            except HarnessError as exc:
                log.error("%s", exc)
                return 3
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""run.py's report of the store-size cases: hit cost by entries, spread hits, RSS per entry, fills
(stdlib only)."""

from __future__ import annotations

from typing import Any, Optional

from _report import Run, Summary, cells, missing, table
from _workload import CLIENTS, FLOORS

MIB = 1024 * 1024


def count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def levels_of(run: Run, summaries: list[Summary], case: str, levels: tuple[int, ...]) -> list[int]:
    return [n for n in levels if any(s.case == f"{case}@{n}" for s in summaries)]


def levels_table(run: Run, summaries: list[Summary], case: str, levels: list[int], versus: int) -> str:
    """Per client: the case's cell at each size, and the last size's figure over the ``versus`` size's."""
    by_key = {(s.case, s.client): s for s in summaries}
    keys = [f"{case}@{n}" for n in levels]
    rows = []
    for client in run.clients:
        if client == "F2":
            continue
        values = {n: s.value for n, key in zip(levels, keys) if (s := by_key.get((key, client))) is not None}
        growth = f"{values[levels[-1]] / values[versus]:.2f}x" if values.get(versus) and levels[-1] in values else "n/a"
        rows.append([client, CLIENTS[client].store, *cells(run, summaries, keys, client), growth])
    sizes = [f"{count(n)} entries" for n in levels]
    return table(["client", "store", *sizes, f"{count(levels[-1])} ÷ {count(versus)}"], rows)


def fill_levels(run: Run) -> list[int]:
    return sorted({int(k.split("/", 1)[0].split("@", 1)[1]) for k in run.fills})


def fill_cell(run: Run, n: int, client: str) -> str:
    """The store's own count of entries at size ``n``, how they got there, how long it took."""
    fill = run.fills.get(f"fill@{n}/{client}")
    if fill is None:
        return missing(run, f"fill@{n}", client)
    real = fill["filled"] + fill.get("templates", 0)
    how = f"{real:,} real" + (f" + {fill['copies']:,} copies" if fill.get("copies") else "")
    reported = "n/a" if fill.get("entries") is None else f"{fill['entries']:,}"
    return f"{reported} · {how} · {fill['seconds']:.1f} s{'' if checked(fill) else ' †'}"


def fill_table(run: Run) -> str:
    """Per client and size: ``fill_cell``."""
    levels = fill_levels(run)
    rows = [[c, *(fill_cell(run, n, c) for n in levels)] for c in run.clients if c not in FLOORS]
    return table(["client", *(f"to {count(n)}" for n in levels)], [r for r in rows if any(c != "—" for c in r[1:])])


def checked(fill: dict[str, Any]) -> bool:
    """Every filled URL was one miss, no spot check refetched, no body was wrong, the store holds them all."""
    held = fill.get("entries") is None or fill["entries"] == fill.get("stored", fill["entries"])
    return fill["misses"] == fill["filled"] and not fill["refetched"] and not fill["bad"] and held


def rss_cell(fill: Optional[dict[str, Any]]) -> str:
    if fill is None or fill.get("rss") is None or fill.get("rss_base") is None:
        return "n/a"
    growth = fill["rss"] - fill["rss_base"]
    return f"{growth / MIB:+,.1f} MiB · {growth / fill['stored']:,.0f} B"


def rss_table(run: Run) -> str:
    """Per client: the worker's RSS growth since before the first fill, at each size ≥ 1k, per entry."""
    levels = [n for n in fill_levels(run) if n >= 1000]
    rows = []
    for client in run.clients:
        fills = [run.fills.get(f"fill@{n}/{client}") for n in levels]
        first = next((f for f in fills if f is not None), None)
        if first is None or first.get("rss_base") is None:
            continue
        store = "- (names only)" if client in FLOORS else CLIENTS[client].store
        rows.append([client, store, f"{first['rss_base'] / MIB:,.1f} MiB", *(rss_cell(f) for f in fills)])
    return table(["client", "store", "RSS before", *(f"at {count(n)}: growth · per entry" for n in levels)], rows)


def section(run: Run, summaries: list[Summary]) -> list[str]:
    """The report's lines for the store-size cases (none if neither ran)."""
    s = run.settings
    if not run.fills:
        return []
    lines = [f"## The store filled to each size ({s.scale_rounds} interleaved rounds per size)", ""]
    scale = levels_of(run, summaries, "scale", s.scale_levels)
    if scale:
        lines += [
            "### Hit cost by entries in the store: one hot URL",
            "",
            levels_table(run, summaries, "scale", scale, scale[0]),
            "",
            "Cells: median µs of a 1 KB fresh hit (`.content` read) on the store's hot URL, the store holding "
            "that many entries · ratio to F1 in the same rounds; last column: the largest size's figure over the "
            "smallest's (target: within 1.10x).",
            "",
        ]
    spread = levels_of(run, summaries, "spread", s.spread_levels)
    if spread:
        lines += [
            "### Hits spread over every entry in the store",
            "",
            levels_table(run, summaries, "spread", spread, spread[-2] if len(spread) > 1 else spread[0]),
            "",
            "Cells: median µs of a 1 KB fresh hit (`.content` read) on a URL drawn at random from every entry the "
            "store holds (uniformly, with replacement; the generator seeded per size and round, the same draws for "
            "every client, F1 included) · ratio to F1 in the same rounds; last column: the largest size's figure "
            "over the one before (issue #11's targets: at 10k entries memory/file/SQLite ≤ 1.25x / 1.45x / 1.45x "
            "F1 and below every peer; at 100k within 1.10x of 10k). † a call reached the origin (every drawn URL "
            "must be a fresh hit) or a body was wrong.",
            "",
        ]
    lines += [
        "### RSS growth per stored entry",
        "",
        rss_table(run),
        "",
        "The worker process's RSS after filling its store to that size (after `gc.collect()`), minus its RSS "
        "before the first fill (after `gc.collect()` and `malloc_trim(0)`), over the entries stored. It includes "
        "whatever the client keeps in memory per entry (and the hits sampled at smaller sizes), not the page "
        "cache, nor a Redis server's memory. F1 keeps only the benchmark's own record of the names stored: its "
        "row is the measurement's own noise. (Issue #11's target: file and SQLite ≤ 100 B per entry at 100k.)",
        "",
        "Filling: up to "
        f"{s.scale_real_max:,} entries through the client's own session on an in-memory transport (a miss + store "
        "per URL); past that with copies of a real entry made out for other URLs, under the keys the client "
        "computes for them, written through the store's own API (benchmarks/README.md says how). Each fill step: "
        "entries the store reports · added by real misses (+ copies) · time; † a filled URL was not exactly one "
        "miss, or a spot check of 20 filled URLs (and 20 copies) refetched one or got a wrong body or URL, or the "
        "store's count differs from the entries stored (the first step also holds the hot URL, stored from the "
        "origin):",
        "",
        fill_table(run),
        "",
    ]
    return lines

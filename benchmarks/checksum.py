"""What the storage format's checksums (format version 3) cost a hit.

    python benchmarks/checksum.py               # about 3 min: the algorithms, then 2 x 2 run.py runs
    python benchmarks/checksum.py --repeat 1    # about 1.5 min

1. **The algorithm**: CRC-32 (``zlib.crc32``, the one chosen), Adler-32, MD5, SHA-1,
   SHA-256 and BLAKE2b over 1 KB and 1 MB, best of 5 in this process.
2. **The cost per hit**: ``run.py --cases hit_1k,hit_1m`` for the httpcache clients on the
   memory, file and SQLite stores, run on this tree and on the tree just before the
   format had checksums (``git archive`` of the parent of the commit that made
   ``FORMAT_VERSION = 3``, or ``--before REV``; ``--after REV`` measures a commit instead
   of this tree), alternately (``--repeat`` times each), so
   machine drift hits both alike. Each figure is the median over the runs of run.py's
   median per call; ``x F1`` divides it by F1's median from the same run.

Prints Markdown; nothing passes or fails.
"""

from __future__ import annotations

import functools
import hashlib
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import timeit
import zlib
from pathlib import Path
from typing import Callable

from _cli import parser, utc_now
from _procs import REPO, machine
from _report import table

CLIENTS = ("httpcache", "httpcache-file", "httpcache-sqlite")
CASES = ("hit_1k", "hit_1m")

ALGORITHMS: dict[str, Callable[[bytes], object]] = {
    "crc32 (zlib)": zlib.crc32,
    "adler32 (zlib)": zlib.adler32,
    "md5": lambda data: hashlib.md5(data).digest(),
    "sha1": lambda data: hashlib.sha1(data).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
    "blake2b-128": lambda data: hashlib.blake2b(data, digest_size=16).digest(),
}


def algorithms() -> str:
    """A Markdown table: µs per checksum of 1 KB and 1 MB (best of 5)."""
    sizes = {"1 KB": 1024, "1 MB": 1024 * 1024}
    data = {name: bytes(range(256)) * (size // 256) for name, size in sizes.items()}
    rows = []
    for name, function in ALGORITHMS.items():
        cells = []
        for label, size in sizes.items():
            number = 20_000 if size < 65536 else 50
            best = min(timeit.repeat(functools.partial(function, data[label]), number=number, repeat=5)) / number
            cells.append(f"{best * 1e6:.2f} µs ({size / best / 1e9:.1f} GB/s)")
        rows.append([name, *cells])
    return table(["algorithm", *sizes], rows)


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def before_checksums() -> str:
    """The commit before the one that made the storage format version 3."""
    found = _git("log", "--format=%H", "-S", "FORMAT_VERSION = 3", "--reverse", "--", "httpcache/serialize.py")
    if not found:
        raise SystemExit("no commit makes FORMAT_VERSION = 3: give --before REV")
    return _git("rev-parse", "--short", found.splitlines()[0] + "^")


def export(rev: str, into: Path) -> Path:
    """``git archive`` of ``rev`` unpacked in ``into``."""
    archive = into / "tree.tar"
    with open(archive, "wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", rev], stdout=out, check=True, timeout=120)
    tree = into / rev
    with tarfile.open(archive) as tar:
        tar.extractall(tree)  # our own repository's archive
    return tree


def run_once(tree: Path, out: Path) -> dict[str, float]:
    """One ``run.py`` of the hit cases in ``tree``: {"case/client": median µs per call}."""
    command = [sys.executable, str(tree / "benchmarks" / "run.py"), "--cases", ",".join(CASES)]
    command += ["--clients", ",".join(CLIENTS), "--out", str(out)]
    subprocess.run(command, check=True, timeout=1800, stdout=subprocess.DEVNULL)
    samples = json.loads((out / "latest.json").read_text())["run"]["samples"]
    return {
        key: statistics.median(s["ns"] / s["calls"] / 1000.0 for s in rounds)
        for key, rounds in samples.items()
        if rounds
    }


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--before", help="the tree without checksums (default: found from git history)")
    cli.add_argument("--after", help="the tree with checksums (default: this working tree)")
    cli.add_argument("--repeat", type=int, default=2, help="run.py runs per tree (alternating)")
    args = cli.parse_args()
    print(f"# The storage format's checksums\n\n{utc_now()}; {json.dumps(machine())}\n")
    print("## Algorithms\n")
    print(algorithms())
    before = args.before or before_checksums()
    results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="httpcache-checksum-") as tmp:
        after = export(args.after, Path(tmp)) if args.after else REPO
        trees = {"before": export(before, Path(tmp)), "after": after}
        for n in range(args.repeat):
            for label, tree in trees.items():
                results[label].append(run_once(tree, Path(tmp) / f"{label}-{n}"))
    print(f"\n## A hit, without checksums ({before}) and with them ({args.after or 'this tree'})\n")
    rows = []
    for case in CASES:
        for client in CLIENTS:
            cells = []
            for label in ("before", "after"):
                us = statistics.median(r[f"{case}/{client}"] for r in results[label])
                f1 = statistics.median(r[f"{case}/F1"] for r in results[label])
                cells.append((us, us / f1))
            (b_us, b_x), (a_us, a_x) = cells
            without, with_ = f"{b_us:,.0f} µs · {b_x:.2f}x F1", f"{a_us:,.0f} µs · {a_x:.2f}x F1"
            rows.append([case, client, without, with_, f"{a_us - b_us:+,.0f} µs · {a_x - b_x:+.2f}x F1"])
    print(table(["case", "client", "without", "with", "difference"], rows))


if __name__ == "__main__":
    main()

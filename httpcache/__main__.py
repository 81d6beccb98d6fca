"""``python -m httpcache demo``: run the self-contained demo."""

from __future__ import annotations

import argparse
import sys

from ._demo import run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m httpcache", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="start a local origin and show miss, hit, revalidation and invalidation")
    parser.parse_args(argv)
    return run_demo(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())

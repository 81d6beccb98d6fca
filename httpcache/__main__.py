"""``python -m httpcache``: the command line (``httpcache._cli``): demo, explain, inspect, stats, purge."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())

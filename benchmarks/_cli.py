"""What run.py and stream_rss.py share on the command line (stdlib only)."""

from __future__ import annotations

import argparse
import logging
import signal
from datetime import datetime, timezone
from types import FrameType
from typing import Iterable, Optional


def choose(parser: argparse.ArgumentParser, option: str, value: str, allowed: Iterable[str]) -> list[str]:
    """The comma-separated ``value`` of ``--option`` as a list in ``allowed``'s order; exits on a bad name."""
    allowed = list(allowed)
    chosen = [x.strip() for x in value.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in allowed]
    if unknown or not chosen:
        what = f"unknown {', '.join(unknown)}; " if unknown else ""
        parser.error(f"--{option}: {what}choose from {','.join(allowed)}")
    return [x for x in allowed if x in chosen]


def setup(verbose: bool) -> None:
    """Logging to stderr; SIGTERM becomes KeyboardInterrupt, so children are stopped in order."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

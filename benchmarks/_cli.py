"""What the benchmark commands share on the command line and in their ``main`` (stdlib only): the
parser, lists of names, logging, SIGTERM, the exit status of a failed run, the results written."""

from __future__ import annotations

import argparse
import json
import logging
import signal
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterable, Optional

from _procs import BenchError

log = logging.getLogger("benchmarks")


def parser(doc: Optional[str]) -> argparse.ArgumentParser:
    """A parser showing ``doc`` as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def parse(made: argparse.ArgumentParser, argv: Optional[list[str]]) -> argparse.Namespace:
    """``argv`` parsed, with ``-v`` (more logging) added last."""
    made.add_argument("-v", "--verbose", action="store_true")
    return made.parse_args(argv)


def choose(parser: argparse.ArgumentParser, option: str, value: str, allowed: Iterable[str]) -> list[str]:
    """The comma-separated ``value`` of ``--option`` as a list in ``allowed``'s order; exits on a bad name."""
    allowed = list(allowed)
    chosen = [x.strip() for x in value.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in allowed]
    if unknown or not chosen:
        what = f"unknown {', '.join(unknown)}; " if unknown else ""
        parser.error(f"--{option}: {what}choose from {','.join(allowed)}")
    return [x for x in allowed if x in chosen]


def subset(parser: argparse.ArgumentParser, option: str, allowed: Iterable[str], what: str = "") -> None:
    """``--option a,b``: a list of names in ``allowed``'s order (default: all of them)."""
    allowed = list(allowed)
    parser.add_argument(
        f"--{option}",
        default=",".join(allowed),
        type=lambda value: choose(parser, option, value, allowed),
        help=what or f"comma-separated subset of {','.join(allowed)}",
    )


def setup(verbose: bool) -> None:
    """Logging to stderr; SIGTERM becomes KeyboardInterrupt, so children are stopped in order."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored


def guarded(body: Callable[[], int], stopped: str) -> int:
    """``body()``'s status; 3 if the benchmark itself failed (BenchError), 130 on Ctrl-C / SIGTERM."""
    try:
        return body()
    except BenchError as exc:
        log.error("%s", exc)
        return 3
    except KeyboardInterrupt:
        log.error("interrupted; stopped %s", stopped)
        return 130


def logs_in(out: Path) -> Path:
    """``out/logs``, made if need be: the children's stderr."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def write(out: Path, stem: str, text: str, raw: dict[str, Any]) -> Path:
    """Print the report, write it to ``out/<stem>.md`` and ``raw`` to ``out/<stem>.json``; the .md."""
    print(text)
    written = out / f"{stem}.md"
    written.write_text(text, encoding="utf-8")
    (out / f"{stem}.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return written


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

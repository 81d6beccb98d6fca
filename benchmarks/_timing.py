"""How the benchmarks time and order their calls, for the runner, the workers and hit_floor.py
(stdlib only): threads released together, a rotated order, a cProfile's text."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def rotated(items: list[T], turn: int) -> list[T]:
    """``items`` rotated by ``turn`` places, so that nobody always goes first."""
    shift = turn % len(items)
    return items[shift:] + items[:shift]


def released_together(work: Callable[[int], None], threads: int) -> int:
    """Run ``work(t)`` for ``t`` in ``range(threads)``, each in a thread of its own, all released at once
    by a barrier (after ``gc.collect()``); nanoseconds from the release until the last one ends."""
    barrier = threading.Barrier(threads + 1)

    def run(t: int) -> None:
        barrier.wait()
        work(t)

    pool = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(threads)]
    for thread in pool:
        thread.start()
    gc.collect()
    barrier.wait()
    start = time.perf_counter_ns()
    for thread in pool:
        thread.join()
    return time.perf_counter_ns() - start


def profile_text(profiler: cProfile.Profile, top: int, *orders: str) -> str:
    """The ``top`` rows of ``profiler``'s statistics in each of ``orders`` (e.g. "tottime")."""
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    for order in orders:
        stats.sort_stats(order).print_stats(top)
    return text.getvalue()

"""The store-size cases' own store in a worker (worker side: stdlib, requests, the client's package).

``ScaleStore.fill_to(entries, real_max)`` makes a second, fresh store of the client's hold
``entries`` fresh 1 KB responses: its hot URL ``/fresh/1k/scale-hot`` (stored from the
origin), then ``/fresh/1k/fill-<i>`` stored through the session on the memory transport
(``_fill.py``) up to ``real_max`` entries, and past that two templates (real) and copies
``/fresh/1k/copy-<i>`` (``_copies.py``), a sample of which is then checked to be hits.

It knows every URL stored, in order, for the spread case's draws: as runs of names
(``fill-0`` ... ``fill-9998``), not as strings, so that the bookkeeping does not grow with the
store (100k URL strings would be ~9 MB of the worker's RSS). A floor (F1) keeps the same
names without a store, so that its draws are the same calls. It also takes the process's RSS
before the first fill (after ``gc.collect()`` and glibc's ``malloc_trim(0)``, so that free
memory the process held already is not reused unseen) and after each fill (after
``gc.collect()``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import random
import time
from typing import Any, Callable, Optional, Union

from _copies import Copier, CopyError
from _fill import fill, spot_check
from _sessions import Built
from _workload import SIZES

SCALE_HOT = "scale-hot"  # the scale case's one hit URL: /fresh/1k/scale-hot
SIZE = SIZES["1k"]
CHECKED = ("filled", "misses", "spot_checks", "refetched", "bad")


def rss() -> Optional[int]:
    """This process's resident set size in bytes (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def trim() -> None:
    """Give the C allocator's free pages back to the system (glibc; nothing elsewhere)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Names:
    """The names of the URLs stored, in order, as runs (``prefix-<first>`` ... ) or single names."""

    def __init__(self) -> None:
        self._runs: list[tuple[str, int, int]] = []  # (prefix, first, count); first -1: one name, the prefix
        self.count = 0

    def add(self, prefix: str, first: int = -1, count: int = 1) -> None:
        if count > 0:
            self._runs.append((prefix, first, count))
            self.count += count

    def add_run(self, prefix: str, count: int) -> range:
        """Add ``<prefix>-<i>`` for the next ``count`` entries, numbered on from the entries stored (the hot
        URL is the first: the first fill is ``fill-0``); their numbers."""
        first = self.count - 1
        self.add(prefix, first, count)
        return range(first, first + count)

    def at(self, index: int) -> str:
        for prefix, first, count in self._runs:
            if index < count:
                return prefix if first < 0 else f"{prefix}-{first + index}"
            index -= count
        raise IndexError(index)

    def draw(self, seed: int, calls: int) -> list[str]:
        """``calls`` names drawn at random (uniformly, with replacement) by a generator seeded ``seed``."""
        if not self.count:
            raise RuntimeError("nothing stored to draw from: fill the store first")
        pick = random.Random(seed).randrange
        return [self.at(pick(self.count)) for _ in range(calls)]


def _add(result: dict[str, Any], done: dict[str, Any]) -> None:
    """Add a fill's or spot check's counts (those of CHECKED it has) to ``result``."""
    for name in CHECKED:
        result[name] += done.get(name, 0)


class ScaleStore:
    """The store of the store-size cases (``scale``: its hot URL; ``spread``: all its entries)."""

    def __init__(self, client: str, make: Optional[Callable[[], Built]], url: Callable[[str], str]) -> None:
        self.client = client
        self.make = make  # None for a floor: names only
        self.url = url  # name -> URL
        self.built: Optional[Built] = None
        self.names = Names()
        self.copier: Union[Copier, str, None] = None  # or why there is none
        self.rss_base: Optional[int] = None

    def draw(self, seed: int, calls: int) -> list[str]:
        return [self.url(name) for name in self.names.draw(seed, calls)]

    def fill_to(self, entries: int, real_max: int) -> dict[str, Any]:
        """Store up to ``entries`` entries in all (real up to ``real_max``, then copies); what it took."""
        started = time.perf_counter()
        if self.rss_base is None:
            gc.collect()
            trim()
            self.rss_base = rss()
        result: dict[str, Any] = dict.fromkeys((*CHECKED, "templates", "copies"), 0)
        names = self.names
        if self.make is None:  # a floor: the same names, nothing stored
            if not names.count:
                names.add(SCALE_HOT)
            names.add_run("fill", entries - names.count)
        else:
            if self.built is None:
                self.built = self.make()
                self.built.session.get(self.url(SCALE_HOT)).content  # noqa: B018 - the one real store
                names.add(SCALE_HOT)
            if min(entries, real_max) > names.count:
                self._fill(result, min(entries, real_max) - names.count, entries)
            if entries > names.count:
                copier = self._copier(result)
                if isinstance(copier, Copier):
                    self._copy(copier, result, entries - names.count, entries)
                else:  # fill the rest for real
                    result["copy_note"] = copier
                    self._fill(result, entries - names.count, entries)
        gc.collect()
        store = self.built.entries() if self.built is not None else None
        result.update(
            seconds=time.perf_counter() - started,
            entries=store,
            stored=names.count,
            rss_base=self.rss_base,
            rss=rss(),
        )
        return result

    def _next(self, prefix: str, count: int) -> list[str]:
        """The URLs of the next ``count`` entries (their names stored)."""
        return [self.url(f"{prefix}-{i}") for i in self.names.add_run(prefix, count)]

    def _fill(self, result: dict[str, Any], count: int, seed: int) -> None:
        assert self.built is not None
        _add(result, fill(self.built.session, self._next("fill", count), SIZE, seed=seed))

    def _copy(self, copier: Copier, result: dict[str, Any], count: int, seed: int) -> None:
        assert self.built is not None
        urls = self._next("copy", count)
        copier.copy(urls, b"x" * SIZE)
        _add(result, spot_check(self.built.session, urls, SIZE, seed=seed))
        result["copies"] += count

    def _copier(self, result: dict[str, Any]) -> Union[Copier, str]:
        """The copier, made once (it stores two templates for real), or why there is none."""
        if self.copier is None:
            built = self.built
            assert built is not None

            def fetch(url: str) -> None:
                done = fill(built.session, [url], SIZE)
                if done["misses"] != done["filled"] or done["refetched"] or done["bad"]:
                    raise CopyError(f"a template fetch did not check out: {done}")
                self.names.add(url.rsplit("/", 1)[1])  # stored: one more entry
                result["templates"] += 1

            try:
                self.copier = Copier(self.client, built, fetch, self.url("template-a"), self.url("template-b"))
            except CopyError as exc:
                self.copier = str(exc)
        return self.copier

    def close(self) -> None:
        if self.built is not None:
            self.built.close()

"""Coalescing across processes: the store's lease on a key and its "pass" marker.

One process's leader takes the store's lease on a key while it fetches; others wait for
what it stores (``take_lease``), or go ahead at once when it has marked the key "pass"
(its answer is not storable, ``mark_pass``). The in-process half is ``_coalesce``. Waiting
across processes has no notification to wait on: it polls the store, from 5 ms doubling
to 100 ms, never past the caller's bound.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional, TypeVar

from . import _coalesce
from .controller import CacheController

log = logging.getLogger("httpcache")

__all__ = ["mark_pass", "passed", "take_lease"]

_R = TypeVar("_R")


def take_lease(
    ctl: CacheController, key: str, seconds: float, bound: float, served: Callable[[], Optional[_R]], url: str
) -> tuple[Optional[str], Optional[_R]]:
    """Take the store's lease on ``key`` for ``seconds`` (the token), or wait, at most
    ``bound`` seconds, while another process holds it, and be served (``served``: a
    response from the cache if it now holds a usable one) what it stored. Past the bound,
    once its lease is gone with nothing stored, or once it has marked the key "pass", the
    caller fetches (with the lease if it got it)."""
    token = ctl.lease(key, seconds)
    if token is not None:
        return token, None
    if passed(ctl, key):
        return None, None
    log.debug("%s: another process is fetching it; waiting for its response", url)
    deadline = time.monotonic() + bound
    pause = 0.005
    while time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.1)
        found = served()
        if found is not None:
            return None, found
        if passed(ctl, key):
            return None, None
        token = ctl.lease(key, seconds)
        if token is not None:
            found = served()  # stored just before it let go
            if found is not None:
                ctl.unlease(key, token)
                return None, found
            return token, None
    return None, None


def passed(ctl: CacheController, key: str) -> bool:
    """Has another process marked ``key`` "pass" (not storable, recently)? Then this
    process does not coalesce it either, for as long."""
    if not _coalesce.is_pass(ctl.backend.get(_coalesce.pass_key(key)), time.time()):
        return False
    ctl.coalescer.mark_pass(key)
    return True


def mark_pass(ctl: CacheController, key: str, shared: Optional[str]) -> None:
    """Misses for ``key`` go straight to the origin for a while: its answer is not storable
    (hit-for-pass). ``shared``: other processes may be waiting on our lease."""
    ctl.coalescer.mark_pass(key)
    if shared:
        ctl.backend.set(_coalesce.pass_key(key), _coalesce.pass_marker(time.time()), _coalesce.PASS_SECONDS)

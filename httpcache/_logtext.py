"""Log lines a person can read: the policy's decisions in words, ages and lifetimes rounded
("fresh for 59 s more"), and fallbacks (a thrown-away 304, a store that will not take a
write, a damaged entry) logged once a minute rather than once a request.

Only formatting and rate limiting: the callers decide what happened. Formatting is done
only when the ``httpcache`` logger would emit it (``log.isEnabledFor``), so a hit pays one
level check."""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from . import policy
from .models import CacheOptions, StoredResponse

log = logging.getLogger("httpcache")

__all__ = ["Fallbacks", "lookup_text", "seconds", "stored_text"]


def seconds(value: float) -> str:
    """``0.53`` -> ``"1 s"``; ``4000`` -> ``"67 min"``; ``200000`` -> ``"2.3 d"``: rounded."""
    value = max(0.0, value)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    if value < 172800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


def _freshness(stored: StoredResponse, now: float, options: CacheOptions) -> str:
    """``"age 3 s, fresh for 57 s more"`` / ``"age 70 s, stale for 10 s"`` (RFC 9111 §4.2)."""
    age = policy.current_age(stored, now)
    left = policy.freshness_lifetime(stored, options) - age
    state = f"fresh for {seconds(left)} more" if left > 0 else f"stale for {seconds(-left)}"
    return f"age {seconds(age)}, {state}"


def lookup_text(decision: policy.Decision, stored: Optional[StoredResponse], now: float, options: CacheOptions) -> str:
    """What a lookup decided, in one line with its section."""
    facts = "" if stored is None else f" ({_freshness(stored, now, options)})"
    if isinstance(decision, policy.Fresh):
        return f"fresh hit{facts} (RFC 9111 §4.2)"
    if isinstance(decision, policy.StaleAllowed):
        return f"served stale{facts}: {decision.reason}"
    if isinstance(decision, policy.StaleWhileRevalidate):
        return f"served stale{facts}, revalidating in the background (RFC 5861 §3)"
    if isinstance(decision, policy.Validate):
        sent = ", ".join(name for name, _ in decision.headers)
        how = f"revalidating with {sent}" if sent else "no validator: fetching it in full"
        return f"not reused{facts}: {decision.reason}; {how}"
    if isinstance(decision, policy.GatewayTimeout):
        return f"504: {decision.reason}"
    return f"miss: {decision.reason}"


def stored_text(stored: StoredResponse, now: float, options: CacheOptions) -> str:
    """``"200, 1213 bytes, fresh for 60 s more"``: a response just written."""
    lifetime = policy.freshness_lifetime(stored, options) - policy.current_age(stored, now)
    fresh = f"fresh for {seconds(lifetime)}" if lifetime > 0 else "stale: reused only after revalidation"
    return f"{stored.status}, {stored.body_length} bytes, {fresh}"


class Fallbacks:
    """Log each kind of fallback (by its message) at most once per ``interval`` seconds,
    saying how many like it were not logged meanwhile."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, level: int, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(message)
            if last is not None and now - last < self.interval:
                self._suppressed[message] = self._suppressed.get(message, 0) + 1
                return
            if len(self._last) > 256:  # the messages are the code's own: a handful
                self._last.clear()
            self._last[message] = now
            suppressed = self._suppressed.pop(message, 0)
        if suppressed:
            log.log(level, message + " (%d more like it in the last minute, not logged)", *args, suppressed)
        else:
            log.log(level, message, *args)

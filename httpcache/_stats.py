"""Counters per cache, and a hook per decision (``CacheController.stats``).

Thread-safe: one lock around a few integer additions per request. A snapshot is a frozen
value; ``reset()`` returns the counts it clears, so nothing counted between the two is lost.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from ._info import CacheInfo

log = logging.getLogger("httpcache")

__all__ = ["CacheStats", "CacheStatsSnapshot"]

#: Distinct "not stored" reasons counted one by one; the rest under "other".
MAX_REASONS = 64


@dataclass(frozen=True)
class CacheStatsSnapshot:
    """The counters of one cache at one moment.

    One of ``hits``, ``stale``, ``revalidated``, ``refetched``, ``stale_on_error``,
    ``misses_stored``, ``misses_not_stored``, ``bypassed``, ``only_if_cached`` is counted
    per request (``requests`` is their sum; see ``httpcache.OUTCOMES``). Besides:
    ``collapsed`` (requests served what a concurrent request for the same URL fetched),
    ``background_refreshes`` (stale-while-revalidate), ``invalidations`` (URLs invalidated
    by unsafe methods, RFC 9111 §4.4), ``store_errors`` (store calls that failed and were
    carried on without), ``store_skipped`` (store calls the store itself skipped, knowing
    they would fail: ``RedisCache``'s circuit breaker while Redis is down; any store telling
    ``BaseCache.skipped_call``; a store shared by several caches is counted by each),
    ``writes_declined`` (responses the store would not take: too large or down),
    ``bytes_from_cache`` (body bytes served from the cache) and ``bytes_fetched`` (body
    bytes of origin responses, as their Content-Length announced; those without one are not
    counted). ``not_stored``: the misses not stored, by reason.
    """

    requests: int = 0
    hits: int = 0
    stale: int = 0
    revalidated: int = 0
    refetched: int = 0
    stale_on_error: int = 0
    misses_stored: int = 0
    misses_not_stored: int = 0
    bypassed: int = 0
    only_if_cached: int = 0
    collapsed: int = 0
    background_refreshes: int = 0
    invalidations: int = 0
    store_errors: int = 0
    store_skipped: int = 0
    writes_declined: int = 0
    bytes_from_cache: int = 0
    bytes_fetched: int = 0
    not_stored: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def hit_ratio(self) -> float:
        """The share of requests answered with a body from the cache (0.0 with no requests)."""
        served = self.hits + self.stale + self.revalidated + self.stale_on_error
        return served / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, object]:
        """The counters as a plain dict (for JSON or a metrics system)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["not_stored"] = dict(self.not_stored)
        out["hit_ratio"] = self.hit_ratio
        return out


_COUNTER_OF = {
    "hit": "hits",
    "stale": "stale",
    "revalidated": "revalidated",
    "refetched": "refetched",
    "stale_on_error": "stale_on_error",
    "miss_stored": "misses_stored",
    "miss_not_stored": "misses_not_stored",
    "bypassed": "bypassed",
    "only_if_cached": "only_if_cached",
}
_NAMES = tuple(f.name for f in fields(CacheStatsSnapshot) if f.name != "not_stored")


class CacheStats:
    """The counters of one cache (see ``CacheStatsSnapshot``) and its listeners."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(_NAMES, 0)
        self._not_stored: Counter[str] = Counter()
        self._listeners: tuple[Callable[[CacheInfo], None], ...] = ()
        self._listener_failed = False

    def record(self, info: CacheInfo, body_bytes: Optional[int] = None) -> None:
        """Count one request's outcome; ``body_bytes``: its body's length where known."""
        with self._lock:
            counts = self._counts
            counts["requests"] += 1
            counts[_COUNTER_OF[info.outcome]] += 1
            if info.collapsed:
                counts["collapsed"] += 1
            if body_bytes:
                counts["bytes_from_cache" if info.from_cache else "bytes_fetched"] += body_bytes
            if info.outcome == "miss_not_stored":
                reason = (
                    info.reason if info.reason in self._not_stored or len(self._not_stored) < MAX_REASONS else "other"
                )
                self._not_stored[reason] += 1
        for listener in self._listeners:
            try:
                listener(info)
            except Exception:
                if not self._listener_failed:
                    self._listener_failed = True
                    log.warning("a cache stats listener raised (logged once; it is still called)", exc_info=True)

    def add(self, name: str, count: int = 1) -> None:
        """Add to one of the counters that are not per request (e.g. ``store_errors``)."""
        with self._lock:
            self._counts[name] += count

    def snapshot(self) -> CacheStatsSnapshot:
        with self._lock:
            return self._snapshot()

    def reset(self) -> CacheStatsSnapshot:
        """Set every counter to 0; returns what they held (so nothing is counted twice or lost)."""
        with self._lock:
            held = self._snapshot()
            self._counts = dict.fromkeys(_NAMES, 0)
            self._not_stored = Counter()
        return held

    def _snapshot(self) -> CacheStatsSnapshot:
        return CacheStatsSnapshot(**self._counts, not_stored=MappingProxyType(dict(self._not_stored)))

    def subscribe(self, listener: Callable[[CacheInfo], None]) -> Callable[[], None]:
        """Call ``listener(info)`` after every request's outcome is counted (on the
        requesting thread; keep it quick). Returns a function that unsubscribes it."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                kept = list(self._listeners)
                if listener in kept:
                    kept.remove(listener)
                self._listeners = tuple(kept)

        return unsubscribe

"""What happened to a request: ``CacheInfo``, set on every response the cache hands over
(``response.cache_info``), and its RFC 9211 ``Cache-Status`` rendering.

A pure value (no clock, no I/O): what is known when the response is handed over is kept
as given (the outcome, its reason, the time, the stored response it came from) and what
is derived from it (time left fresh, expiry, the cache key) is computed when first read,
so a hit pays for none of it unless someone looks.
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Optional

from ._freshness import current_age, freshness_lifetime
from .keys import cache_key
from .models import CacheOptions, StoredResponse

__all__ = ["OUTCOMES", "CacheInfo"]

#: Every ``CacheInfo.outcome``, with what it means.
OUTCOMES: dict[str, str] = {
    "hit": "served from the cache, fresh (RFC 9111 §4.2)",
    "stale": "served from the cache stale, as the request or stale-while-revalidate allowed (§4.2.4, RFC 5861 §3)",
    "revalidated": "the origin answered a conditional request with 304: the stored response was served (§4.3.4)",
    "refetched": "a stored response could not be used as is and the origin sent a new one (§4.3.3)",
    "stale_on_error": "the origin failed and stale-if-error allowed the stored response (RFC 5861 §4)",
    "miss_stored": "nothing usable stored: fetched, and stored as it is read (§3)",
    "miss_not_stored": "nothing usable stored: fetched, and not stored (the reason says why)",
    "bypassed": "the cache did not look: unsafe method, preconditions, method not cached, mode disabled (§4, §4.4)",
    "only_if_cached": "only-if-cached and nothing usable stored: a 504 (§5.2.1.7)",
}

_new_tuple = tuple.__new__
_FROM_CACHE = frozenset({"hit", "stale", "revalidated", "stale_on_error"})
#: RFC 9211 §2.2 ``fwd`` parameter for outcomes that went forward (unless the engine knew
#: better: ``vary-miss``, ``request``, ``method``); an only-if-cached 504 went nowhere.
_FWD = {
    "revalidated": "stale",
    "refetched": "stale",
    "stale_on_error": "stale",
    "miss_stored": "uri-miss",
    "miss_not_stored": "uri-miss",
    "bypassed": "bypass",
}


class CacheInfo(tuple):  # type: ignore[type-arg]
    """What the cache did with one request (read-only).

    - ``outcome``: one of ``OUTCOMES`` (``"hit"``, ``"stale"``, ``"revalidated"``,
      ``"refetched"``, ``"stale_on_error"``, ``"miss_stored"``, ``"miss_not_stored"``,
      ``"bypassed"``, ``"only_if_cached"``).
    - ``reason``: the rule that decided, with its RFC section.
    - ``from_cache``: the body came from the cache.
    - ``age``: the served stored response's age in seconds (RFC 9111 §4.2.3), or None.
    - ``stored_at``: when the stored response it came from (or the one being stored) was
      received (seconds since the epoch), or None.
    - ``ttl``: seconds it stays fresh from ``at`` (negative: stale for that long), or None.
    - ``expires``: when it stops being fresh (seconds since the epoch), or None.
    - ``key``: the cache key of the request.
    - ``collapsed``: it waited for a concurrent request for the same URL (coalescing) and
      was served what that one stored.
    - ``at``: when it was handed over (seconds since the epoch).
    """

    __slots__ = ()

    def __new__(
        cls,
        outcome: str,
        reason: str,
        method: str,
        url: str,
        at: float,
        options: CacheOptions,
        stored: Optional[StoredResponse] = None,
        age: Optional[float] = None,
        collapsed: bool = False,
        from_cache: Optional[bool] = None,
        fwd: Optional[str] = None,
        body_key: Optional[str] = None,
    ) -> CacheInfo:
        # a tuple underneath: made in one step on every response, read-only by construction
        told = outcome in _FROM_CACHE if from_cache is None else from_cache
        return _new_tuple(cls, (outcome, reason, age, collapsed, at, told, method, url, options, stored, fwd, body_key))

    outcome: str = property(itemgetter(0))  # type: ignore[assignment]
    reason: str = property(itemgetter(1))  # type: ignore[assignment]
    age: Optional[float] = property(itemgetter(2))  # type: ignore[assignment]
    collapsed: bool = property(itemgetter(3))  # type: ignore[assignment]
    at: float = property(itemgetter(4))  # type: ignore[assignment]
    from_cache: bool = property(itemgetter(5))  # type: ignore[assignment]

    @property
    def key(self) -> str:
        return cache_key(self[6], self[7], False, self[11])

    @property
    def _stored(self) -> Optional[StoredResponse]:
        return self[9]  # type: ignore[no-any-return]

    @property
    def _fwd(self) -> Optional[str]:
        return self[10]  # type: ignore[no-any-return]

    @property
    def stored_at(self) -> Optional[float]:
        return None if self._stored is None else self._stored.response_time

    @property
    def ttl(self) -> Optional[float]:
        """Seconds left fresh at ``at`` (RFC 9111 §4.2: lifetime minus current age)."""
        stored = self._stored
        if stored is None:
            return None
        age = current_age(stored, self.at) if self.age is None else self.age
        return freshness_lifetime(stored, self[8]) - age

    @property
    def expires(self) -> Optional[float]:
        ttl = self.ttl
        return None if ttl is None else self.at + ttl

    def cache_status(self, name: str = "httpcache") -> str:
        """This outcome as one RFC 9211 ``Cache-Status`` list member (§2): ``hit`` or
        ``fwd=...``, ``fwd-status``, ``ttl``, ``stored``, ``collapsed``, ``detail``."""
        parts = [name]
        if self.outcome in ("hit", "stale"):
            parts.append("hit")
        elif self.outcome != "only_if_cached":  # a 504 of our own went nowhere: no fwd
            parts.append("fwd=" + (self._fwd or _FWD.get(self.outcome, "miss")))
            if self.outcome == "revalidated":
                parts.append("fwd-status=304")
        ttl = self.ttl
        if ttl is not None and math.isfinite(ttl) and self.outcome != "bypassed":
            parts.append(f"ttl={round(ttl)}")
        if self.outcome in ("miss_stored", "refetched") and self._stored is not None:
            parts.append("stored")
        if self.collapsed:
            parts.append("collapsed")
        parts.append("detail=" + _sf_string(f"{self.outcome}: {self.reason}"))
        return "; ".join(parts)

    def __repr__(self) -> str:
        bits = [f"outcome={self.outcome!r}", f"reason={self.reason!r}"]
        if self.age is not None:
            bits.append(f"age={self.age:.0f}")
        ttl = self.ttl
        if ttl is not None:
            bits.append(f"ttl={ttl:.0f}")
        if self.collapsed:
            bits.append("collapsed=True")
        return f"CacheInfo({', '.join(bits)})"


def _sf_string(text: str) -> str:
    """RFC 8941 §3.3.3 String: printable ASCII, ``\\`` and ``"`` escaped (others dropped)."""
    kept = "".join(c for c in text.replace("§", "section ") if " " <= c <= "~")
    return '"' + kept.replace("\\", "\\\\").replace('"', '\\"') + '"'

"""Request coalescing: concurrent misses for one key in one process make one origin request.

The first request for a key becomes its leader; the others wait until the leader's
response has been stored, then look the cache up again (and send their own request if
it still cannot answer). Waiting only pays off when the response turns out storable,
so the waiters go ahead at once when it does not (DESIGN.md rule 7):

- as soon as the leader has the response's status and fields and they say it will not
  be stored, it lets its followers go, and the key is remembered as "pass" for
  ``PASS_SECONDS`` (Varnish's hit-for-pass): later misses for it do not queue at all,
  until a storable response for it is seen again;
- a leader whose response is handed to a caller who streams it lets its followers go
  at once: nobody waits on how (or whether) a caller reads its body;
- a leadership expires after the wait bound, so an abandoned response delays later
  requests for its URL once at most.

Only the first concurrent misses of a URL never seen before pay one response time
(the leader's status and fields) before they know they must fetch for themselves.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

#: How long a key that answered "not storable" is not coalesced (seconds).
PASS_SECONDS = 60.0
#: At most this many keys are remembered as "pass" (the oldest are forgotten first).
PASS_MAX_KEYS = 4096

LEAD, FOLLOW, PASS = "lead", "follow", "pass"


class Flight:
    """One leader's origin request for a key: ``done`` is set when its followers may go;
    ``responded`` once it has the response's status and fields."""

    __slots__ = ("deadline", "done", "responded")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.responded = False


class _Coalescer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leaders: dict[str, Flight] = {}
        self._pass: dict[str, float] = {}

    def join(self, key: str, timeout: float) -> tuple[str, Optional[Flight]]:
        """``(LEAD, flight)`` for the new leader of ``key``; ``(FOLLOW, flight)`` to wait on;
        ``(PASS, None)`` when ``key`` recently answered "not storable": send at once."""
        now = time.monotonic()
        with self._lock:
            until = self._pass.get(key)
            if until is not None:
                if until > now:
                    return PASS, None
                del self._pass[key]
            current = self._leaders.get(key)
            if current is not None and current.deadline > now:
                return FOLLOW, current
            flight = Flight(now + timeout)
            self._leaders[key] = flight
            return LEAD, flight

    def release(self, key: str, flight: Flight) -> None:
        """The leader is done (stored, not storable, handed over, or failed): wake its
        followers. Idempotent."""
        with self._lock:
            if self._leaders.get(key) is flight:
                del self._leaders[key]
        flight.done.set()

    def mark_pass(self, key: str, seconds: float = PASS_SECONDS) -> None:
        """``key`` answered "not storable": do not coalesce its misses for ``seconds``."""
        with self._lock:
            self._pass.pop(key, None)
            while len(self._pass) >= PASS_MAX_KEYS:
                del self._pass[next(iter(self._pass))]
            self._pass[key] = time.monotonic() + seconds

    def storable(self, key: str) -> None:
        """A storable response for ``key`` was seen: coalesce its misses again."""
        if key in self._pass:
            with self._lock:
                self._pass.pop(key, None)


# -- across processes: a "pass" marker in the store, beside the lease ---------------

_MARKER = b"HTTPCACHE-PASS "


def pass_key(key: str) -> str:
    """Where a key's "pass" marker is kept in a store shared by processes (never a
    response key: those have no space before ``#``)."""
    return f"{key} #pass"


def pass_marker(now: float, seconds: float = PASS_SECONDS) -> bytes:
    """A marker valid until ``now + seconds`` (wall clock: processes share it), which
    holds its own deadline for stores that keep values past their expiry hint."""
    return _MARKER + repr(now + seconds).encode("ascii")


def is_pass(value: object, now: float) -> bool:
    """Is ``value`` a "pass" marker still in force at ``now``? Anything else is not."""
    if not isinstance(value, bytes) or not value.startswith(_MARKER):
        return False
    try:
        return float(value[len(_MARKER) :]) > now
    except ValueError:
        return False

"""Request coalescing: concurrent misses for one key in one process make one origin request.

The first request for a key becomes its leader; the others wait (bounded) until the
leader's response has been stored or found not storable, then look the cache up
again, and send their own request if it still cannot answer. A leadership expires
after the wait bound, so an abandoned response (never read, never closed) delays
later requests for its URL once at most.
"""

from __future__ import annotations

import threading
import time


class _Coalescer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leaders: dict[str, tuple[threading.Event, float]] = {}

    def join(self, key: str, timeout: float) -> tuple[bool, threading.Event]:
        """``(True, event)`` for the new leader of ``key``; ``(False, event)`` to wait on."""
        now = time.monotonic()
        with self._lock:
            current = self._leaders.get(key)
            if current is not None and current[1] > now:
                return False, current[0]
            event = threading.Event()
            self._leaders[key] = (event, now + timeout)
            return True, event

    def release(self, key: str, event: threading.Event) -> None:
        """The leader is done (stored, not storable, or failed): wake its followers."""
        with self._lock:
            current = self._leaders.get(key)
            if current is not None and current[0] is event:
                del self._leaders[key]
        event.set()

"""Background revalidation for stale-while-revalidate (RFC 5861 §3).

A small bounded pool: a few worker threads (never one per request), at most
``max_pending`` refreshes queued or running, and never two refreshes of the same
key at once. Refreshes that cannot be queued are simply skipped: the next
request after the window closes revalidates in the foreground.

The workers are daemon threads, so a refresh in flight never holds up the
interpreter's exit (``concurrent.futures`` joins its workers at exit: a slow origin
would delay it by as long). ``shutdown()`` drops what is queued and abandons what
is running; an abandoned refresh leaves nothing half-written, since every store
publishes a value in one step.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

log = logging.getLogger("httpcache")

_Job = tuple[str, Callable[[], None]]


class _Refresher:
    def __init__(self, workers: int = 2, max_pending: int = 64) -> None:
        self._workers = workers
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._queue: deque[_Job] = deque()
        self._ready = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._generation = 0

    def submit(self, key: str, job: Callable[[], None]) -> bool:
        """Run ``job`` in the background unless ``key`` is already being refreshed or the
        pool is full; True when it was queued."""
        with self._lock:
            if key in self._inflight or len(self._inflight) >= self._max_pending:
                return False
            self._inflight.add(key)
            self._queue.append((key, job))
            self._threads = [t for t in self._threads if t.is_alive()]
            if len(self._threads) < min(self._workers, len(self._inflight)):
                thread = threading.Thread(
                    target=self._work, args=(self._generation,), name="httpcache-refresh", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._ready.notify()
        return True

    def _work(self, generation: int) -> None:
        while True:
            with self._lock:
                while not self._queue and generation == self._generation:
                    if not self._ready.wait(timeout=30.0) and not self._queue:
                        self._threads = [t for t in self._threads if t is not threading.current_thread()]
                        return  # idle: let the thread go; a later submit starts another
                if generation != self._generation:
                    return
                key, job = self._queue.popleft()
            try:
                job()
            except Exception:  # a failed refresh only means the next request revalidates
                log.warning("background revalidation of %s failed", key, exc_info=True)
            finally:
                with self._lock:
                    self._inflight.discard(key)

    def pending(self) -> int:
        with self._lock:
            return len(self._inflight)

    def shutdown(self) -> None:
        """Stop the workers: queued refreshes are dropped, running ones abandoned (their
        threads never delay the interpreter's exit); a later submit starts new ones."""
        with self._lock:
            self._generation += 1
            for key, _ in self._queue:
                self._inflight.discard(key)
            self._queue.clear()
            self._threads = []
            self._ready.notify_all()

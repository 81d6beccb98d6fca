"""Background revalidation for stale-while-revalidate (RFC 5861 §3).

A small bounded pool: a few worker threads (never one per request), at most
``max_pending`` refreshes queued or running, and never two refreshes of the same
key at once. Refreshes that cannot be queued are simply skipped: the next
request after the window closes revalidates in the foreground.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

log = logging.getLogger("httpcache")


class _Refresher:
    def __init__(self, workers: int = 2, max_pending: int = 64) -> None:
        self._workers = workers
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._executor: Optional[ThreadPoolExecutor] = None

    def submit(self, key: str, job: Callable[[], None]) -> bool:
        """Run ``job`` in the background unless ``key`` is already being refreshed or the
        pool is full; True when it was queued."""
        with self._lock:
            if key in self._inflight or len(self._inflight) >= self._max_pending:
                return False
            self._inflight.add(key)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="httpcache-refresh")
            executor = self._executor
        try:
            executor.submit(self._run, key, job)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._inflight.discard(key)
            return False
        return True

    def _run(self, key: str, job: Callable[[], None]) -> None:
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
        """Stop the workers (queued refreshes are dropped); a later submit starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

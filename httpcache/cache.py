"""The store interface and the default in-memory store.

Stores know nothing about HTTP: ``str`` keys, ``bytes`` values, and an optional
``expires`` hint in seconds (eviction advice only; freshness is always
recomputed from the stored response). A custom store is a ten-line subclass::

    class MyCache(BaseCache):
        def __init__(self):
            self.data = {}
        def get(self, key):
            return self.data.get(key)
        def set(self, key, value):
            self.data[key] = value
        def delete(self, key):
            self.data.pop(key, None)

``set`` may take ``expires`` as a third argument or keyword; the controller
only passes it to stores whose ``set`` accepts it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from .exceptions import HTTPCacheError

__all__ = ["BaseCache", "DictCache"]


class BaseCache:
    """A byte store. Subclasses implement ``get``, ``set`` and ``delete``.

    Every method may be called from several threads at once: a store shared by
    threads must be thread-safe. Errors raised by a store never reach the
    caller of ``requests``: the controller turns them into misses.
    """

    def get(self, key: str) -> Optional[bytes]:
        raise NotImplementedError

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (connections, files). Optional."""


class DictCache(BaseCache):
    """An in-memory store, safe under threads (one lock around each operation).

    ``init_dict`` may pre-seed it. Expiry hints are honoured lazily: an expired
    entry is dropped when it is next read. ``max_entries`` / ``max_bytes`` (the
    sum of the values' lengths) bound it: the least recently used entries (by
    ``get`` or ``set``) are evicted first, and a value larger than ``max_bytes``
    is not stored. Unbounded by default.
    """

    def __init__(
        self,
        init_dict: Optional[dict[str, Any]] = None,
        *,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
    ) -> None:
        _check_bounds(max_entries, max_bytes)
        self._lock = threading.Lock()
        self.data: dict[str, Any] = init_dict if init_dict is not None else {}
        self._deadlines: dict[str, float] = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bounded = max_entries is not None or max_bytes is not None
        self._bytes = sum(_size(v) for v in self.data.values()) if max_bytes is not None else 0
        if self._bounded:
            with self._lock:
                self._evict()

    def get(self, key: str) -> Optional[bytes]:
        with self._lock:
            deadline = self._deadlines.get(key)
            if deadline is not None and deadline <= time.monotonic():
                self._pop(key)
                return None
            value: Optional[bytes] = self.data.get(key)
            if self._bounded and value is not None:
                self.data[key] = self.data.pop(key)  # most recently used last
            return value

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        with self._lock:
            if self.max_bytes is not None and len(value) > self.max_bytes:
                self._pop(key)
                return
            if self._bounded:
                self._pop(key)  # re-inserted last: the most recently used
            self.data[key] = value
            if self.max_bytes is not None:
                self._bytes += len(value)
            if expires is None:
                self._deadlines.pop(key, None)
            else:
                self._deadlines[key] = time.monotonic() + max(0.0, float(expires))
            if self._bounded:
                self._evict()

    def delete(self, key: str) -> None:
        with self._lock:
            self._pop(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self.data)

    def _pop(self, key: str) -> None:
        """Remove ``key`` (lock held)."""
        value = self.data.pop(key, None)
        self._deadlines.pop(key, None)
        if value is not None and self.max_bytes is not None:
            self._bytes -= _size(value)

    def _evict(self) -> None:
        """Drop the least recently used entries until within the bounds (lock held)."""
        while self.data and (
            (self.max_entries is not None and len(self.data) > self.max_entries)
            or (self.max_bytes is not None and self._bytes > self.max_bytes)
        ):
            self._pop(next(iter(self.data)))


def _check_bounds(max_entries: Optional[int], max_bytes: Optional[int]) -> None:
    """Raise ``HTTPCacheError`` unless each bound is a positive ``int`` or ``None``."""
    for name, bound in (("max_entries", max_entries), ("max_bytes", max_bytes)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 1):
            raise HTTPCacheError(f"{name} must be a positive int or None, not {bound!r}")


def _size(value: Any) -> int:
    """The length of a stored value (0 for a value without one)."""
    try:
        return len(value)
    except TypeError:
        return 0

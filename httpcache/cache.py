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
    entry is dropped when it is next read.
    """

    def __init__(self, init_dict: Optional[dict[str, Any]] = None) -> None:
        self._lock = threading.Lock()
        self.data: dict[str, Any] = init_dict if init_dict is not None else {}
        self._deadlines: dict[str, float] = {}

    def get(self, key: str) -> Optional[bytes]:
        with self._lock:
            deadline = self._deadlines.get(key)
            if deadline is not None and deadline <= time.monotonic():
                self.data.pop(key, None)
                del self._deadlines[key]
                return None
            value: Optional[bytes] = self.data.get(key)
            return value

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        with self._lock:
            self.data[key] = value
            if expires is None:
                self._deadlines.pop(key, None)
            else:
                self._deadlines[key] = time.monotonic() + max(0.0, float(expires))

    def delete(self, key: str) -> None:
        with self._lock:
            self.data.pop(key, None)
            self._deadlines.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self.data)

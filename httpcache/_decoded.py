"""The one decoded-entry cache (DESIGN.md rule 4: a memo with one owner and a bound in bytes).

A hit on an entry decoded a moment ago skips decoding it again. An entry is reused only for
the very value it was decoded from: the same ``bytes`` object, as an in-memory store hands
back until the value is replaced, or equal bytes, as a file or a socket store hands back (one
comparison, far cheaper than decoding). A replaced or damaged value is therefore never
served from here, whoever changed it.

Least recently used first out, bounded by ``MAX_BYTES`` (each entry counts the length of its
value plus ``OVERHEAD`` for the decoded objects) and by ``MAX_ENTRIES``; a value over an
eighth of the bytes is never kept. The bytes bound lets it keep large bodies hit again and
again (a 1 MB body is then not checked and copied out of its value on every hit); the count
bound keeps what it holds of small entries to a few megabytes, whatever the store's size: a
hit spread over many entries is made cheap by decoding cheaply, not by keeping everything
decoded.

When it is full, an entry decoded for a read is let in only if its key was read here (and
missed) before, recently (a doorkeeper of the last ``4 * MAX_ENTRIES`` keys missed): a hit
spread over many more entries than it holds would otherwise evict an entry for every hit,
and freeing an entry decoded a thousand hits ago costs more than decoding one. An entry
just written is always let in. Keys are cache keys (a variant's holds a digest of the
credentials it was stored for, never them); values are what the store holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Optional, TypeVar

__all__ = ["MAX_BYTES", "MAX_ENTRIES", "OVERHEAD", "DecodedEntries"]

#: The bounds: values' lengths plus ``OVERHEAD`` each, and entries.
MAX_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 1024
#: What one decoded entry costs beyond its value (objects, fields, facts), counted.
OVERHEAD = 2048

_T = TypeVar("_T")


class DecodedEntries(Generic[_T]):
    """Decoded entries by key, each with the value it was decoded from (see the module)."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[bytes, _T, int]] = OrderedDict()
        self._bytes = 0
        self._seen: set[str] = set()  # the doorkeeper: keys missed recently while full
        self._lock = threading.Lock()

    def get(self, key: str, value: object) -> Optional[_T]:
        """The entry decoded from ``value`` at ``key``, if it is here. Takes no lock (a hit
        is a read: eight threads hitting one session must not queue on a lock held by a
        thread the interpreter switched away from); ``dict.get`` and ``move_to_end`` are each
        atomic, and an entry evicted in between is simply not moved."""
        found = self._entries.get(key)
        if found is None:
            return None
        kept, decoded, _ = found
        if kept is not value and kept != value:
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:
            pass  # evicted meanwhile by a writer: still the right entry for this value
        return decoded

    def keeps(self, size: int) -> bool:
        """Would an entry for a value of ``size`` bytes be kept?"""
        return size + OVERHEAD <= self.max_bytes // 8

    def put(self, key: str, value: bytes, decoded: _T, read: bool = False) -> None:
        """Keep ``decoded``, the entry at ``key`` decoded from ``value``; ``read``: decoded
        for a read (not written), let in when full only past the doorkeeper."""
        cost = len(value) + OVERHEAD
        if not self.keeps(len(value)):
            return
        with self._lock:
            full = len(self._entries) >= self.max_entries or self._bytes + cost > self.max_bytes
            if read and full and key not in self._entries:
                if key not in self._seen:
                    if len(self._seen) >= 4 * self.max_entries:
                        self._seen.clear()
                    self._seen.add(key)
                    return
                self._seen.discard(key)
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._entries[key] = (value, decoded, cost)
            self._bytes += cost
            while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def forget(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seen.clear()
            self._bytes = 0

    def size(self) -> tuple[int, int]:
        """``(entries, bytes counted)``."""
        with self._lock:
            return len(self._entries), self._bytes

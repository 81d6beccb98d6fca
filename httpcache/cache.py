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
only passes it to stores whose ``set`` accepts it. A store may also say how large
a value it would keep (``max_value_size``) and offer ``clear()``, and a store
shared by processes overrides ``compare_and_set`` to make it atomic among them.

Values are the storage format's (``httpcache.serialize``), which carries its own
checksums: a store that hands back damaged bytes causes a miss, never a wrong
response, so a store need not check what it returns (though it may).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Callable, Iterator, Optional, Union

from .exceptions import HTTPCacheError, UnsupportedStoreError

__all__ = [
    "BaseCache",
    "DictCache",
    "Expiry",
    "SeparateBodyBaseCache",
    "StreamingCache",
    "ValueReader",
    "ValueWriter",
    "expiry_seconds",
]

#: Guards the list of a store's skip listeners (``BaseCache.add_skip_listener``).
_LISTENERS_LOCK = threading.Lock()

#: Guards ``BaseCache.compare_and_set``'s default (striped by store and key): atomic in one process.
_DEFAULT_CAS_LOCKS = tuple(threading.Lock() for _ in range(64))


#: An expiry hint as a store's ``set`` takes it: seconds (the cache passes these), or, as
#: cachecontrol's stores take it, a ``timedelta`` or a ``datetime`` to expire at.
Expiry = Union[float, timedelta, datetime, None]


def expiry_seconds(expires: Expiry) -> Optional[float]:
    """An expiry hint in seconds from now (None: none). A naive ``datetime`` is UTC, as in
    cachecontrol."""
    if expires is None:
        return None
    if isinstance(expires, timedelta):
        return expires.total_seconds()
    if isinstance(expires, datetime):
        at = expires if expires.tzinfo is not None else expires.replace(tzinfo=timezone.utc)
        return (at - datetime.now(timezone.utc)).total_seconds()
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        raise HTTPCacheError(f"expires must be seconds, a timedelta or a datetime, not {expires!r}")
    return float(expires)


def _accepts_expires(setter: Callable[..., object]) -> bool:
    """Does a store's ``set`` take an expiry hint (a third positional or ``expires``)?"""
    try:
        params = list(inspect.signature(setter).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return True
    if any(p.name == "expires" for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


class BaseCache:
    """A byte store. Subclasses implement ``get``, ``set`` and ``delete``.

    Every method may be called from several threads at once: a store shared by
    threads must be thread-safe. Errors raised by a store never reach the
    caller of ``requests``: the controller turns them into misses.

    A store that skips calls on its own, without raising (say, a circuit breaker while its
    server is down: ``RedisCache``), calls ``self.skipped_call()`` for each one it skips, so
    that every cache using it counts them (``CacheStats``' ``store_skipped``); the cache
    registers itself with ``add_skip_listener``. Both are provided here; nothing to implement.
    """

    #: weak references to the skip listeners (``add_skip_listener``)
    _skip_listeners: tuple[Callable[[], Optional[Callable[[], object]]], ...] = ()

    def get(self, key: str) -> Optional[bytes]:
        raise NotImplementedError

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (connections, files). Optional."""

    def compare_and_set(
        self, key: str, expected: Optional[bytes], value: Optional[bytes], expires: Optional[float] = None
    ) -> bool:
        """Atomically replace the value at ``key`` if it is still ``expected``: store ``value``
        (``expires`` as ``set`` takes it), or delete the key if ``value`` is None. ``expected``
        None means "absent" (an expired entry is absent). True if the change was made, False
        if the current value differs (nothing changed). It may also return False when the store
        refuses the write (too large, unreachable). The cache keeps each URL's variant index
        (RFC 9111 §4.1) with it, so that writers never lose one another's variants.

        Atomic against other ``compare_and_set`` calls on the same key (a plain ``set`` may
        still land in between). The stores shipped here make it atomic across threads and
        processes (SQLite: one ``BEGIN IMMEDIATE`` transaction; Redis: one Lua script;
        files: a ``flock``; ``DictCache``: its lock). This default, for a store of your own,
        is ``get``, compare, ``set`` / ``delete`` under a lock of this process: atomic
        among the threads of one process only. A store shared by processes overrides it."""
        lock = _DEFAULT_CAS_LOCKS[hash((id(self), key)) % len(_DEFAULT_CAS_LOCKS)]
        with lock:
            if self.get(key) != expected:
                return False
            if value is None:
                with contextlib.suppress(KeyError):  # a store that raises on a missing key
                    self.delete(key)
            elif expires is not None and _accepts_expires(self.set):
                self.set(key, value, expires)
            else:
                self.set(key, value)
            return True

    def add_skip_listener(self, listener: Callable[[], object]) -> None:
        """Have ``listener()`` called for every call this store skips on its own (see the
        class's docstring). Held weakly when it is a bound method (a cache that is gone is no
        longer told); a listener that raises is ignored."""
        ref: Callable[[], Optional[Callable[[], object]]]
        ref = weakref.WeakMethod(listener) if inspect.ismethod(listener) else (lambda: listener)
        with _LISTENERS_LOCK:
            alive = [held for held in self._skip_listeners if held() is not None]
            self._skip_listeners = (*alive, ref)

    def skipped_call(self) -> None:
        """For the store itself: one call was not made (the store knows it would fail, e.g.
        its server is down); told to the listeners. Never raises."""
        for held in self._skip_listeners:
            listener = held()
            if listener is not None:
                with contextlib.suppress(Exception):
                    listener()

    def max_value_size(self) -> Optional[int]:
        """The largest value, in bytes, that ``set`` (or a streaming store's ``open_write``)
        would keep now: None for no bound (the default), 0 when the store takes no writes
        now (say, its server is unreachable). The cache asks before it collects a response's
        body: a body announced larger is never collected, and one that turns out larger stops
        being collected the moment it passes the bound. Asked once per response that could
        be stored, so it must be cheap. A store that raises here is taken as down (0).
        Optional."""
        return None

    def clear(self) -> None:
        """Remove every entry (a store shared by threads or processes: safely, with writes
        under way at the same time either landing after it or not at all). Stores that can
        not implement it raise ``UnsupportedStoreError`` (a ``NotImplementedError``), as this
        default does."""
        raise UnsupportedStoreError(
            f"{type(self).__name__} cannot be cleared: implement clear() (remove every entry) to empty it"
        )

    def keys(self) -> Iterator[str]:
        """Every key the store holds now (its own internal keys, such as leases, left out),
        for inspecting it (``httpcache.CacheInspector``); keys written or deleted while it
        runs may or may not be listed. Optional: this default raises ``UnsupportedStoreError``."""
        raise UnsupportedStoreError(
            f"{type(self).__name__} cannot list its keys: implement keys() (an iterator of every key) to inspect it"
        )

    def values(self) -> Iterator[Union[bytes, ValueReader]]:
        """Every value the store holds now, for inspecting it: whole ``bytes``, or (a streaming
        store's large value) a ``ValueReader`` the caller closes. A key deleted meanwhile is
        skipped. This default reads each of ``keys()``; a store that can walk its values but
        not name their keys (``FileCache`` keeps only a hash of each key) overrides it."""
        for key in self.keys():
            value = self.get(key)
            if value is not None:
                yield value

    def acquire_lease(self, key: str, seconds: float) -> Optional[str]:
        """Coalescing across processes: try to become, for ``seconds`` at most, the one
        holder of ``key``'s lease (the one process fetching it from the origin).
        Returns a token to release it with, or None while another holder has it.
        A store shared by several processes overrides this; the default (a store of
        one process) always grants an empty token, leaving coalescing in-process."""
        return ""

    def release_lease(self, key: str, token: str) -> None:
        """Give back a lease taken with ``acquire_lease`` (a no-op if it has expired
        and someone else holds it now). Optional."""


class SeparateBodyBaseCache(BaseCache):
    """cachecontrol's store that keeps a response's body apart from its head (so a store of
    files, say, can keep each in its own file). Implement ``get`` / ``set`` / ``delete``
    as for a ``BaseCache``, and ``set_body(key, body)`` / ``get_body(key)`` (a binary file
    object, or None); ``delete(key)`` removes both. For a stored response ``set`` gets its
    head and ``set_body`` the rest of the value (its body, then its length and checksum);
    other values (a URL's variant index) go whole to ``set``. The body is written first,
    the head last; a head read with a body of another write fails its checksum: a miss.
    A read joins them whole (no streaming)."""

    def set_body(self, key: str, body: bytes) -> None:
        raise NotImplementedError

    def get_body(self, key: str) -> Optional[IO[bytes]]:
        raise NotImplementedError


class ValueReader:
    """A stored value opened for reading in pieces (see ``StreamingCache.open_read``).

    ``length`` is the value's size in bytes. ``pread(size, offset)`` returns up to
    ``size`` bytes from ``offset`` (fewer only at the end of the value); it may be
    called from any thread, in any order. The reader sees the value as it was
    when it was opened, even if the key is overwritten or deleted meanwhile.
    A value that turns out damaged while it is read raises ``OSError``.
    """

    length: int = 0

    def pread(self, size: int, offset: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release the reader (idempotent)."""


class ValueWriter:
    """A value being written in pieces (see ``StreamingCache.open_write``).

    Nothing is visible to readers until ``commit(key, expires)`` publishes the
    bytes written so far under ``key`` in one step (replacing any old value);
    ``abort()`` throws them away. After either, the writer is spent. A writer
    abandoned by a killed process leaves nothing a reader can see; the store
    cleans up after it.
    """

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def commit(self, key: str, expires: Optional[float] = None) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class StreamingCache(BaseCache):
    """A store that can hold values too large for memory: it reads and writes them in pieces.

    The cache uses ``open_read`` / ``open_write`` instead of ``get`` / ``set`` for
    response entries, so a large body goes between the network, the caller and
    the disk without ever being whole in memory. ``get`` / ``set`` / ``delete``
    keep working on whole values.
    """

    def open_read(self, key: str) -> Union[bytes, ValueReader, None]:
        """The value at ``key``: whole ``bytes`` when it is small enough to read at
        once, else a ``ValueReader`` the caller must close; None if absent, expired
        or damaged (a damaged value is removed)."""
        raise NotImplementedError

    def open_write(self) -> ValueWriter:
        """A writer for a new value, published with ``commit(key, expires)``."""
        raise NotImplementedError

    def values(self) -> Iterator[Union[bytes, ValueReader]]:
        """``BaseCache.values``, each opened with ``open_read`` (a large value: a reader)."""
        for key in self.keys():
            value = self.open_read(key)
            if value is not None:
                yield value


class DictCache(BaseCache):
    """An in-memory store, safe under threads (one lock around each operation).

    ``init_dict`` may pre-seed it. Expiry hints are honoured lazily: an expired
    entry is dropped when it is next read. ``max_entries`` / ``max_bytes`` (the
    sum of the values' lengths) bound it: the least recently used entries (by
    ``get`` or ``set``) are evicted first, and a value larger than ``max_bytes``
    is not stored (nor collected: ``max_value_size``). Unbounded by default.

    ``data`` is the dict the entries live in: read it freely; empty the store with
    ``clear()``. Keys added to or removed from ``data`` by hand (``data.clear()``
    included) are noticed by the next ``set`` or ``delete``, which recounts the
    bytes and drops the expiry hints of keys that are gone.
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
        self._sizes: dict[str, int] = {}  # max_bytes only: each value's length as counted
        self._bytes = 0  # max_bytes only: the sum of ``_sizes``
        with self._lock:
            self._recount()
            if self._bounded:
                self._evict()

    def get(self, key: str) -> Optional[bytes]:
        with self._lock:
            return self._current(key)

    def _current(self, key: str) -> Optional[bytes]:
        """The value at ``key``, None if absent or expired (lock held)."""
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._pop(key)
            return None
        value: Optional[bytes] = self.data.get(key)
        if self._bounded and value is not None:
            self.data[key] = self.data.pop(key)  # most recently used last
        return value

    def set(self, key: str, value: bytes, expires: Expiry = None) -> None:
        """Store ``value``; ``expires``: seconds, a ``timedelta`` or a ``datetime``."""
        seconds = None if expires is None else expiry_seconds(expires)
        with self._lock:
            self._put(key, value, seconds)

    def _put(self, key: str, value: bytes, expires: Optional[float]) -> None:
        """``set`` (lock held)."""
        self._notice_hand_edits()
        if self.max_bytes is not None and len(value) > self.max_bytes:
            self._pop(key)
            return
        if self._bounded:
            self._pop(key)  # re-inserted last: the most recently used
        self.data[key] = value
        if self.max_bytes is not None:
            self._sizes[key] = len(value)
            self._bytes += len(value)
        if expires is None:
            self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = time.monotonic() + max(0.0, float(expires))
        if self._bounded:
            self._evict()

    def delete(self, key: str) -> None:
        with self._lock:
            self._notice_hand_edits()
            self._pop(key)

    def compare_and_set(
        self, key: str, expected: Optional[bytes], value: Optional[bytes], expires: Optional[float] = None
    ) -> bool:
        """``BaseCache.compare_and_set``, under the store's lock."""
        with self._lock:
            if self._current(key) != expected:
                return False
            if value is not None and self.max_bytes is not None and len(value) > self.max_bytes:
                return False
            if value is None:
                self._notice_hand_edits()
                self._pop(key)
            else:
                self._put(key, value, expires)
            return True

    def clear(self) -> None:
        """Remove every entry (``data`` is emptied in place)."""
        with self._lock:
            self.data.clear()
            self._deadlines.clear()
            self._sizes.clear()
            self._bytes = 0

    def max_value_size(self) -> Optional[int]:
        """``max_bytes``: a larger value is not stored."""
        return self.max_bytes

    def keys(self) -> Iterator[str]:
        """The keys of ``data`` (a snapshot: safe while others write)."""
        with self._lock:
            return iter(list(self.data))

    def __len__(self) -> int:
        with self._lock:
            return len(self.data)

    def _notice_hand_edits(self) -> None:
        """Recount if keys were added to or removed from ``data`` by hand (lock held)."""
        if (self.max_bytes is not None and len(self._sizes) != len(self.data)) or len(self._deadlines) > len(self.data):
            self._recount()

    def _recount(self) -> None:
        """Count the bytes of ``data`` afresh and forget the hints of keys it lost (lock held)."""
        data = self.data
        if self.max_bytes is not None:
            self._sizes = {key: _size(value) for key, value in data.items()}
            self._bytes = sum(self._sizes.values())
        self._deadlines = {key: deadline for key, deadline in self._deadlines.items() if key in data}

    def _pop(self, key: str) -> None:
        """Remove ``key`` (lock held)."""
        self.data.pop(key, None)
        self._deadlines.pop(key, None)
        if self.max_bytes is not None:
            self._bytes -= self._sizes.pop(key, 0)

    def _evict(self) -> None:
        """Drop the least recently used entries until within the bounds (lock held)."""
        while self.data and (
            (self.max_entries is not None and len(self.data) > self.max_entries)
            or (self.max_bytes is not None and self._bytes > self.max_bytes)
        ):
            self._pop(next(iter(self.data)))
        if not self.data and self.max_bytes is not None:
            self._sizes, self._bytes = {}, 0


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

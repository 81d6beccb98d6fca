"""The store, failing open (DESIGN.md rule 6): every call the cache makes of a store goes
through ``StoreAccess``, where an error becomes a miss or a skipped write and one
rate-limited warning, never an exception to the caller."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional, Union

from . import serialize
from .cache import BaseCache, SeparateBodyBaseCache, StreamingCache, ValueReader, ValueWriter, _accepts_expires

log = logging.getLogger("httpcache")

__all__ = ["StoreAccess", "Value"]

#: A value as read: bytes (or anything a foreign store returns), a reader of a large value, or None.
Value = Union[bytes, ValueReader, None]


def abort(writer: Optional[ValueWriter]) -> None:
    """Throw away what a store writer holds (after a commit: nothing); never raises."""
    if writer is not None:
        try:
            writer.abort()
        except Exception:
            log.debug("aborting a store writer failed", exc_info=True)


def close(value: object) -> None:
    """Close a reader (anything else: nothing to do); never raises."""
    if isinstance(value, ValueReader):
        try:
            value.close()
        except Exception:
            log.debug("closing a store reader failed", exc_info=True)


class RateLimitedWarning:
    """Log a store failure at most once per ``interval`` seconds, counting the rest."""

    def __init__(self, interval: float = 60.0, count: Optional[Callable[[], None]] = None) -> None:
        self._interval = interval
        self._count = count  # told of every failure, logged or not (the cache's counters)
        self._lock = threading.Lock()
        self._last = -interval
        self._suppressed = 0

    def __call__(self, what: str, key: str, exc: BaseException) -> None:
        if self._count is not None:
            self._count()
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        log.warning(
            "cache store %s failed for %r, carrying on without the cache: %s: %s%s",
            what,
            key,
            type(exc).__name__,
            exc,
            f" ({suppressed} similar failures not logged)" if suppressed else "",
        )


class _JoinedBodies(BaseCache):
    """A ``SeparateBodyBaseCache`` seen as a ``BaseCache`` of whole values: a stored
    response's head goes to its ``set``, the rest to ``set_body`` (written first); a read
    joins them."""

    def __init__(self, cache: SeparateBodyBaseCache) -> None:
        self.inner = cache
        self._set_takes_expires = _accepts_expires(cache.set)

    def get(self, key: str) -> Optional[bytes]:
        head = self.inner.get(key)
        if head is None or serialize.kind_of(head) != "R":
            return head
        body_file = self.inner.get_body(key)
        if body_file is None:
            return None
        try:
            body = body_file.read() if hasattr(body_file, "read") else bytes(body_file)  # type: ignore[arg-type]
        finally:
            closer = getattr(body_file, "close", None)
            if callable(closer):
                closer()
        return bytes(head) + bytes(body)

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        offset = serialize.body_offset(value)
        head = value
        if offset is not None:
            self.inner.set_body(key, value[offset:])
            head = value[:offset]
        if self._set_takes_expires and expires is not None:
            self.inner.set(key, head, expires)
        else:
            self.inner.set(key, head)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()

    def max_value_size(self) -> Optional[int]:
        return self.inner.max_value_size()

    def clear(self) -> None:
        self.inner.clear()

    def acquire_lease(self, key: str, seconds: float) -> Optional[str]:
        return self.inner.acquire_lease(key, seconds)

    def release_lease(self, key: str, token: str) -> None:
        self.inner.release_lease(key, token)


class StoreAccess:
    """A ``BaseCache`` seen through calls that never raise (see the module's docstring)."""

    def __init__(self, cache: BaseCache, on_error: Optional[Callable[..., None]] = None) -> None:
        self.cache = cache
        #: told of each failed call (no argument) and each call the store skipped on its own
        #: (``"store_skipped"``: ``BaseCache.skipped_call``)
        self._on_error = on_error
        add_listener = getattr(cache, "add_skip_listener", None)
        if on_error is not None and callable(add_listener):
            try:
                add_listener(self._skipped)  # (held weakly by the store: this access's lifetime)
            except Exception:  # a store that cannot take one (say, with __slots__): not counted
                log.debug("the store takes no skip listener", exc_info=True)
        #: what is called: the store, or a store keeping bodies apart seen as one of whole values
        joined = isinstance(cache, SeparateBodyBaseCache) and not isinstance(cache, StreamingCache)
        self._store: BaseCache = _JoinedBodies(cache) if joined else cache  # type: ignore[arg-type]
        self.warn = RateLimitedWarning(count=on_error)
        #: A ``StreamingCache``: large values are read and written in pieces.
        self.streaming = isinstance(self._store, StreamingCache)
        self._set_takes_expires = _accepts_expires(self._store.set)

    def _skipped(self) -> None:
        if self._on_error is not None:
            self._on_error("store_skipped")

    def get(self, key: str) -> object:
        try:
            return self._store.get(key)
        except Exception as exc:  # noqa: BLE001 - any store failure is a miss
            self.warn("get", key, exc)
            return None

    def set(self, key: str, value: bytes, expires: Optional[float]) -> bool:
        try:
            if self._set_takes_expires and expires is not None:
                self._store.set(key, value, expires)
            else:
                self._store.set(key, value)
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure is a skipped write
            self.warn("set", key, exc)
            return False

    def delete(self, key: str) -> None:
        try:
            self._store.delete(key)
        except KeyError:
            pass  # a store that raises on a missing key: nothing to delete
        except Exception as exc:  # noqa: BLE001
            self.warn("delete", key, exc)

    def compare_and_set(self, key: str, expected: Optional[bytes], value: Optional[bytes]) -> Optional[bool]:
        """The store's ``compare_and_set``: None if it raised (warned)."""
        try:
            return bool(self._store.compare_and_set(key, expected, value))
        except Exception as exc:  # noqa: BLE001 - a store failure is a skipped write
            self.warn("compare_and_set", key, exc)
            return None

    def value_bound(self) -> Optional[int]:
        """The store's ``max_value_size()``: the largest value it would keep now (None: no
        bound; 0: it takes no writes now). A store failing to say is taken as down (0): a
        body is then not collected for a write that would most likely fail too (warned)."""
        try:
            bound = self._store.max_value_size()
        except Exception as exc:  # noqa: BLE001 - a store failure is a skipped write
            self.warn("max_value_size", "*", exc)
            return 0
        return None if bound is None else max(0, int(bound))

    def open(self, key: str) -> Value:
        """The value at ``key``: bytes, a reader (a large value of a streaming store) or None."""
        if not self.streaming:
            return self.get(key)  # type: ignore[return-value] # a foreign value decodes as not ours
        try:
            return self._store.open_read(key)  # type: ignore[attr-defined, no-any-return]
        except Exception as exc:  # noqa: BLE001 - any store failure is a miss
            self.warn("open_read", key, exc)
            return None

    def open_write(self) -> ValueWriter:
        """A writer of a streaming store (raises: the caller fails open)."""
        return self._store.open_write()  # type: ignore[attr-defined, no-any-return]

    def stream_into(self, key: str, ttl: Optional[float], pieces: Callable[[ValueWriter], None]) -> bool:
        """Write a value in pieces (``pieces`` writes them) and publish it under ``key``."""
        writer: Optional[ValueWriter] = None
        try:
            writer = self.open_write()
            pieces(writer)
            writer.commit(key, ttl)
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure is a skipped write
            self.warn("streamed write", key, exc)
            abort(writer)
            return False

    def lease(self, key: str, seconds: float) -> Optional[str]:
        """The store's lease on ``key`` for cross-process coalescing: a token, or None while
        another process holds it. A store failure grants an empty token (fetch, uncoordinated)."""
        try:
            return self._store.acquire_lease(key, seconds)
        except Exception as exc:  # noqa: BLE001 - a store failure never stops a request
            self.warn("acquire_lease", key, exc)
            return ""

    def unlease(self, key: str, token: str) -> None:
        if not token:
            return
        try:
            self._store.release_lease(key, token)
        except Exception as exc:  # noqa: BLE001
            self.warn("release_lease", key, exc)

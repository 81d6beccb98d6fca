"""A URL's variant index, kept with the store's ``compare_and_set`` (RFC 9111 §4.1).

Rule 1: every change of a primary key's value that may hold an index (adding a variant,
dropping the oldest past ``max_variants``, a lone response becoming the first variant,
removing one, invalidating them all) is a read, an edit and a ``compare_and_set`` of the
value read, retried up to ``ATTEMPTS`` times. So writers in several threads or processes
never lose one another's variants. On giving up the change is skipped (one rate-limited
warning), and a variant written for it is deleted: no value is left that no index lists.

In a process, writers of one primary key take its lock from ``KeyLocks`` (it makes the
retries rare, and makes ``BaseCache``'s default ``compare_and_set`` enough for a store of
one process); writers of different keys never wait on one another. Reads take no lock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Callable, Optional

from . import policy, serialize
from .cache import ValueReader
from .keys import variant_key
from .serialize import VariantRef

if TYPE_CHECKING:
    from .controller import CacheController
    from .models import StoredResponse

__all__ = ["ATTEMPTS", "KeyLocks", "add_variant", "drop_all", "remove_variant"]

#: How many times a change of an index is tried against concurrent writers.
ATTEMPTS = 8

_Edit = Callable[[list[VariantRef]], Optional[list[VariantRef]]]


class KeyLocks:
    """One lock per key held now: a table as large as the keys being written at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._lock:
            lock, users = self._held.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._held[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                users = self._held[key][1] - 1
                if users:
                    self._held[key] = (lock, users)
                else:
                    del self._held[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)


def _cas(ctrl: CacheController, key: str, expected: Optional[bytes], value: Optional[bytes]) -> Optional[bool]:
    """The store's ``compare_and_set``, failing open: None if it raised (warned); the
    decoded-entry memo forgets a value it replaced."""
    done = ctrl.backend.compare_and_set(key, expected, value)
    if done:
        ctrl._memo.forget(key)
    return done


def _whole(ctrl: CacheController, key: str) -> Optional[bytes]:
    """The value at ``key``, whole (an index is small; a lone response is read whole only
    when it becomes the first variant, once)."""
    value = ctrl.backend.get(key)
    return value if isinstance(value, bytes) else None


def _update(ctrl: CacheController, primary: str, url: str, edit: _Edit, convert: Optional[str]) -> bool:
    """Apply ``edit`` to the index at ``primary`` (None from it: nothing to change), by
    compare-and-set, retried. ``convert``: a lone response at ``primary`` becomes the first
    variant (unless its key is ``convert``: the variant being written replaces it); without
    it (None) a lone response there means nothing to change. False on giving up (warned)."""
    copied: set[str] = set()  # lone responses copied to a variant key by this update
    kept: list[VariantRef] = []
    done = False
    for _ in range(ATTEMPTS):
        current = _whole(ctrl, primary)
        kind = serialize.kind_of(current)
        refs: list[VariantRef] = []
        if kind == "I":
            refs = serialize.load_index(current, url) or []  # an undecodable index is replaced
        elif kind == "R":
            if convert is None:
                done = True
                break
            lone_entry = serialize.load_response(current, url)
            lone = None if lone_entry is None else lone_entry.head
            if lone is not None:
                lone_key = variant_key(primary, lone.vary, lone.auth)
                if lone_key != convert:
                    lone_ttl = policy.ttl_hint(lone, ctrl.clock(), ctrl.options)
                    if lone_key in copied or ctrl.backend.set(lone_key, bytes(current or b""), lone_ttl):
                        copied.add(lone_key)
                        refs.append(VariantRef(lone_key, dict(lone.vary), lone.auth))
        edited = edit(refs)
        if edited is None:
            done = True
            break
        limit = ctrl.options.max_variants
        dropped, kept = edited[:-limit], edited[-limit:]
        swapped = _cas(ctrl, primary, current, serialize.dump_index(url, kept) if kept else None)
        if swapped is None:
            break
        if swapped:
            done = True
            for ref in dropped:
                if ref.key not in {r.key for r in kept}:
                    ctrl._delete(ref.key)
            break
    else:
        ctrl.backend.warn("variant index update", primary, RuntimeError(f"still contended after {ATTEMPTS} attempts"))
    listed = {r.key for r in kept} if done else set()
    for key in copied - listed:
        ctrl._delete(key)
    return done


def add_variant(ctrl: CacheController, stored: StoredResponse, primary: str, publish: Callable[[str], bool]) -> bool:
    """Write ``stored`` as a variant (``publish`` writes it under a key) and list it in the
    index (RFC 9111 §4.1: one stored response per set of selecting header values); the
    oldest past ``max_variants`` are dropped and deleted. A variant the index could not
    take is deleted."""
    vkey = variant_key(primary, stored.vary, stored.auth)
    if not publish(vkey):
        return False
    ref = VariantRef(vkey, dict(stored.vary), stored.auth)

    def add(refs: list[VariantRef]) -> list[VariantRef]:
        return [r for r in refs if r.key != vkey] + [ref]

    try:
        if _update(ctrl, primary, stored.url, add, convert=vkey):
            return True
    except Exception as exc:  # noqa: BLE001 - never an error for the caller: a skipped write
        ctrl.backend.warn("variant index update", primary, exc)
    ctrl._delete(vkey)
    return False


def remove_variant(ctrl: CacheController, stored: StoredResponse, primary: str) -> None:
    """Delete one stored response: the lone one at ``primary``, or a variant (and its entry
    in the index; an index left empty is deleted)."""
    current = ctrl.backend.open(primary)
    try:
        kind = serialize.kind_of(current)
    except Exception:  # noqa: BLE001 - unreadable
        kind = None
    if kind == "R" or (kind is None and current is not None and ctrl._custom):  # custom: a response
        if isinstance(current, ValueReader):  # a large response, never an index: deleted
            ctrl._delete(primary)
            current.close()
        else:
            _cas(ctrl, primary, current if isinstance(current, bytes) else None, None)
        return
    if isinstance(current, ValueReader):
        current.close()
    vkey = variant_key(primary, stored.vary, stored.auth)

    def drop(refs: list[VariantRef]) -> Optional[list[VariantRef]]:
        left = [r for r in refs if r.key != vkey]
        return left if len(left) != len(refs) else None

    if kind == "I":
        _update(ctrl, primary, stored.url, drop, convert=None)
    ctrl._delete(vkey)


def drop_all(ctrl: CacheController, key: str) -> None:
    """Delete the value at ``key`` and, if it is an index, every variant it lists (RFC 9111 §4.4)."""
    refs: Optional[list[VariantRef]] = None
    for _ in range(ATTEMPTS):
        current = ctrl.backend.open(key)
        if current is None:
            return
        if isinstance(current, ValueReader):  # a large response, never an index
            current.close()
            ctrl._delete(key)
            return
        try:
            is_index = serialize.kind_of(current) == "I"
        except Exception:  # noqa: BLE001 - unreadable: deleted all the same
            is_index = False
        refs = serialize.load_index(current) if is_index else None
        swapped = _cas(ctrl, key, current if isinstance(current, bytes) else None, None)
        if swapped is None or swapped:
            for ref in refs or ():
                ctrl._delete(ref.key)
            if swapped is None:
                ctrl._delete(key)
            return
    for ref in refs or ():  # invalidation is never skipped: deleted without the check
        ctrl._delete(ref.key)
    ctrl._delete(key)

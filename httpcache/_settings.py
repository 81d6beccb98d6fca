"""Per-request settings: ``httpcache.settings(...)``, a context manager whose settings apply
to the requests made inside it, in the current thread (or asyncio task) only: they are
kept in a ``contextvars.ContextVar``, so threads sharing one session each have their own.

Outside any ``settings`` block the session's ``CacheOptions`` apply; the hit path then
pays one ``ContextVar.get``.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator, NamedTuple, Optional

from ._rules import MODES
from .exceptions import HTTPCacheError
from .models import CacheOptions

__all__ = ["Settings", "current_mode", "raise_on_miss", "settings"]


class Settings(NamedTuple):
    """What a ``settings`` block sets (None: as the enclosing block, or the session, has it)."""

    mode: Optional[str] = None
    raise_on_miss: Optional[bool] = None


_CURRENT: ContextVar[Optional[Settings]] = ContextVar("httpcache_settings", default=None)


@contextlib.contextmanager
def settings(*, mode: Optional[str] = None, raise_on_miss: Optional[bool] = None) -> Iterator[None]:
    """``with httpcache.settings(mode="offline"):`` requests made inside the block, in this
    thread (or asyncio task), use these settings instead of the session's
    (``CacheOptions.mode``, ``CacheOptions.raise_on_miss``); a setting left None keeps
    the enclosing block's, or the session's. Other threads are not affected.

    Modes: ``default`` (RFC 9111), ``refresh`` (revalidate before using a stored
    response), ``force-refresh`` (ignore it: fetch and store anew), ``only-if-cached``
    (a usable stored response or a 504), ``offline`` (any stored response, stale too,
    unless a directive forbids it; else a 504), ``read-only`` (use the cache, never
    change it), ``disabled`` (no cache: every request goes to the origin, nothing is
    stored; unsafe methods still invalidate, RFC 9111 §4.4)."""
    if mode is not None and mode not in MODES:
        raise HTTPCacheError(f"mode must be one of {', '.join(sorted(MODES))}, not {mode!r}")
    if raise_on_miss is not None and not isinstance(raise_on_miss, bool):
        raise HTTPCacheError("raise_on_miss must be True or False")
    outer = _CURRENT.get()
    if outer is not None:
        mode = outer.mode if mode is None else mode
        raise_on_miss = outer.raise_on_miss if raise_on_miss is None else raise_on_miss
    token = _CURRENT.set(Settings(mode, raise_on_miss))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_mode(options: CacheOptions) -> str:
    """The mode of the request being made: the innermost ``settings`` block's, else the
    session's."""
    current = _CURRENT.get()
    if current is None or current.mode is None:
        return options.mode
    return current.mode


def raise_on_miss(options: CacheOptions) -> bool:
    """Should a miss under only-if-cached raise ``CacheMissError`` rather than answer 504?"""
    current = _CURRENT.get()
    if current is None or current.raise_on_miss is None:
        return options.raise_on_miss
    return current.raise_on_miss

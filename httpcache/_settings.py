"""Per-request settings: ``httpcache.settings(...)``, a context manager whose settings apply
to the requests made inside it, in the current thread (or asyncio task) only: they are
kept in a ``contextvars.ContextVar``, so threads sharing one session each have their own.

Outside any ``settings`` block the session's ``CacheOptions`` apply; the hit path then
pays one ``ContextVar.get``.
"""

from __future__ import annotations

import contextlib
import functools
from contextvars import ContextVar
from datetime import timedelta
from typing import Iterator, NamedTuple, Optional, Union

from ._rules import MODES, lifetime_seconds
from .exceptions import HTTPCacheError
from .models import CacheOptions

__all__ = ["Settings", "current", "current_mode", "options_of", "raise_on_miss", "settings"]


class Settings(NamedTuple):
    """What a ``settings`` block sets (None: as the enclosing block, or the session, has it)."""

    mode: Optional[str] = None
    raise_on_miss: Optional[bool] = None
    expire_after: Optional[float] = None
    max_ttl: Optional[float] = None


_CURRENT: ContextVar[Optional[Settings]] = ContextVar("httpcache_settings", default=None)


@contextlib.contextmanager
def settings(
    *,
    mode: Optional[str] = None,
    raise_on_miss: Optional[bool] = None,
    expire_after: Union[float, timedelta, None] = None,
    max_ttl: Union[float, timedelta, None] = None,
) -> Iterator[None]:
    """``with httpcache.settings(mode="offline"):`` requests made inside the block, in this
    thread (or asyncio task), use these settings instead of the session's
    (``CacheOptions.mode``, ``CacheOptions.raise_on_miss``); a setting left None keeps
    the enclosing block's, or the session's. Other threads are not affected.

    Modes: ``default`` (RFC 9111), ``refresh`` (revalidate before using a stored
    response), ``force-refresh`` (ignore it: fetch and store anew), ``only-if-cached``
    (a usable stored response or a 504), ``offline`` (any stored response, stale too,
    unless a directive forbids it; else a 504), ``read-only`` (use the cache, never
    change it), ``disabled`` (no cache: every request goes to the origin, nothing is
    stored; unsafe methods still invalidate, RFC 9111 §4.4).

    ``expire_after``, ``max_ttl``: as the options of those names (``CacheOptions``), for
    the requests made inside the block: what they store is judged with them, and so is
    what they find stored."""
    if mode is not None and mode not in MODES:
        raise HTTPCacheError(f"mode must be one of {', '.join(sorted(MODES))}, not {mode!r}")
    if raise_on_miss is not None and not isinstance(raise_on_miss, bool):
        raise HTTPCacheError("raise_on_miss must be True or False")
    expire = None if expire_after is None else lifetime_seconds(expire_after, "expire_after")
    cap = None if max_ttl is None else lifetime_seconds(max_ttl, "max_ttl")
    outer = _CURRENT.get()
    if outer is not None:
        mode = outer.mode if mode is None else mode
        raise_on_miss = outer.raise_on_miss if raise_on_miss is None else raise_on_miss
        expire = outer.expire_after if expire is None else expire
        cap = outer.max_ttl if cap is None else cap
    token = _CURRENT.set(Settings(mode, raise_on_miss, expire, cap))
    try:
        yield
    finally:
        _CURRENT.reset(token)


#: The innermost ``settings`` block's settings, or None outside any (the ContextVar's own
#: ``get``: the hit path pays no call of ours for it).
current = _CURRENT.get


def options_of(block: Settings, options: CacheOptions) -> CacheOptions:
    """``options`` with the block's ``expire_after`` and ``max_ttl``; ``options`` itself
    when it sets neither."""
    if block.expire_after is None and block.max_ttl is None:
        return options
    return _replaced(options, block.expire_after, block.max_ttl)


@functools.lru_cache(maxsize=64)
def _replaced(options: CacheOptions, expire_after: Optional[float], max_ttl: Optional[float]) -> CacheOptions:
    """Options built once per session's options and block values (their rules compiled once)."""
    return options.given(expire_after=expire_after, max_ttl=max_ttl)


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

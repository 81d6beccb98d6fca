"""``CacheControl(session)``: wrap a session's adapters with the caching adapter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Collection, Optional, Union

import requests

from ._rules import UrlRulesArg
from .adapter import CacheControlAdapter, build_controller, check_adapter_arguments, option_changes
from .cache import BaseCache
from .controller import CacheController
from .exceptions import HTTPCacheError
from .models import CacheOptions, Heuristic
from .serialize import Serializer

__all__ = ["CacheControl"]


def CacheControl(  # noqa: N802 - the name users know
    sess: requests.Session,
    cache: Optional[BaseCache] = None,
    cache_etags: bool = True,
    serializer: Optional[Serializer] = None,
    heuristic: Optional[Heuristic] = None,
    controller_class: Optional[type[CacheController]] = None,
    adapter_class: Optional[type[CacheControlAdapter]] = None,
    cacheable_methods: Optional[Collection[str]] = None,
    *,
    shared: Optional[bool] = None,
    heuristic_fraction: Optional[float] = None,
    heuristic_max: Optional[float] = None,
    permanent_redirect_lifetime: Optional[float] = None,
    max_variants: Optional[int] = None,
    surrogate: Optional[str] = None,
    targeted_fields: Optional[tuple[str, ...]] = None,
    coalesce_timeout: Optional[float] = None,
    cache_status: Optional[str] = None,
    cacheable_status_codes: Optional[Collection[int]] = None,
    revalidate: Optional[bool] = None,
    expire_after: Union[float, timedelta, None] = None,
    urls_expire_after: Optional[UrlRulesArg] = None,
    max_ttl: Union[float, timedelta, None] = None,
    filter_fn: Optional[Callable[[requests.Response], bool]] = None,
    ignored_parameters: Optional[tuple[str, ...]] = None,
    match_headers: Optional[tuple[str, ...]] = None,
    mode: Optional[str] = None,
    raise_on_miss: Optional[bool] = None,
    key_fn: Optional[Callable[[str], str]] = None,
    options: Optional[CacheOptions] = None,
    **adapter_kwargs: Any,
) -> requests.Session:
    """Make every http:// and https:// request of ``sess`` go through one cache.

    cachecontrol's positional arguments first, then ours as keywords. Each adapter
    already mounted for an http(s) prefix is wrapped, not replaced: its retries, pool
    sizes and any behaviour of its own keep working. Returns the same session. The
    cache's options are ``options`` (default ``CacheOptions()``, where every default
    is), with each keyword that is given replacing its field.
    """
    changes = option_changes(locals())
    adapter_class = adapter_class or CacheControlAdapter
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, CacheControlAdapter)):
        raise HTTPCacheError(f"adapter_class must be a subclass of CacheControlAdapter, not {adapter_class!r}")
    if adapter_class is CacheControlAdapter:  # a subclass may take keywords of its own
        check_adapter_arguments((), adapter_kwargs)
    controller = build_controller(cache, options, changes, cache_etags, serializer, controller_class or CacheController)
    prefixes = [p for p in sess.adapters if p.lower().startswith(("http://", "https://"))]
    for prefix in ("http://", "https://"):
        if prefix not in prefixes:
            prefixes.append(prefix)
    for prefix in prefixes:
        existing: Optional[Any] = sess.adapters.get(prefix)
        if isinstance(existing, CacheControlAdapter):
            existing = existing._inner  # re-wrapping: wrap what it wrapped
        sess.mount(prefix, adapter_class(controller=controller, adapter=existing, **adapter_kwargs))
    return sess

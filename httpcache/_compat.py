"""cachecontrol's controller hooks: which a ``CacheController`` subclass may override.

cachecontrol's controller is customised by subclassing (``controller_class=``). Its key
hooks (``cache_url``, ``_urlnorm``) are honoured: the URL they return is the one a
request is cached under (``CacheOptions.key_fn``). Its other hooks are the steps of its
own algorithm, which httpcache does not have (RFC 9111 is the policy's): overriding one
is an error at construction, never silently ignored.
"""

from __future__ import annotations

from .exceptions import HTTPCacheError

__all__ = ["KEY_HOOKS", "UNSUPPORTED_HOOKS", "check_hooks", "overrides"]

KEY_HOOKS = ("cache_url", "_urlnorm")

#: cachecontrol's other controller hooks, which httpcache never calls, and what to use.
UNSUPPORTED_HOOKS = {
    "cached_request": "what is served is RFC 9111's rule (options expire_after, urls_expire_after, mode)",
    "cache_response": "what is stored is RFC 9111's rule (options filter_fn, cacheable_status_codes, expire_after)",
    "update_cached_response": "nothing: a 304 freshens the stored response as RFC 9111 §4.3.4 says",
    "conditional_headers": "option revalidate=False (validators are sent as RFC 9111 §4.3.1 says)",
    "parse_cache_control": "nothing: Cache-Control is parsed as RFC 9111 §5.2 says",
    "_cache_set": "a store (a BaseCache subclass) or a serializer of your own",
    "_load_from_cache": "a store (a BaseCache subclass) or a serializer of your own",
}


def overrides(cls: type, base: type, name: str) -> bool:
    """Does ``cls`` (a subclass of ``base``) define ``name`` itself or in a class between?"""
    for klass in cls.__mro__:
        if klass is base:
            return False
        if name in vars(klass):
            return True
    return False


def check_hooks(cls: type, base: type) -> None:
    """Raise ``HTTPCacheError`` naming the first of cachecontrol's hooks ``cls`` overrides
    that httpcache does not call."""
    for name, instead in UNSUPPORTED_HOOKS.items():
        if overrides(cls, base, name):
            raise HTTPCacheError(
                f"{cls.__name__}.{name}(): cachecontrol's controller hook {name} is not supported by httpcache "
                f"(of its hooks only cache_url and _urlnorm are: they choose the cache key); use instead: {instead}"
            )

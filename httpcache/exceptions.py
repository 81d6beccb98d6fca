"""The one exception base of httpcache: raised for caller mistakes only, never for
network or store trouble (those become misses, or reach the caller as requests'
own exceptions)."""

from __future__ import annotations

__all__ = ["CacheMissError", "HTTPCacheError", "UnknownOptionError", "UnsupportedStoreError"]


class HTTPCacheError(ValueError):
    """A caller mistake, e.g. an invalid option or conflicting arguments."""


class UnknownOptionError(HTTPCacheError, TypeError):
    """A keyword argument that is no option (a ``TypeError`` too, as Python raises for an
    unexpected keyword); the message names it."""


class UnsupportedStoreError(HTTPCacheError, NotImplementedError):
    """A store of your own lacks a method an operation needs (say ``keys()`` to inspect
    it): the message names the store and the method to implement."""


class CacheMissError(HTTPCacheError):
    """Raised, instead of answering 504, when a request that may only be served from the
    cache (mode ``only-if-cached`` or ``offline``, or the request's own ``only-if-cached``
    directive) finds nothing usable, and ``raise_on_miss`` is set. ``url``: the request's."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"not in the cache: {url}: {reason}")
        self.url = url
        self.reason = reason

"""The one exception base of httpcache: raised for caller mistakes only, never for
network or store trouble (those become misses, or reach the caller as requests'
own exceptions)."""

from __future__ import annotations

__all__ = ["HTTPCacheError", "UnknownOptionError", "UnsupportedStoreError"]


class HTTPCacheError(ValueError):
    """A caller mistake, e.g. an invalid option or conflicting arguments."""


class UnknownOptionError(HTTPCacheError, TypeError):
    """A keyword argument that is no option (a ``TypeError`` too, as Python raises for an
    unexpected keyword); the message names it."""


class UnsupportedStoreError(HTTPCacheError, NotImplementedError):
    """A store of your own lacks a method an operation needs (say ``keys()`` to inspect
    it): the message names the store and the method to implement."""

"""httpcache: an RFC 9111 HTTP cache for requests, safe under threads.

>>> import requests
>>> from httpcache import CacheControl, SQLiteCache
>>> sess = CacheControl(requests.Session())                                 # in memory
>>> kept = CacheControl(requests.Session(), SQLiteCache("http-cache.db"))  # kept on disk
"""

from __future__ import annotations

import logging

from ._info import OUTCOMES, CacheInfo
from ._inspection import CachedResponse, CacheInspector, StoreStats
from ._rules import DO_NOT_CACHE, Force
from ._settings import settings
from ._stats import CacheStats, CacheStatsSnapshot
from .adapter import CacheControlAdapter, read_response
from .cache import BaseCache, DictCache
from .caches import FileCache, RedisCache, SQLiteCache  # RedisCache imports redis only when built
from .controller import CacheController
from .exceptions import CacheMissError, HTTPCacheError, UnsupportedStoreError
from .models import CacheOptions
from .wrapper import CacheControl

__version__ = "0.1.0"

__all__ = [
    "BaseCache",
    "CacheControl",
    "CacheControlAdapter",
    "CacheController",
    "CacheInfo",
    "CacheInspector",
    "CacheMissError",
    "CachedResponse",
    "CacheOptions",
    "CacheStats",
    "CacheStatsSnapshot",
    "DO_NOT_CACHE",
    "DictCache",
    "FileCache",
    "Force",
    "HTTPCacheError",
    "StoreStats",
    "OUTCOMES",
    "RedisCache",
    "SQLiteCache",
    "UnsupportedStoreError",
    "__version__",
    "read_response",
    "settings",
]

logging.getLogger("httpcache").addHandler(logging.NullHandler())

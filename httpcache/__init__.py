"""httpcache: an RFC 9111 HTTP cache for requests, safe under threads.

>>> import requests
>>> from httpcache import CacheControl, SQLiteCache
>>> sess = CacheControl(requests.Session())                                 # in memory
>>> kept = CacheControl(requests.Session(), SQLiteCache("http-cache.db"))  # kept on disk
"""

from __future__ import annotations

import logging

from ._rules import DO_NOT_CACHE, Force
from ._settings import settings
from .adapter import CacheControlAdapter
from .cache import BaseCache, DictCache
from .caches import FileCache, RedisCache, SQLiteCache  # RedisCache imports redis only when built
from .controller import CacheController
from .exceptions import CacheMissError, HTTPCacheError
from .models import CacheOptions
from .wrapper import CacheControl

__version__ = "0.1.0"

__all__ = [
    "BaseCache",
    "CacheControl",
    "CacheControlAdapter",
    "CacheController",
    "CacheMissError",
    "CacheOptions",
    "DO_NOT_CACHE",
    "DictCache",
    "FileCache",
    "Force",
    "HTTPCacheError",
    "RedisCache",
    "SQLiteCache",
    "__version__",
    "settings",
]

logging.getLogger("httpcache").addHandler(logging.NullHandler())

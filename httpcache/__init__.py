"""httpcache: an RFC 9111 HTTP cache for requests, safe under threads.

>>> import requests
>>> from httpcache import CacheControl
>>> sess = CacheControl(requests.Session())
"""

from __future__ import annotations

import logging

from .adapter import CacheControlAdapter
from .cache import BaseCache, DictCache
from .controller import CacheController
from .exceptions import HTTPCacheError
from .models import CacheOptions
from .wrapper import CacheControl

__version__ = "0.1.0"

__all__ = [
    "BaseCache",
    "CacheControl",
    "CacheControlAdapter",
    "CacheController",
    "CacheOptions",
    "DictCache",
    "HTTPCacheError",
    "__version__",
]

logging.getLogger("httpcache").addHandler(logging.NullHandler())

"""Persistent stores: ``FileCache`` (a directory), ``SQLiteCache`` (one file) and
``RedisCache`` (a Redis server; needs ``pip install httpcache[redis]``); and
cachecontrol's ``SeparateBodyFileCache`` (``caches.file_cache``).

Like ``DictCache`` they know nothing about HTTP: ``str`` keys, ``bytes`` values,
an optional ``expires`` hint in seconds. ``RedisCache`` imports ``redis`` only
when it is instantiated, so importing this package never needs the extra.
"""

from __future__ import annotations

from .file import FileCache
from .file_cache import SeparateBodyFileCache
from .redis import RedisCache
from .sqlite import SQLiteCache

__all__ = ["FileCache", "RedisCache", "SQLiteCache", "SeparateBodyFileCache"]

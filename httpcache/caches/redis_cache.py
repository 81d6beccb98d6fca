"""cachecontrol's import path for the Redis store: ``from httpcache.caches.redis_cache import
RedisCache`` (``RedisCache(conn)`` takes a ``redis.Redis`` client, as cachecontrol's does)."""

from __future__ import annotations

from .redis import RedisCache

__all__ = ["RedisCache"]

"""cachecontrol's import path for the file stores: ``from httpcache.caches.file_cache import
FileCache, SeparateBodyFileCache``."""

from __future__ import annotations

import io
from typing import IO, Optional

from ..cache import SeparateBodyBaseCache
from .file import FileCache

__all__ = ["FileCache", "SeparateBodyFileCache"]

_BODY = "\x00body"  # the key of a body kept with set_body: no URL key contains a NUL


class SeparateBodyFileCache(FileCache, SeparateBodyBaseCache):
    """A ``FileCache`` with cachecontrol's ``get_body`` / ``set_body``. The cache itself
    streams a large body to and from its file in pieces (as with every ``FileCache``),
    which is what cachecontrol's class is for: a large download never whole in memory.
    ``set_body(key, body)`` / ``get_body(key)`` keep a body of your own beside ``key``;
    ``delete(key)`` removes both."""

    def get_body(self, key: str) -> Optional[IO[bytes]]:
        body = self.get(key + _BODY)
        return None if body is None else io.BytesIO(body)

    def set_body(self, key: str, body: bytes) -> None:
        self.set(key + _BODY, body)

    def delete(self, key: str) -> None:
        super().delete(key)
        super().delete(key + _BODY)

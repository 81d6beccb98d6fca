"""Each benchmark client's ``requests.Session`` and its store (worker side: stdlib, ``requests``
and the client's own package, imported by name since each peer lives in its own venv).

Used by ``_worker.py`` (run.py's clients) and ``_stream.py`` (stream_rss.py's clients).
A disk store lives under the ``directory`` it is given (the runner makes and removes it);
``httpcache-redis`` uses ``redis_url`` and ``redis_prefix``, and ``clear()``s that prefix
when it is built and when it is closed (never the whole database).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import sqlite3
import sys
from importlib import metadata
from typing import Any, Callable, Optional

import requests


def versions(package: str) -> dict[str, str]:
    """This interpreter's Python, requests and urllib3 versions, and ``package``'s ("" for none)."""
    found = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "requests": metadata.version("requests"),
        "urllib3": metadata.version("urllib3"),
    }
    if package:
        try:
            found["package"] = f"{package} {metadata.version(package)}"
        except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH
            module = importlib.import_module(package.replace("-", "_"))
            found["package"] = f"{package} {getattr(module, '__version__', '?')} (source tree)"
    return found


class _FlockLock:
    """A stand-in for ``filelock.FileLock`` where a venv lacks ``filelock`` (cachecontrol's FileCache
    needs a lock class): an exclusive ``flock`` on ``path`` while held."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> _FlockLock:
        import fcntl

        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)  # releases the lock
        self._fd = -1


class Built:
    """A client's session, the store object behind it (when there is one), notes, and a closer."""

    def __init__(self, session: Any, store: Any = None, notes: Optional[list[str]] = None) -> None:
        self.session = session
        self.store = store
        self.notes = notes or []
        self.on_close: list[Callable[[], None]] = []

    def entries(self) -> Optional[int]:
        """How many responses the store holds, when it can say (best effort; None if not)."""
        store = self.store
        with contextlib.suppress(Exception):  # a peer's internals: never let this break a run
            if store is None:
                return None
            if hasattr(store, "prefix") and hasattr(store, "client"):  # httpcache's RedisCache
                pattern = "".join("\\" + c if c in "\\*?[]" else c for c in store.prefix) + "*"
                lease = (store.prefix + "lease:").encode()
                keys = store.client.scan_iter(match=pattern, count=1000)
                return sum(1 for key in keys if not key.startswith(lease))
            responses = getattr(store, "responses", None)  # requests-cache
            if responses is not None:
                return len(responses)
            if hasattr(store, "__len__"):  # httpcache's stores, cachecontrol's DictCache
                return len(store)
            if hasattr(store, "data"):
                return len(store.data)
            directory = getattr(store, "directory", None)  # cachecontrol's FileCache
            if isinstance(directory, str):
                return sum(1 for _, _, names in os.walk(directory) for n in names if not n.endswith(".lock"))
            conn = getattr(store, "connection", None) or getattr(store, "_connection", None)  # hishel
            if conn is not None:
                return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.session.close()
        for step in self.on_close:
            with contextlib.suppress(Exception):
                step()


def _hishel(storage: Any) -> Any:
    hishel: Any = importlib.import_module("hishel")
    hishel_requests: Any = importlib.import_module("hishel.requests")
    adapter = hishel_requests.CacheAdapter(storage=storage, rfc=hishel.CacheOptions(shared=False))
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def build(client: str, directory: str, redis_url: str = "", redis_prefix: str = "") -> Built:
    """The client's session, on a new store (in ``directory`` for a disk store)."""
    built: Built
    if client in ("F1", "F2"):
        raise ValueError("the floors are built by _worker.py")
    if client.startswith("httpcache"):
        httpcache: Any = importlib.import_module("httpcache")
        caches: Any = importlib.import_module("httpcache.caches")
        store: Any
        if client == "httpcache":
            store = importlib.import_module("httpcache.cache").DictCache()
        elif client == "httpcache-file":
            store = caches.FileCache(os.path.join(directory, "files"))
        elif client == "httpcache-sqlite":
            store = caches.SQLiteCache(os.path.join(directory, "cache.sqlite"))
        elif client == "httpcache-redis":
            if not redis_url or not redis_prefix:
                raise ValueError("httpcache-redis needs --redis-url and --redis-prefix")
            store = caches.RedisCache(redis_url, prefix=redis_prefix)
            store.clear()  # this prefix only, before ...
        else:
            raise ValueError(f"unknown client {client!r}")
        built = Built(httpcache.CacheControl(requests.Session(), cache=store), store)
        if client == "httpcache-redis":
            built.on_close += [store.clear, store.close]  # ... and after
        elif hasattr(store, "close"):
            built.on_close.append(store.close)
    elif client.startswith("cachecontrol"):
        cachecontrol: Any = importlib.import_module("cachecontrol")
        if client == "cachecontrol":
            store = importlib.import_module("cachecontrol.cache").DictCache()
            built = Built(cachecontrol.CacheControl(requests.Session(), cache=store), store)
        else:
            cc_caches: Any = importlib.import_module("cachecontrol.caches")
            notes = []
            lock_class: Any = None
            try:
                importlib.import_module("filelock")
            except ImportError:
                lock_class = _FlockLock
                notes.append("filelock is not installed in its venv: a flock-based lock class stands in")
            kind = cc_caches.FileCache if client == "cachecontrol-file" else cc_caches.SeparateBodyFileCache
            store = kind(os.path.join(directory, "files"), lock_class=lock_class)
            built = Built(cachecontrol.CacheControl(requests.Session(), cache=store), store, notes)
    elif client.startswith("requests-cache"):
        requests_cache: Any = importlib.import_module("requests_cache")
        backend = "memory" if client == "requests-cache" else client.rsplit("-", 1)[1]
        # EXPIRE_IMMEDIATELY: without freshness headers a response is stored already
        # stale, so only the response headers decide (as in conformance/proxy.py).
        session = requests_cache.CachedSession(
            os.path.join(directory, "rc"),
            backend=backend,
            cache_control=True,
            expire_after=requests_cache.EXPIRE_IMMEDIATELY,
        )
        built = Built(session, session.cache)
    elif client.startswith("hishel"):
        hishel: Any = importlib.import_module("hishel")
        if client == "hishel":
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            storage = hishel.SqliteStorage(connection=conn)
        elif client == "hishel-sqlite":
            storage = hishel.SqliteStorage(database_path=os.path.join(directory, "hishel.db"))
        else:
            raise ValueError(f"unknown client {client!r}")
        built = Built(_hishel(storage), storage)
    else:
        raise ValueError(f"unknown client {client!r}")
    built.session.trust_env = False  # no proxy / netrc / CA lookups in the environment
    return built


def from_cache(client: str, resp: Any) -> Optional[bool]:
    """The client's own word on whether ``resp`` came from its cache."""
    if client.startswith("hishel"):
        value = resp.headers.get("X-Hishel-From-Cache")
        return None if value is None else value == "true"
    flag = getattr(resp, "from_cache", None)
    return None if flag is None else bool(flag)

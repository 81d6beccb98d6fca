"""Each benchmark client's ``requests.Session`` and its store, and the worker's answer channel
(worker side: stdlib, ``requests`` and the client's own package, imported by name since each
peer lives in its own venv).

Used by ``_worker.py`` (run.py's clients), ``_stream.py`` (stream_rss.py's clients) and
``hit_floor.py``. A disk store lives under the ``directory`` it is given (made if need be; the
runner removes it); ``httpcache-redis`` uses ``redis_url`` and ``redis_prefix``, and ``clear()``s
that prefix when it is built and when it is closed (never the whole database).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import sqlite3
import sys
import traceback
from importlib import metadata
from typing import Any, Callable, Mapping, Optional, TextIO, Union

import requests
from _redis import pattern
from _workload import MAX_AGE, SIZES
from requests.adapters import BaseAdapter
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict


def answer_channel() -> TextIO:
    """The process's real stdout, for the worker's JSON lines; whatever else writes to fd 1 (a library
    printing) lands on stderr instead."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def reply(answers: TextIO, answer: dict[str, Any]) -> None:
    answers.write(json.dumps(answer) + "\n")
    answers.flush()


def failure(limit: int) -> dict[str, Any]:
    """The answer for the exception being handled (the runner reports it)."""
    return {"ok": False, "error": traceback.format_exc(limit=limit)}


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


class PrebuiltAdapter(BaseAdapter):
    """F1: answers every request with the same prebuilt ``Response``; no I/O, no cache."""

    def __init__(self) -> None:
        super().__init__()
        self._small = self._prebuilt(SIZES["1k"])
        self._large = self._prebuilt(SIZES["1m"])

    @staticmethod
    def _prebuilt(size: int) -> Response:
        resp = Response()
        resp.status_code = 200
        resp.reason = "OK"
        resp.headers = CaseInsensitiveDict(
            {
                "Cache-Control": f"max-age={MAX_AGE}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
            }
        )
        resp._content = b"x" * size
        return resp

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Union[float, tuple[float, float], tuple[float, None], None] = None,
        verify: Union[bool, str] = True,
        cert: Union[bytes, str, tuple[Union[bytes, str], Union[bytes, str]], None] = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> Response:
        resp = self._large if "/1m/" in (request.url or "") else self._small
        resp.request = request
        resp.url = request.url or ""
        return resp

    def close(self) -> None:
        pass


def plain(adapter: Optional[BaseAdapter] = None) -> requests.Session:
    """A ``requests.Session`` without a cache (on ``adapter`` for http:// when given): the floors."""
    session = requests.Session()
    if adapter is not None:
        session.mount("http://", adapter)
    session.trust_env = False
    return session


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
                lease = (store.prefix + "lease:").encode()
                keys = store.client.scan_iter(match=pattern(store.prefix), count=1000)
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
    """The client's session, on a new store (in ``directory`` for a disk store; none for a floor)."""
    built: Built
    if client in ("F1", "F2"):
        return Built(plain(PrebuiltAdapter() if client == "F1" else None))
    if directory:
        os.makedirs(directory, exist_ok=True)
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

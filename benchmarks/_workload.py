"""What the benchmark measures, shared by the origin, the workers and the runner (stdlib only).

The origin serves, for ``<size>`` in ``SIZES`` and any ``<n>``:

* ``/fresh/<size>/<n>``: ``Cache-Control: max-age=3600`` (a fresh hit for an hour);
* ``/new/<size>/<n>``: the same, used with a distinct ``<n>`` per call (miss + store);
* ``/slow/<size>/<n>``: the same as ``/new/``, answered after ``SLOW_MS`` ms (the cold storm);
* ``/etag/<size>/<n>``: ``ETag`` + ``Cache-Control: no-cache``; ``304`` to a matching
  ``If-None-Match`` (every use is a revalidation);
* ``/__stats``: the origin's counters as JSON (not counted).

Runner and workers talk over the workers' stdin/stdout, one JSON object per line.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import NamedTuple

SIZES: dict[str, int] = {"1k": 1024, "1m": 1024 * 1024}
MAX_AGE = 3600
HOT_URLS = 100  # the threaded case cycles over this many fresh URLs
THREADS = 8
STORM_URLS = 100  # the cold storm: THREADS threads fetch these many new URLs, in the same order
SLOW_MS = 5  # the origin's delay on /slow/ paths, so that the storm's threads really collide


class Client(NamedTuple):
    package: str  # distribution (and conformance venv) it needs; "" for the floors
    store: str  # "-", "memory", "file", "sqlite" or "redis"
    what: str


# client -> what it is, in table order (the floors, then by store: like next to like)
CLIENTS: dict[str, Client] = {
    "F1": Client("", "-", "requests.Session, adapter returns a prebuilt Response (requests' own per-call cost)"),
    "F2": Client("", "-", "requests.Session, no cache, GET over loopback"),
    "httpcache": Client("httpcache", "memory", "httpcache.CacheControl(Session()), DictCache (this source tree)"),
    "cachecontrol": Client("cachecontrol", "memory", "cachecontrol.CacheControl(Session()), its in-memory DictCache"),
    "requests-cache": Client(
        "requests-cache",
        "memory",
        "requests_cache.CachedSession(backend='memory', cache_control=True, expire_after=EXPIRE_IMMEDIATELY)",
    ),
    "hishel": Client(
        "hishel", "memory", "hishel.requests.CacheAdapter, SqliteStorage on sqlite3 ':memory:' (no dict store in 2.0)"
    ),
    "httpcache-file": Client("httpcache", "file", "httpcache.CacheControl(Session(), cache=FileCache(dir))"),
    "cachecontrol-file": Client(
        "cachecontrol", "file", "cachecontrol.CacheControl(Session(), cache=cachecontrol.caches.FileCache(dir))"
    ),
    "requests-cache-filesystem": Client(
        "requests-cache",
        "file",
        "requests_cache.CachedSession(dir/rc, backend='filesystem', cache_control=True, "
        "expire_after=EXPIRE_IMMEDIATELY)",
    ),
    "httpcache-sqlite": Client(
        "httpcache", "sqlite", "httpcache.CacheControl(Session(), cache=SQLiteCache(dir/cache.sqlite))"
    ),
    "requests-cache-sqlite": Client(
        "requests-cache",
        "sqlite",
        "requests_cache.CachedSession(dir/rc, backend='sqlite', cache_control=True, expire_after=EXPIRE_IMMEDIATELY)",
    ),
    "hishel-sqlite": Client(
        "hishel",
        "sqlite",
        "hishel.requests.CacheAdapter(storage=SqliteStorage(database_path=dir/hishel.db), "
        "rfc=CacheOptions(shared=False))",
    ),
    "httpcache-redis": Client(
        "httpcache", "redis", "httpcache.CacheControl(Session(), cache=RedisCache(url, prefix=<this run's own>))"
    ),
}
FLOORS = ("F1", "F2")
REDIS_CLIENTS = tuple(c for c, info in CLIENTS.items() if info.store == "redis")

# case -> (title, path template). "Per call" cases time sequential GETs on one thread;
# "threads" and "storm" use THREADS threads on one session; "scale" is hit_1k on a store
# filled to each of run.py's sizes (100 ... 100k entries), "spread" a 1 KB hit on a URL drawn
# at random from every entry of that store (1k ... 100k); "stream" is stream_rss.py's measurement.
CASES: dict[str, tuple[str, str]] = {
    "hit_1k": ("fresh hit, 1 KB", "/fresh/1k/{n}"),
    "hit_1m": ("fresh hit, 1 MB (.content)", "/fresh/1m/{n}"),
    "miss_store": ("miss + store, 1 KB, distinct URLs", "/new/1k/{n}"),
    "revalidate_304": ("304 revalidation, 1 KB", "/etag/1k/{n}"),
    "threads": (f"{THREADS} threads, one session, {HOT_URLS} hot 1 KB URLs", "/fresh/1k/{n}"),
    "storm": (f"cold storm: {THREADS} threads, the same {STORM_URLS} new URLs", "/slow/1k/{n}"),
    "scale": ("1 KB hit by entries in the store", "/fresh/1k/{n}"),
    "spread": ("1 KB hit spread over every entry in the store", "/fresh/1k/{n}"),
    "stream": ("200 MiB streamed: peak RSS over baseline", ""),
}
ROUND_CASES = ("hit_1k", "hit_1m", "miss_store", "revalidate_304", "threads", "storm")  # sampled in the rounds
STORE_CASES = ("scale", "spread")  # sampled on the store filled to each size

# Origin requests a cache should make per call, for the sanity column (F2 always makes 1).
# The storm's figure is origin requests per new URL: 1 is the target, not a sanity check.
EXPECTED_ORIGIN_PER_CALL: dict[str, int] = {
    "hit_1k": 0,
    "hit_1m": 0,
    "miss_store": 1,
    "revalidate_304": 1,
    "threads": 0,
    "scale": 0,
    "spread": 0,
}


def size_of(path: str) -> int:
    """Body size for an origin path such as ``/fresh/1m/3`` (1 KB when not given)."""
    parts = path.split("/")
    return SIZES.get(parts[2], SIZES["1k"]) if len(parts) > 2 else SIZES["1k"]


def etag_of(path: str) -> str:
    return '"v1-' + path.rsplit("/", 1)[-1] + '"'


def response_headers(status: int, headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """The header lines the origin sends after its status line (also what the fill transport sends)."""
    out = [("Date", formatdate(usegmt=True)), *headers]
    if status != 304:
        if not any(name == "Content-Type" for name, _ in headers):
            out.append(("Content-Type", "application/octet-stream"))
        out.append(("Content-Length", str(len(body))))
    return out


def fresh_headers() -> list[tuple[str, str]]:
    """The headers (besides Date, Content-*) of a /fresh/, /new/ or /slow/ answer."""
    return [("Cache-Control", f"max-age={MAX_AGE}")]

"""What the benchmark measures, shared by the origin, the workers and the runner (stdlib only).

The origin serves, for ``<size>`` in ``SIZES`` and any ``<n>``:

* ``/fresh/<size>/<n>``: ``Cache-Control: max-age=3600`` (a fresh hit for an hour);
* ``/new/<size>/<n>``: the same, used with a distinct ``<n>`` per call (miss + store);
* ``/etag/<size>/<n>``: ``ETag`` + ``Cache-Control: no-cache``; ``304`` to a matching
  ``If-None-Match`` (every use is a revalidation);
* ``/__stats``: the origin's counters as JSON (not counted).

Runner and workers talk over the workers' stdin/stdout, one JSON object per line.
"""

from __future__ import annotations

SIZES: dict[str, int] = {"1k": 1024, "1m": 1024 * 1024}
MAX_AGE = 3600
HOT_URLS = 100  # the threaded case cycles over this many fresh URLs
THREADS = 8

# client -> what it is (in table order)
CLIENTS: dict[str, str] = {
    "F1": "requests.Session, adapter returns a prebuilt Response (requests' own per-call cost)",
    "F2": "requests.Session, no cache, GET over loopback",
    "httpcache": "httpcache.CacheControl, DictCache (this source tree)",
    "cachecontrol": "cachecontrol.CacheControl, default in-memory DictCache",
    "requests-cache": (
        "requests_cache.CachedSession(backend='memory', cache_control=True, expire_after=EXPIRE_IMMEDIATELY)"
    ),
    "hishel": "hishel.requests.CacheAdapter, SqliteStorage on sqlite3 ':memory:'",
}
FLOORS = ("F1", "F2")

# case -> (title, path template, what one origin round trip per call should look like)
# "per call" cases time sequential GETs on one thread; "threads" is THREADS threads on one session.
CASES: dict[str, tuple[str, str]] = {
    "hit_1k": ("fresh hit, 1 KB", "/fresh/1k/{n}"),
    "hit_1m": ("fresh hit, 1 MB (.content)", "/fresh/1m/{n}"),
    "miss_store": ("miss + store, 1 KB, distinct URLs", "/new/1k/{n}"),
    "revalidate_304": ("304 revalidation, 1 KB", "/etag/1k/{n}"),
    "threads": (f"{THREADS} threads, one session, {HOT_URLS} hot 1 KB URLs", "/fresh/1k/{n}"),
}

# Origin requests a cache should make per call, for the sanity column (F2 always makes 1).
EXPECTED_ORIGIN_PER_CALL: dict[str, int] = {
    "hit_1k": 0,
    "hit_1m": 0,
    "miss_store": 1,
    "revalidate_304": 1,
    "threads": 0,
}


def size_of(path: str) -> int:
    """Body size for an origin path such as ``/fresh/1m/3`` (1 KB when not given)."""
    parts = path.split("/")
    return SIZES.get(parts[2], SIZES["1k"]) if len(parts) > 2 else SIZES["1k"]


def etag_of(path: str) -> str:
    return '"v1-' + path.rsplit("/", 1)[-1] + '"'

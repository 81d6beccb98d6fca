"""Integrity end to end (storage format version 3): bytes damaged inside a stored value, as
a failing disk or a stray writer would damage them, are never served from the cache.

Every store (the in-memory one, the README's ten-line custom store, files, SQLite, Redis),
small bodies (whole values) and large ones (> 1 MiB: kept in a streaming store and read in
pieces), ``stream=True`` and not, damage in the body and in the head. A damaged whole value
is a miss: the origin is asked again. A damaged body kept in the store and being read when
the damage shows is an error for the reader (as a transfer cut short would be), never its
last bytes; either way the entry is deleted and the next request is a miss.
"""

from __future__ import annotations

import random
import sqlite3
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest
import requests
from _e2e_helpers import ReadmeDictCache, from_cache
from origin import Origin, Reply
from stores_contract import redis_url

from httpcache import CacheControl, DictCache, serialize
from httpcache._body import StoredBody
from httpcache._headers import Headers
from httpcache.cache import BaseCache
from httpcache.caches import FileCache, RedisCache, SQLiteCache
from httpcache.controller import CacheController
from httpcache.keys import cache_key, normalize_url
from httpcache.models import RequestView, ResponseView, StoredResponse

pytestmark = pytest.mark.e2e

SMALL = 1000
LARGE = 3 * 1024 * 1024 + 17  # over FileCache's 1 MiB inline limit and SQLite's 256 KiB chunk
HEADERS = [("Cache-Control", "max-age=600"), ("Content-Type", "application/octet-stream")]
STORES = ["dict", "readme", "file", "sqlite", "redis"]


def _make(kind: str, tmp_path: Path) -> BaseCache:
    if kind == "dict":
        return DictCache()
    if kind == "readme":
        return ReadmeDictCache()  # type: ignore[no-untyped-call]
    if kind == "file":
        return FileCache(tmp_path / "files")
    if kind == "sqlite":
        return SQLiteCache(tmp_path / "cache.sqlite")
    if kind == "redis":
        return RedisCache(redis_url(), prefix=f"httpcache-test:{uuid.uuid4().hex}:")
    raise AssertionError(kind)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    cache = _make(request.param, tmp_path)
    try:
        yield cache
    finally:
        if isinstance(cache, RedisCache):
            cache.clear()
        cache.close()


@pytest.fixture
def sess(store: BaseCache) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield CacheControl(session, cache=store)
    session.close()


def _raw_value(store: BaseCache, key: str) -> bytes:
    """The value at ``key`` as the store keeps it (read around the cache)."""
    if isinstance(store, SQLiteCache):
        with sqlite3.connect(store.path) as db:
            value, blob = db.execute("SELECT value, blob FROM httpcache WHERE key = ?", (key,)).fetchone()
            if value is not None:
                return bytes(value)
            rows = db.execute("SELECT data FROM httpcache_chunks WHERE blob = ? ORDER BY seq", (blob,))
            return b"".join(bytes(row[0]) for row in rows)
    if isinstance(store, FileCache):
        with open(store._path(key), "rb") as f:
            return f.read()[28:]  # after FileCache's own header
    if isinstance(store, RedisCache):
        value = store.client.get(store.prefix + key)
        assert isinstance(value, bytes)
        return value
    value = store.data[key]  # type: ignore[attr-defined]
    assert isinstance(value, bytes)
    return value


def damage(store: BaseCache, key: str, at: int, new: Optional[bytes] = None) -> None:
    """Overwrite the byte at offset ``at`` of the value at ``key`` in place (with ``new``, or
    the byte with a bit flipped), straight in the store's own storage, as a stray writer
    would: the dict entry, the file, the SQLite row or chunk, the Redis string."""
    old = _raw_value(store, key)
    byte = new if new is not None else bytes((old[at] ^ 0x04,))
    assert byte != old[at : at + 1]
    if isinstance(store, SQLiteCache):
        with sqlite3.connect(store.path) as db:
            value, blob = db.execute("SELECT value, blob FROM httpcache WHERE key = ?", (key,)).fetchone()
            if value is not None:
                changed = value[:at] + byte + value[at + 1 :]
                db.execute("UPDATE httpcache SET value = ? WHERE key = ?", (changed, key))
            else:
                chunk = len(
                    db.execute("SELECT data FROM httpcache_chunks WHERE blob = ? AND seq = 0", (blob,)).fetchone()[0]
                )
                seq, skip = divmod(at, chunk)
                (data,) = db.execute(
                    "SELECT data FROM httpcache_chunks WHERE blob = ? AND seq = ?", (blob, seq)
                ).fetchone()
                changed = data[:skip] + byte + data[skip + 1 :]
                db.execute("UPDATE httpcache_chunks SET data = ? WHERE blob = ? AND seq = ?", (changed, blob, seq))
    elif isinstance(store, FileCache):
        with open(store._path(key), "r+b") as f:  # in place: the same file, FileCache's header untouched
            f.seek(28 + at)
            f.write(byte)
    elif isinstance(store, RedisCache):
        store.client.setrange(store.prefix + key, at, byte)
    else:
        data = store.data  # type: ignore[attr-defined]
        data[key] = old[:at] + byte + old[at + 1 :]
    assert _raw_value(store, key) != old


def _head_length(value: bytes) -> int:
    (length,) = struct.unpack(">I", value[len(serialize.MAGIC) + 2 : len(serialize.MAGIC) + 6])
    return len(serialize.MAGIC) + 6 + int(length) + 4


def _read(sess: requests.Session, url: str, stream: bool) -> tuple[bool, bytes]:
    """(from the cache?, the body), read as a caller would."""
    if not stream:
        resp = sess.get(url)
        return from_cache(resp), resp.content
    with sess.get(url, stream=True) as resp:
        return from_cache(resp), b"".join(resp.iter_content(65536))


def _streamed_from_store(store: BaseCache, size: int) -> bool:
    """Is a body of ``size`` bytes kept in the store and read from it in pieces?"""
    return isinstance(store, (FileCache, SQLiteCache)) and size > 1024 * 1024


@pytest.mark.parametrize("stream", [False, True], ids=["content", "stream"])
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("where", ["body", "head"])
def test_damaged_value_is_never_served(
    origin: Origin, sess: requests.Session, store: BaseCache, where: str, size: int, stream: bool
) -> None:
    body = random.Random(size).randbytes(size)
    origin.route("/r", Reply(200, HEADERS, body))
    url = origin.url("/r")
    assert _read(sess, url, stream) == (False, body)
    assert _read(sess, url, stream) == (True, body)  # stored, and read once from the store
    key = cache_key("GET", normalize_url(url))
    value = _raw_value(store, key)
    if where == "body":
        damage(store, key, _head_length(value) + size // 2)
    else:  # max-age=600 becomes max-age=900: still a well-formed, plausible head
        damage(store, key, value.index(b"max-age=600") + len("max-age="), b"9")

    streamed_body_damaged = stream and where == "body" and _streamed_from_store(store, size)
    if streamed_body_damaged:
        # the head checks out and the body is already on its way to a caller who streams it
        # when the damage shows: an error, as for a transfer cut short, never the damaged bytes
        # (a caller who reads it whole has it checked first: a miss, fetched again)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _read(sess, url, stream)
        assert origin.count("/r") == 1
    else:
        assert _read(sess, url, stream) == (False, body)  # a miss: fetched again
        assert origin.count("/r") == 2
    # the damaged entry is gone: what is served next is right, and soon from the cache again
    assert _read(sess, url, stream)[1] == body
    assert _read(sess, url, stream) == (True, body)
    assert origin.count("/r") == 2


@pytest.mark.parametrize("store", ["file", "sqlite"], indirect=True)
def test_a_range_of_a_damaged_large_body_is_never_served(
    origin: Origin, sess: requests.Session, store: BaseCache
) -> None:
    body = random.Random(7).randbytes(LARGE)
    origin.route("/r", Reply(200, HEADERS, body))
    url = origin.url("/r")
    assert _read(sess, url, False) == (False, body)
    ranged = sess.get(url, headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, from_cache(ranged), ranged.content) == (206, True, body[:10])
    key = cache_key("GET", normalize_url(url))
    damage(store, key, _head_length(_raw_value(store, key)) + LARGE - 1)  # far from the range asked
    ranged = sess.get(url, headers={"Range": "bytes=0-9"})  # the whole body checked first: a miss
    # (this origin ignores Range: its whole 200, stored in place of the damaged entry)
    assert (ranged.status_code, from_cache(ranged), ranged.content) == (200, False, body)
    assert origin.count("/r") == 2
    assert _read(sess, url, False) == (True, body)
    assert origin.count("/r") == 2


def test_a_value_of_format_version_2_is_a_miss(origin: Origin) -> None:
    store = DictCache()
    session = requests.Session()
    session.trust_env = False
    sess = CacheControl(session, cache=store)
    origin.route("/r", Reply(200, HEADERS, b"new body"))
    url = origin.url("/r")
    key = cache_key("GET", normalize_url(url))
    head = serialize.dump_head(_stored(url, b"old body"))[:-4]  # as version 2 wrote it: no checksums
    old = head[: len(serialize.MAGIC)] + b"\x02" + head[len(serialize.MAGIC) + 1 :]
    store.set(key, old + b"old body" + struct.pack(">Q", 8))
    assert _read(sess, url, False) == (False, b"new body")
    assert _read(sess, url, False) == (True, b"new body")
    assert origin.count("/r") == 1


def _stored(url: str, body: bytes) -> StoredResponse:
    return StoredResponse(
        url=normalize_url(url),
        method="GET",
        status=200,
        reason="OK",
        headers=Headers(HEADERS),
        body_length=len(body),
        request_time=0.0,
        response_time=0.0,
    )


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_a_damaged_large_body_is_not_copied_into_a_new_value(tmp_path: Path, kind: str) -> None:
    """Writing a stored response again (a 304 freshens it) copies its body from the store:
    a damaged body is not sealed with a new checksum that would make it look right."""
    store = _make(kind, tmp_path)
    ctl = CacheController(store)
    url = "http://example.test/big"
    body = random.Random(3).randbytes(LARGE)
    req = RequestView("GET", url, Headers())
    spool = ctl.begin_store(req, ResponseView(200, Headers(HEADERS), "OK"), 0.0, 0.0, len(body))
    assert spool is not None
    for n in range(0, len(body), 65536):
        spool.write(body[n : n + 65536])
    spool.complete()
    key = cache_key("GET", normalize_url(url))
    ctl.lookup(req).release()  # read once (FileCache checks a large file once per process)
    damage(store, key, _head_length(_raw_value(store, key)) + 100)
    lookup = ctl.lookup(req)
    assert lookup.entry is not None and isinstance(lookup.entry.body, StoredBody)
    try:
        assert not ctl.put(lookup.entry)
    finally:
        lookup.release()
    again = ctl.lookup(req)
    try:
        assert again.stored is None  # deleted when the copy found the damage
    finally:
        again.release()
    store.close()

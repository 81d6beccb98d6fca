"""cachecontrol 0.14's stores and serializer API, through httpcache: ``caches.file_cache`` and
``caches.redis_cache`` import paths, ``FileCache``'s arguments, ``SeparateBodyBaseCache``
(a user's own, end to end), ``RedisCache.set``'s expiry forms, ``Serializer`` hooks."""

from __future__ import annotations

import io
import os
import stat
import uuid
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Optional

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply
from stores_contract import redis_url

from httpcache import CacheControl, CacheController, DictCache
from httpcache.cache import BaseCache, SeparateBodyBaseCache
from httpcache.caches.file_cache import FileCache, SeparateBodyFileCache
from httpcache.caches.redis_cache import RedisCache
from httpcache.serialize import Serializer

FRESH = [("Cache-Control", "max-age=600"), ("Content-Type", "text/plain")]


def _get_twice(sess: requests.Session, url: str) -> requests.Response:
    sess.get(url).content  # noqa: B018 - read: stored
    second = sess.get(url)
    second.content  # noqa: B018
    return second


# -- FileCache's cachecontrol arguments -------------------------------------------------------------


def test_file_cache_positional_arguments_and_modes(tmp_path: Path, origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, FRESH, b"x"))
    umask = os.umask(0o022)
    os.umask(umask)
    store = FileCache(str(tmp_path / "c"), False, 0o640, 0o750, None)
    sess = CacheControl(plain, store)
    assert from_cache(_get_twice(sess, origin.url("/a"))) and origin.count("/a") == 1
    path = Path(store._path(CacheController.cache_url(origin.url("/a"))))
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750 & ~umask


def test_file_cache_forever_keeps_entries_past_their_expiry(tmp_path: Path) -> None:
    past = datetime(2000, 1, 1)
    kept, dropped = FileCache(tmp_path / "kept", forever=True), FileCache(tmp_path / "dropped")
    for store in (kept, dropped):
        store.set("k", b"v", expires=past)
        store.set("soon", b"v", expires=timedelta(seconds=-1))
    assert kept.get("k") == b"v" and kept.get("soon") == b"v" and kept.purge_expired() == 0
    assert dropped.get("k") is None and dropped.get("soon") is None
    kept.delete("k")  # a deletion the cache asks for (RFC 9111 §4.4 invalidation) still deletes
    assert kept.get("k") is None


def test_file_cache_takes_a_lock_class(tmp_path: Path) -> None:
    class Lock:  # cachecontrol's filelock.FileLock shape; writes are atomic without it
        def __init__(self, path: str) -> None:
            raise AssertionError("not used")

    store = FileCache(tmp_path / "c", lock_class=Lock)
    store.set("k", b"v")
    assert store.get("k") == b"v" and store.lock_class is Lock


def test_file_cache_bad_mode(tmp_path: Path) -> None:
    from httpcache import HTTPCacheError

    with pytest.raises(HTTPCacheError, match="filemode"):
        FileCache(tmp_path / "c", filemode="0600")  # type: ignore[arg-type]


def test_separate_body_file_cache(tmp_path: Path, origin: Origin, plain: requests.Session) -> None:
    big = os.urandom(3 * 1024 * 1024)  # streamed to and from its file
    origin.route("/big", Reply(200, FRESH, big))
    store = SeparateBodyFileCache(tmp_path / "c")
    sess = CacheControl(plain, store)
    second = _get_twice(sess, origin.url("/big"))
    assert from_cache(second) and second.content == big and origin.count("/big") == 1
    store.set("k", b"head")
    store.set_body("k", b"body")
    body = store.get_body("k")
    assert body is not None and body.read() == b"body"
    body.close()
    store.delete("k")
    assert store.get("k") is None and store.get_body("k") is None


# -- a user's SeparateBodyBaseCache, end to end ------------------------------------------------------


class DictBodyCache(SeparateBodyBaseCache):
    """Written for cachecontrol: heads and bodies in two dicts."""

    def __init__(self) -> None:
        self.heads: dict[str, bytes] = {}
        self.bodies: dict[str, bytes] = {}

    def get(self, key: str) -> Optional[bytes]:
        return self.heads.get(key)

    def set(self, key: str, value: bytes, expires: Any = None) -> None:
        self.heads[key] = value

    def delete(self, key: str) -> None:
        self.heads.pop(key, None)
        self.bodies.pop(key, None)

    def get_body(self, key: str) -> Optional[IO[bytes]]:
        body = self.bodies.get(key)
        return None if body is None else io.BytesIO(body)

    def set_body(self, key: str, body: bytes) -> None:
        self.bodies[key] = body


def test_a_users_separate_body_store(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, FRESH, b"the body"))
    origin.route("/v", Reply(200, [*FRESH, ("Vary", "Accept")], b"varied"))
    store = DictBodyCache()
    sess = CacheControl(plain, store)
    second = _get_twice(sess, origin.url("/a"))
    assert from_cache(second) and second.content == b"the body" and origin.count("/a") == 1
    key = CacheController.cache_url(origin.url("/a"))
    assert b"the body" in store.bodies[key] and b"the body" not in store.heads[key]
    varied = _get_twice(sess, origin.url("/v"))  # the variant index goes whole to set
    assert from_cache(varied) and varied.content == b"varied" and origin.count("/v") == 1
    store.bodies[key] = b"damaged" + store.bodies[key][7:]  # a miss, fetched again
    assert not from_cache(sess.get(origin.url("/a"))) and origin.count("/a") == 2
    sess.put(origin.url("/a"))  # invalidation deletes head and body
    assert key not in store.heads and key not in store.bodies


# -- RedisCache -------------------------------------------------------------------------------------


@pytest.fixture
def redis_store() -> Iterator[RedisCache]:
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url)
    store = RedisCache(client)  # cachecontrol: RedisCache(conn)
    store.prefix = f"httpcache-compat:{uuid.uuid4().hex}:"
    yield store
    store.clear()
    client.close()


@pytest.mark.parametrize(
    "expires",
    [300, 300.0, timedelta(seconds=300), datetime.now(timezone.utc) + timedelta(seconds=300)],
    ids=["int", "float", "timedelta", "datetime"],
)
def test_redis_set_takes_cachecontrol_expiry_forms(redis_store: RedisCache, expires: Any) -> None:
    redis_store.set("k", b"v", expires=expires)
    assert redis_store.get("k") == b"v"
    ttl = redis_store.client.pttl(redis_store.prefix + "k")
    assert 200_000 < ttl <= 300_000


def test_redis_naive_datetime_is_utc(redis_store: RedisCache) -> None:
    naive_utc = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=300)
    redis_store.set("k", b"v", naive_utc)
    assert 200_000 < redis_store.client.pttl(redis_store.prefix + "k") <= 300_000
    redis_store.set("gone", b"v", datetime(2000, 1, 1))
    assert redis_store.get("gone") is None


def test_dict_cache_takes_init_dict_and_expiry_forms() -> None:
    seed = {"a": b"1"}
    store = DictCache(seed)
    store.set("b", b"2", expires=timedelta(hours=1))
    assert store.get("a") == b"1" and store.get("b") == b"2" and store.data is seed


# -- Serializer -------------------------------------------------------------------------------------


class Zipped(Serializer):
    """A cachecontrol-style serializer of one's own: the default format, compressed."""

    def dumps(self, request: Any, response: Any, body: bytes) -> bytes:
        return zlib.compress(super().dumps(request, response, body))

    def loads(self, request: Any, data: bytes, body_file: Any = None) -> Any:
        return super().loads(request, zlib.decompress(data), body_file)


@pytest.mark.parametrize("kind", ["dict", "file", "separate"])
def test_a_custom_serializer_writes_and_reads_its_format(
    kind: str, tmp_path: Path, origin: Origin, plain: requests.Session
) -> None:
    big = os.urandom(2 * 1024 * 1024)  # over the spill size: whole bodies for a custom serializer
    origin.route("/a", Reply(200, FRESH, b"small"))
    origin.route("/big", Reply(200, FRESH, big))
    store: BaseCache = (
        DictCache() if kind == "dict" else FileCache(tmp_path / "c") if kind == "file" else DictBodyCache()
    )
    sess = CacheControl(plain, store, serializer=Zipped())
    assert _get_twice(sess, origin.url("/a")).content == b"small"
    assert _get_twice(sess, origin.url("/big")).content == big
    assert (origin.count("/a"), origin.count("/big")) == (1, 1)
    raw = store.get(CacheControl(requests.Session()).get_adapter("http://x/").controller.cache_url(origin.url("/a")))  # type: ignore[attr-defined]
    assert raw is not None and zlib.decompress(raw).startswith(b"HTTPCACHE")
    # another process with the default serializer: not its format, a miss
    with requests.Session() as other:
        assert not from_cache(CacheControl(other, store).get(origin.url("/a")))


def test_a_serializer_that_fails_to_load_is_a_miss(origin: Origin, plain: requests.Session) -> None:
    class Broken(Serializer):
        def dumps(self, request: Any, response: Any, body: bytes) -> bytes:
            return b"mine:" + super().dumps(request, response, body)

        def loads(self, request: Any, data: bytes, body_file: Any = None) -> Any:
            raise ValueError("cannot read this")

    origin.route("/a", Reply(200, FRESH, b"x"))
    store = DictCache()
    CacheControl(plain, store, serializer=Broken()).get(origin.url("/a")).content  # noqa: B018 - stored
    assert store.data
    for _ in range(2):
        with requests.Session() as other:  # another controller (no decoded entry at hand): loads is called
            resp = CacheControl(other, store, serializer=Broken()).get(origin.url("/a"))
            assert resp.content == b"x" and not from_cache(resp)
    assert origin.count("/a") == 3


def test_the_default_serializer_round_trips(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, FRESH, b"x"))
    sess = CacheControl(plain, serializer=Serializer())  # the default: streaming path kept
    assert from_cache(_get_twice(sess, origin.url("/a")))

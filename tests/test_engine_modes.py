"""The modes (``httpcache.settings``) through the engine, with a fake transport and a fake
clock: what the caller gets, what reached the origin, and what the store holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable, Optional

import pytest
from _fake_transport import FakeClock, FakeOrigin, FakeTransport
from test_engine import BODY, NEW_BODY, URL, Cache

import httpcache
from httpcache import DictCache
from httpcache._headers import Headers
from httpcache.controller import CacheController
from httpcache.engine import Engine
from httpcache.models import CacheOptions

ETAG_10 = [("Cache-Control", "max-age=10"), ("ETag", '"v1"')]
Make = Callable[[Optional[CacheOptions]], Cache]


@pytest.fixture
def make() -> Iterator[Make]:
    made: list[Cache] = []

    def build(options: Optional[CacheOptions] = None) -> Cache:
        clock, origin = FakeClock(), FakeOrigin()
        transport = FakeTransport(origin)
        controller = CacheController(DictCache(), options=options or CacheOptions(), clock=clock)
        made.append(Cache(clock, origin, transport, controller, Engine(controller, transport)))
        return made[-1]

    yield build
    for built in made:
        built.engine.close()


@pytest.fixture
def cache(make: Make) -> Cache:
    return make(None)


def _validating(fields: Headers) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    return (304, tuple(ETAG_10), b"") if "if-none-match" in fields else (200, tuple(ETAG_10), BODY)


def test_offline_serves_a_stale_response_without_sending(cache: Cache) -> None:
    cache.origin.reply(URL, 200, ETAG_10, BODY)
    cache.get()
    cache.clock.advance(100)
    with httpcache.settings(mode="offline"):
        resp = cache.get()
    assert resp.status == 200 and resp.content == BODY and resp.from_cache
    assert cache.origin.count(URL) == 1


def test_read_only_revalidates_but_does_not_write_the_freshened_response(cache: Cache) -> None:
    cache.origin.route(URL, _validating)
    cache.get()
    cache.clock.advance(100)
    before = dict(cache.controller.cache.data)  # type: ignore[attr-defined]
    with httpcache.settings(mode="read-only"):
        resp = cache.get()
        assert resp.content == BODY and resp.from_cache
        assert not cache.fresh()  # still stale: the 304 was not written
    assert dict(cache.controller.cache.data) == before  # type: ignore[attr-defined]
    assert cache.origin.count(URL) == 2
    cache.get()  # outside the block the 304 freshens it
    assert cache.fresh()


def test_force_refresh_sends_unconditionally_and_stores_the_answer(cache: Cache) -> None:
    cache.origin.reply(URL, 200, ETAG_10, BODY)
    cache.get()
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=10"), ("ETag", '"v2"')], NEW_BODY)
    with httpcache.settings(mode="force-refresh"):
        resp = cache.get()
    assert resp.content == NEW_BODY and not resp.from_cache
    assert "if-none-match" not in cache.origin.last().headers
    hit = cache.get()
    assert hit.content == NEW_BODY and hit.from_cache and cache.origin.count(URL) == 2


def test_the_sessions_mode_applies_outside_any_block(make: Make) -> None:
    built = make(CacheOptions(mode="refresh"))
    built.origin.reply(URL, 200, ETAG_10, BODY)
    built.get()
    built.get()
    assert built.origin.count(URL) == 2 and built.origin.last().headers.get("if-none-match") == '"v1"'
    with httpcache.settings(mode="default"):
        assert built.get().from_cache
    assert built.origin.count(URL) == 2


def test_offline_sends_no_unsafe_request_either(cache: Cache) -> None:
    for mode in ("offline", "only-if-cached"):
        with httpcache.settings(mode=mode):
            assert cache.get(method="POST").status == 504
    assert cache.origin.count() == 0

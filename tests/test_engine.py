"""The engine's flows, through a fake transport (DESIGN.md rule 11): no sockets, a fake
clock, a scripted origin that logs what reached it.

Each test asserts what the caller got (status, body, ``from_cache``, Age) and what
reached the origin (how many requests, the conditional fields they carried): a miss
stored once its body is read, then a hit; what is not storable; revalidation (§4.3) and
its 304s; the caller's own conditionals; stale-if-error and stale-while-revalidate
(RFC 5861); only-if-cached; Range (§3.3, §3.4); unsafe methods and preconditions (§4.4);
HEAD (§4.3.5); coalescing of concurrent misses; a surrogate's Surrogate-Capability.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Callable, Optional, Union

import pytest
from _fake_transport import (
    Answer,
    FakeClock,
    FakeOrigin,
    FakeRequest,
    FakeResponse,
    FakeTransport,
    Lines,
    OriginUnreachableError,
    TimedOutError,
    eventually,
    make_call,
)

from httpcache import OUTCOMES, DictCache, policy
from httpcache._headers import Headers
from httpcache.controller import CacheController
from httpcache.engine import Engine
from httpcache.models import CacheOptions, RequestView

URL = "http://example.com/r"
OTHER = "http://example.com/other"
BODY = b"0123456789"
NEW_BODY = b"new body"
#: Joins of threads and waits for the background never take this long when all is well.
DEADLINE = 5.0
LAST_MODIFIED = formatdate(1_600_000_000.0, usegmt=True)


@dataclass
class Cache:
    """An engine over a ``DictCache`` and a fake transport, with a fake clock."""

    clock: FakeClock
    origin: FakeOrigin
    transport: FakeTransport
    controller: CacheController
    engine: Engine[FakeRequest, FakeResponse]
    threads: list[threading.Thread] = field(default_factory=list)

    def send(
        self,
        url: str = URL,
        headers: Lines = (),
        method: str = "GET",
        *,
        stream: bool = False,
        wait_bound: Optional[float] = None,
    ) -> FakeResponse:
        """The response as the engine hands it over (its body unread). Every response
        the engine hands over says what happened (issue #13: ``cache_info``), counted once."""
        before = self.controller.stats.snapshot().requests
        resp = self.engine.handle(make_call(method, url, headers, stream=stream, wait_bound=wait_bound))
        assert resp.cache_info is not None, f"no cache_info on {resp!r}"
        assert resp.cache_info.outcome in OUTCOMES and resp.cache_info.reason
        assert resp.cache_info.from_cache == resp.from_cache, (resp.cache_info, resp.from_cache)
        assert self.controller.stats.snapshot().requests >= before + 1
        return resp

    def get(self, url: str = URL, headers: Lines = (), method: str = "GET") -> FakeResponse:
        """A caller who reads the whole body, as ``requests`` does without ``stream=True``."""
        resp = self.send(url, headers, method)
        resp.read()
        return resp

    def fresh(self, url: str = URL, headers: Lines = ()) -> bool:
        """Does the store now hold a response it may serve as it is?"""
        with self.controller.lookup(RequestView("GET", url, Headers(headers))) as lookup:
            return isinstance(lookup.decision, policy.Fresh)

    def stored(self, url: str = URL) -> bool:
        with self.controller.lookup(RequestView("GET", url, Headers([]))) as lookup:
            return lookup.stored is not None

    def start(self, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread


Make = Callable[..., Cache]


@pytest.fixture
def make() -> Iterator[Make]:
    made: list[Cache] = []

    def build(options: Optional[CacheOptions] = None, *, teeable: bool = True) -> Cache:
        clock, origin = FakeClock(), FakeOrigin()
        transport = FakeTransport(origin, teeable=teeable)
        controller = CacheController(DictCache(), options=options or CacheOptions(), clock=clock)
        cache = Cache(clock, origin, transport, controller, Engine(controller, transport))
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.engine.close()
        for thread in cache.threads:
            thread.join(DEADLINE)
        assert not any(t.is_alive() for t in cache.threads), "a test thread never finished"


@pytest.fixture
def cache(make: Make) -> Cache:
    return make()


def conditional_or(full: Answer, not_modified: Answer) -> Callable[[Headers], Answer]:
    """A route answering a conditional request with ``not_modified``, any other with ``full``."""
    return lambda fields: not_modified if policy.is_conditional(RequestView("GET", URL, fields)) else full


# ---------------------------------------------------------------------------
# A miss, stored once read, then a hit (RFC 9111 §3, §4.2.3)


@pytest.mark.parametrize(
    ("origin_age", "waited", "age"),
    [(None, 7, "7"), ("5", 3, "8"), (None, 0, "0")],
    ids=["resident-time", "origin-Age-plus-resident-time", "at-once"],
)
def test_a_miss_is_stored_once_read_then_a_hit_carries_its_age(
    cache: Cache, origin_age: Optional[str], waited: float, age: str
) -> None:
    lines = [("Cache-Control", "max-age=60")] + ([("Age", origin_age)] if origin_age else [])
    cache.origin.reply(URL, 200, lines, BODY)
    first = cache.get()
    assert (first.status, first.content, first.from_cache) == (200, BODY, False)
    cache.clock.advance(waited)
    hit = cache.get()
    assert (hit.status, hit.content, hit.from_cache, hit.age) == (200, BODY, True, age)
    assert cache.origin.count() == 1


def test_a_body_read_in_pieces_by_a_streaming_caller_is_stored(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60")], BODY)
    resp = cache.send(stream=True)
    assert resp.read(3) + resp.read(3) + resp.read() == BODY
    assert cache.get().from_cache
    assert cache.origin.count() == 1


def _unread(resp: FakeResponse) -> None:
    pass


def _closed_early(resp: FakeResponse) -> None:
    assert resp.read(4) == BODY[:4]
    resp.close()


@pytest.mark.parametrize("reader", [_unread, _closed_early], ids=["unread", "closed-early"])
def test_a_body_not_read_to_its_end_is_not_stored(cache: Cache, reader: Callable[[FakeResponse], None]) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60")], BODY)
    reader(cache.send(stream=True))
    second = cache.get()
    assert (second.content, second.from_cache) == (BODY, False)
    assert cache.origin.count() == 2


def test_a_body_cut_short_of_its_content_length_is_not_stored(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60"), ("Content-Length", "100")], BODY)
    assert cache.get().content == BODY  # all the origin sent
    assert not cache.get().from_cache
    assert cache.origin.count() == 2


def test_a_body_the_transport_cannot_tee_is_not_stored(make: Make) -> None:
    cache = make(teeable=False)
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60")], BODY)
    for _ in range(3):
        resp = cache.get()
        assert (resp.content, resp.from_cache) == (BODY, False)
    assert cache.origin.count() == 3


# ---------------------------------------------------------------------------
# What is not stored (RFC 9111 §3)

SHARED = CacheOptions(shared=True)


@pytest.mark.parametrize(
    ("options", "response", "request_fields", "reaching"),
    [
        (CacheOptions(), [("Cache-Control", "no-store, max-age=60")], [], 3),
        (SHARED, [("Cache-Control", "private, max-age=60")], [], 3),
        (CacheOptions(), [("Cache-Control", "private, max-age=60")], [], 1),  # a private cache stores it
        (CacheOptions(), [("Cache-Control", "max-age=60"), ("Vary", "*")], [], 3),
        (CacheOptions(), [("Cache-Control", "max-age=60")], [("Cache-Control", "no-store")], 3),
        (CacheOptions(), [], [], 3),  # no freshness, no validator: nothing could reuse it
        (CacheOptions(), [("Cache-Control", "max-age=60"), ("Vary", "Accept")], [("Accept", "text/plain")], 1),
    ],
    ids=[
        "no-store",
        "private-shared",
        "private-private",
        "vary-star",
        "request-no-store",
        "nothing-to-reuse",
        "vary-accept",
    ],
)
def test_what_is_not_storable_reaches_the_origin_every_time_and_what_is_is_not(
    make: Make, options: CacheOptions, response: Lines, request_fields: Lines, reaching: int
) -> None:
    cache = make(options)
    cache.origin.reply(URL, 200, response, BODY)
    got = [cache.get(headers=request_fields) for _ in range(3)]
    assert [r.content for r in got] == [BODY] * 3
    assert [r.from_cache for r in got] == [False] + [reaching == 1] * 2
    assert cache.origin.count() == reaching


def test_variants_are_selected_by_the_fields_vary_names(cache: Cache) -> None:
    cache.origin.route(
        URL,
        lambda fields: (
            200,
            [("Cache-Control", "max-age=60"), ("Vary", "Accept")],
            (fields.get("accept") or "").encode(),
        ),
    )
    for accept in ("text/a", "text/b", "text/a", "text/b"):
        assert cache.get(headers=[("Accept", accept)]).content == accept.encode()
    assert cache.origin.count() == 2


# ---------------------------------------------------------------------------
# Revalidation (RFC 9111 §4.3.1, §4.3.3, §4.3.4)


@pytest.mark.parametrize(
    ("validators", "sent"),
    [
        ([("ETag", '"v1"')], {"if-none-match": '"v1"'}),
        ([("Last-Modified", LAST_MODIFIED)], {"if-modified-since": LAST_MODIFIED}),
        (
            [("ETag", '"v1"'), ("Last-Modified", LAST_MODIFIED)],
            {"if-none-match": '"v1"', "if-modified-since": LAST_MODIFIED},
        ),
    ],
    ids=["etag", "last-modified", "both"],
)
def test_a_stale_entry_is_revalidated_and_a_304_freshens_it(
    cache: Cache, validators: Lines, sent: dict[str, str]
) -> None:
    full: Answer = (200, [("Cache-Control", "max-age=10"), ("X-Version", "1"), *validators], BODY)
    not_modified: Answer = (304, [("Cache-Control", "max-age=100"), ("X-Version", "2"), *validators], b"")
    cache.origin.route(URL, conditional_or(full, not_modified))
    assert cache.get().content == BODY
    cache.clock.advance(20)

    revalidated = cache.get()
    assert cache.origin.count() == 2
    assert cache.origin.last().conditional == sent
    assert (revalidated.status, revalidated.content, revalidated.from_cache) == (200, BODY, True)
    assert (revalidated.age, revalidated.headers.get("x-version")) == ("0", "2")  # the 304's fields
    assert cache.transport.received[-1].closed  # the origin's 304, answered for: released

    cache.clock.advance(50)
    hit = cache.get()
    assert (hit.status, hit.content, hit.from_cache, hit.age) == (200, BODY, True, "50")
    assert hit.headers.get("x-version") == "2"
    assert hit.headers.get("content-length") == str(len(BODY))  # never taken from a 304 (§3.2)
    assert cache.origin.count() == 2


def test_a_stale_entry_without_validators_is_fetched_again_unconditionally(cache: Cache) -> None:
    bodies = iter([BODY, NEW_BODY])
    cache.origin.route(URL, lambda fields: (200, [("Cache-Control", "max-age=10")], next(bodies)))
    cache.get()
    cache.clock.advance(20)
    second = cache.get()
    assert (second.content, second.from_cache) == (NEW_BODY, False)
    assert cache.origin.last().conditional == {}
    assert cache.get().content == NEW_BODY
    assert cache.origin.count() == 2


def test_a_revalidation_answered_200_replaces_the_entry(cache: Cache) -> None:
    first: Answer = (200, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')], BODY)
    changed: Answer = (200, [("Cache-Control", "max-age=100"), ("ETag", '"v2"')], NEW_BODY)
    cache.origin.route(URL, conditional_or(first, changed))
    cache.get()
    cache.clock.advance(20)
    second = cache.get()
    assert (second.status, second.content, second.from_cache) == (200, NEW_BODY, False)
    hit = cache.get()
    assert (hit.content, hit.from_cache, hit.headers.get("etag")) == (NEW_BODY, True, '"v2"')
    assert cache.origin.count() == 2


def test_a_304_contradicting_our_etag_serves_the_stored_response_once_and_drops_it(cache: Cache) -> None:
    full: Answer = (200, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')], BODY)
    contradicting: Answer = (304, [("Cache-Control", "max-age=100"), ("ETag", '"v2"')], b"")
    cache.origin.route(URL, conditional_or(full, contradicting))
    cache.get()
    cache.clock.advance(20)

    served = cache.get()
    assert (served.status, served.content, served.from_cache, served.age) == (200, BODY, True, "20")
    assert cache.origin.count() == 2  # never a second origin request for the call
    assert cache.transport.received[-1].closed
    assert not cache.stored()

    cache.origin.route(URL, lambda fields: (200, [("Cache-Control", "max-age=100"), ("ETag", '"v2"')], NEW_BODY))
    again = cache.get()
    assert (again.content, again.from_cache) == (NEW_BODY, False)
    assert cache.origin.count() == 3
    assert cache.origin.last().conditional == {}


# ---------------------------------------------------------------------------
# The caller's own conditional request (RFC 9111 §4.3.2, RFC 9110 §13.2)

ETAGGED: Lines = [("Cache-Control", "max-age=10"), ("ETag", '"v1"'), ("Last-Modified", LAST_MODIFIED)]


@pytest.mark.parametrize(
    ("conditional", "status"),
    [
        ([("If-None-Match", '"v1"')], 304),
        ([("If-None-Match", 'W/"v1"')], 304),  # a weak comparison (RFC 9110 §13.1.2)
        ([("If-None-Match", '"v0", "v1"')], 304),
        ([("If-None-Match", "*")], 304),
        ([("If-Modified-Since", LAST_MODIFIED)], 304),
        ([("If-None-Match", '"v0"')], 200),
        ([("If-Modified-Since", formatdate(1_500_000_000.0, usegmt=True))], 200),
    ],
    ids=["etag", "weak", "list", "star", "ims", "other-etag", "ims-earlier"],
)
def test_a_fresh_entry_answers_the_callers_conditional_without_the_origin(
    cache: Cache, conditional: Lines, status: int
) -> None:
    cache.origin.reply(URL, 200, ETAGGED, BODY)
    cache.get()
    cache.clock.advance(3)
    resp = cache.get(headers=conditional)
    assert (resp.status, resp.from_cache, resp.age) == (status, True, "3")
    assert resp.content == (b"" if status == 304 else BODY)
    if status == 304:
        assert resp.built
        assert resp.headers.get("etag") == '"v1"'
        assert "content-length" not in resp.headers  # RFC 9110 §15.4.5: only the listed fields
    assert cache.origin.count() == 1


def test_the_callers_conditional_on_a_stale_entry_gets_the_origins_304(cache: Cache) -> None:
    full: Answer = (200, ETAGGED, BODY)
    not_modified: Answer = (304, [("Cache-Control", "max-age=100"), ("ETag", '"v1"')], b"")
    cache.origin.route(URL, conditional_or(full, not_modified))
    cache.get()
    cache.clock.advance(20)

    resp = cache.get(headers=[("If-None-Match", '"v1"')])
    assert (resp.status, resp.from_cache) == (304, False)
    assert cache.origin.last().conditional == {"if-none-match": '"v1"'}  # the caller's own, as it was
    assert cache.origin.count() == 2

    hit = cache.get()  # the 304 freshened the entry
    assert (hit.status, hit.content, hit.from_cache, hit.age) == (200, BODY, True, "0")
    assert cache.origin.count() == 2


def test_the_callers_conditional_for_another_validator_passes_the_304_through(cache: Cache) -> None:
    cache.origin.route(
        URL,
        lambda fields: (
            (304, [("ETag", '"v0"')], b"") if fields.get("if-none-match") == '"v0"' else (200, ETAGGED, BODY)
        ),
    )
    cache.get()
    cache.clock.advance(20)
    resp = cache.get(headers=[("If-None-Match", '"v0"')])
    assert (resp.status, resp.from_cache, resp.headers.get("etag")) == (304, False, '"v0"')
    assert cache.origin.last().conditional == {"if-none-match": '"v0"'}
    assert cache.stored()  # it said nothing of the stored response: kept


# ---------------------------------------------------------------------------
# stale-if-error (RFC 5861 §4; RFC 9111 §4.2.4)

STALE = "stale"
RAISES = "raises"


@pytest.mark.parametrize(
    ("directives", "request_fields", "failure", "expected"),
    [
        ("max-age=10, stale-if-error=60", [], 500, STALE),
        ("max-age=10, stale-if-error=60", [], 502, STALE),
        ("max-age=10, stale-if-error=60", [], 503, STALE),
        ("max-age=10, stale-if-error=60", [], 504, STALE),
        ("max-age=10, stale-if-error=60", [], 404, 404),
        ("max-age=10, stale-if-error=60", [], OriginUnreachableError, STALE),
        ("max-age=10", [("Cache-Control", "stale-if-error=60")], 500, STALE),
        ("max-age=10", [("Cache-Control", "stale-if-error=60")], OriginUnreachableError, STALE),
        ("max-age=10", [], 500, 500),
        ("max-age=10", [], OriginUnreachableError, RAISES),
        ("max-age=10, stale-if-error=5", [], 500, 500),  # stale for 10 s: past its window
        ("max-age=10, stale-if-error=5", [], OriginUnreachableError, RAISES),
        ("max-age=10, must-revalidate, stale-if-error=60", [], 500, 500),
        ("max-age=10, must-revalidate, stale-if-error=60", [], OriginUnreachableError, RAISES),
        ("max-age=10, must-revalidate", [("Cache-Control", "stale-if-error=60")], OriginUnreachableError, RAISES),
    ],
)
def test_stale_if_error(
    cache: Cache,
    directives: str,
    request_fields: Lines,
    failure: Union[int, type[Exception]],
    expected: Union[str, int],
) -> None:
    ok: Answer = (200, [("Cache-Control", directives), ("ETag", '"v1"')], BODY)
    cache.origin.reply(URL, *ok)
    cache.get()
    cache.clock.advance(20)

    def failing(fields: Headers) -> Answer:
        if isinstance(failure, int):
            return failure, [("Content-Type", "text/plain")], b"error"
        raise failure("connection refused")

    cache.origin.route(URL, failing)
    if expected == RAISES:
        with pytest.raises(OriginUnreachableError):
            cache.get(headers=request_fields)
    else:
        resp = cache.get(headers=request_fields)
        if expected == STALE:
            assert (resp.status, resp.content, resp.from_cache, resp.age) == (200, BODY, True, "20")
        else:
            assert (resp.status, resp.content, resp.from_cache) == (expected, b"error", False)
    assert cache.origin.count() == 2
    assert cache.origin.last().conditional == {"if-none-match": '"v1"'}


# ---------------------------------------------------------------------------
# stale-while-revalidate (RFC 5861 §3)


def test_stale_while_revalidate_serves_stale_at_once_and_freshens_in_the_background(cache: Cache) -> None:
    origin_may_answer = threading.Event()
    full: Answer = (200, [("Cache-Control", "max-age=10, stale-while-revalidate=60"), ("ETag", '"v1"')], BODY)
    not_modified: Answer = (304, [("Cache-Control", "max-age=100"), ("ETag", '"v1"'), ("X-Refreshed", "1")], b"")

    def route(fields: Headers) -> Answer:
        if policy.is_conditional(RequestView("GET", URL, fields)):
            origin_may_answer.wait(DEADLINE)
            return not_modified
        return full

    cache.origin.route(URL, route)
    cache.get()
    cache.clock.advance(20)
    try:
        stale = cache.get()  # the background request is held at the origin meanwhile
        assert (stale.status, stale.content, stale.from_cache, stale.age) == (200, BODY, True, "20")
        assert "x-refreshed" not in stale.headers
    finally:
        origin_may_answer.set()

    assert eventually(cache.fresh), "the background revalidation never freshened the entry"
    assert eventually(lambda: cache.transport.received[-1].closed), "the background 304 was never released"
    background = cache.origin.last()
    assert (background.background, background.conditional) == (True, {"if-none-match": '"v1"'})
    cache.clock.advance(5)
    hit = cache.get()
    assert (hit.content, hit.from_cache, hit.age, hit.headers.get("x-refreshed")) == (BODY, True, "5", "1")
    assert cache.origin.count() == 2


def test_stale_while_revalidate_stores_a_changed_response_from_the_background(cache: Cache) -> None:
    full: Answer = (200, [("Cache-Control", "max-age=10, stale-while-revalidate=60"), ("ETag", '"v1"')], BODY)
    changed: Answer = (200, [("Cache-Control", "max-age=100"), ("ETag", '"v2"')], NEW_BODY)
    cache.origin.route(URL, conditional_or(full, changed))
    cache.get()
    cache.clock.advance(20)
    assert cache.get().content == BODY  # stale, at once
    assert eventually(cache.fresh), "the background revalidation never stored the new response"
    assert eventually(lambda: cache.transport.received[-1].closed), "the background response was never released"
    hit = cache.get()
    assert (hit.content, hit.from_cache, hit.headers.get("etag")) == (NEW_BODY, True, '"v2"')
    assert cache.origin.count() == 2


def test_past_the_stale_while_revalidate_window_the_caller_waits_for_revalidation(cache: Cache) -> None:
    full: Answer = (200, [("Cache-Control", "max-age=10, stale-while-revalidate=5"), ("ETag", '"v1"')], BODY)
    not_modified: Answer = (304, [("Cache-Control", "max-age=100"), ("ETag", '"v1"')], b"")
    cache.origin.route(URL, conditional_or(full, not_modified))
    cache.get()
    cache.clock.advance(20)
    resp = cache.get()
    assert (resp.content, resp.from_cache, resp.age) == (BODY, True, "0")  # freshened before it was served
    assert not cache.origin.last().background


# ---------------------------------------------------------------------------
# only-if-cached (RFC 9111 §5.2.1.7)


@pytest.mark.parametrize(
    ("stored_for", "status"),
    [(None, 504), (20.0, 504), (5.0, 200)],
    ids=["nothing-stored", "stale", "fresh"],
)
def test_only_if_cached(cache: Cache, stored_for: Optional[float], status: int) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')], BODY)
    if stored_for is not None:
        cache.get()
        cache.clock.advance(stored_for)
    before = cache.origin.count()
    resp = cache.get(headers=[("Cache-Control", "only-if-cached")])
    assert cache.origin.count() == before  # never reached
    if status == 504:
        assert (resp.status, resp.built, resp.content) == (504, True, b"")
    else:
        assert (resp.status, resp.content, resp.from_cache) == (200, BODY, True)


@pytest.mark.parametrize(
    ("stored_for", "fields"),
    [
        (None, [("Range", "bytes=2-5")]),
        (20.0, [("Range", "bytes=2-5")]),
        (None, [("If-Match", '"v1"')]),
    ],
    ids=["range-nothing-stored", "range-stale", "precondition-nothing-stored"],
)
def test_only_if_cached_with_a_range_or_a_precondition_never_reaches_the_origin(
    cache: Cache, stored_for: Optional[float], fields: Lines
) -> None:
    """RFC 9111 §5.2.1.7, as for the same request without Range or If-Match (above).
    Fails today: ``Engine.handle`` routes preconditions and Range before the lookup, and
    neither ``_send`` for preconditions nor ``_range``'s fallback ``_fetch`` looks at
    only-if-cached (package bug, reported)."""
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')], BODY)
    if stored_for is not None:
        cache.get()
        cache.clock.advance(stored_for)
    before = cache.origin.count()
    resp = cache.get(headers=[*fields, ("Cache-Control", "only-if-cached")])
    assert (resp.status, resp.content) == (504, b"")
    assert cache.origin.count() == before


# ---------------------------------------------------------------------------
# Range (RFC 9111 §3.3, §3.4)


@pytest.mark.parametrize(
    ("asked", "body", "content_range"),
    [
        ("bytes=2-5", b"2345", "bytes 2-5/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ],
)
def test_a_stored_200_answers_a_range_with_a_206(cache: Cache, asked: str, body: bytes, content_range: str) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60")], BODY)
    cache.get()
    cache.clock.advance(4)
    resp = cache.get(headers=[("Range", asked)])
    assert (resp.status, resp.content, resp.from_cache, resp.age) == (206, body, True, "4")
    assert resp.headers.get("content-range") == content_range
    assert resp.headers.get("content-length") == str(len(body))
    assert cache.origin.count() == 1


def _ranged(fields: Headers) -> Answer:
    """An origin that honours ``Range: bytes=a-b`` on BODY."""
    spec = fields.get("range")
    if spec is None:
        return 200, [("Cache-Control", "max-age=60")], BODY
    first, _, last = spec.removeprefix("bytes=").partition("-")
    part = BODY[int(first) : int(last) + 1]
    return 206, [("Cache-Control", "max-age=60"), ("Content-Range", f"bytes {first}-{last}/{len(BODY)}")], part


def test_a_range_miss_goes_to_the_origin_and_its_206_answers_that_range_later(cache: Cache) -> None:
    cache.origin.route(URL, _ranged)
    first = cache.get(headers=[("Range", "bytes=2-5")])
    assert (first.status, first.content, first.from_cache) == (206, b"2345", False)
    assert cache.origin.last().get("range") == "bytes=2-5"

    within = cache.get(headers=[("Range", "bytes=3-4")])  # held by the stored 206 (§3.4)
    assert (within.status, within.content, within.from_cache) == (206, b"34", True)
    assert within.headers.get("content-range") == "bytes 3-4/10"
    assert cache.origin.count() == 1

    outside = cache.get(headers=[("Range", "bytes=6-8")])
    assert (outside.status, outside.content, outside.from_cache) == (206, b"678", False)
    plain = cache.get()  # a stored 206 never answers a request for the whole
    assert (plain.status, plain.content, plain.from_cache) == (200, BODY, False)
    assert cache.origin.count() == 3


def test_a_range_on_a_stale_entry_goes_to_the_origin(cache: Cache) -> None:
    cache.origin.route(URL, _ranged)
    cache.get()
    cache.clock.advance(100)
    resp = cache.get(headers=[("Range", "bytes=2-5")])
    assert (resp.status, resp.content, resp.from_cache) == (206, b"2345", False)
    assert cache.origin.count() == 2


# ---------------------------------------------------------------------------
# Unsafe methods invalidate (RFC 9111 §4.4); preconditions pass through (RFC 9110 §13.1)


def _store(cache: Cache, url: str, body: bytes = BODY) -> None:
    cache.origin.reply(url, 200, [("Cache-Control", "max-age=600")], body)
    assert not cache.get(url).from_cache
    assert cache.get(url).from_cache


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_an_unsafe_method_invalidates_the_stored_get(cache: Cache, method: str) -> None:
    _store(cache, URL)
    cache.origin.reply(URL, 204, [], b"", method=method)
    resp = cache.send(method=method)
    assert (resp.status, resp.from_cache) == (204, False)
    after = cache.get()
    assert (after.content, after.from_cache) == (BODY, False)
    assert [s.method for s in cache.origin.sent()] == ["GET", method, "GET"]


@pytest.mark.parametrize(
    ("name", "target", "invalidated"),
    [
        ("Location", "/other", True),
        ("Content-Location", "/other", True),
        ("Location", "http://example.com/other", True),
        ("Location", "http://elsewhere.example/other", False),  # another origin: never
    ],
)
def test_an_unsafe_method_invalidates_a_same_origin_location(
    cache: Cache, name: str, target: str, invalidated: bool
) -> None:
    _store(cache, URL)
    absolute = target if target.startswith("http") else OTHER
    _store(cache, absolute)
    cache.origin.reply(URL, 201, [(name, target)], b"", method="POST")
    cache.send(method="POST")
    assert cache.get(absolute).from_cache is not invalidated
    assert cache.get(URL).from_cache is False


def test_an_unsafe_method_answered_with_an_error_invalidates_nothing(cache: Cache) -> None:
    _store(cache, URL)
    cache.origin.reply(URL, 500, [], b"", method="POST")
    assert cache.send(method="POST").status == 500
    assert cache.get().from_cache


def test_a_post_is_never_answered_from_the_cache(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60")], BODY, method="POST")
    for _ in range(2):
        resp = cache.get(method="POST")
        assert (resp.content, resp.from_cache) == (BODY, False)
    assert cache.origin.count(method="POST") == 2


def test_a_post_answer_with_its_own_content_location_answers_later_gets(cache: Cache) -> None:
    _store(cache, URL)
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60"), ("Content-Location", URL)], NEW_BODY, method="POST")
    assert cache.get(method="POST").content == NEW_BODY
    hit = cache.get()
    assert (hit.content, hit.from_cache) == (NEW_BODY, True)
    assert cache.origin.count(method="GET") == 1


@pytest.mark.parametrize(
    "precondition",
    [("If-Match", '"v1"'), ("If-Unmodified-Since", LAST_MODIFIED), ("If-Range", '"v1"')],
    ids=["if-match", "if-unmodified-since", "if-range"],
)
def test_a_request_with_preconditions_passes_through_uncached(cache: Cache, precondition: tuple[str, str]) -> None:
    _store(cache, URL)
    cache.origin.reply(URL, 412, [("Cache-Control", "max-age=600")], b"failed")
    resp = cache.get(headers=[precondition])
    assert (resp.status, resp.content, resp.from_cache) == (412, b"failed", False)
    assert cache.origin.last().get(precondition[0]) == precondition[1]
    hit = cache.get()  # the stored response is as it was
    assert (hit.status, hit.content, hit.from_cache) == (200, BODY, True)
    assert cache.origin.count() == 2


def test_an_answer_to_a_precondition_is_not_stored(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=600"), ("ETag", '"v1"')], BODY)
    assert cache.get(headers=[("If-Match", '"v1"')]).content == BODY
    assert not cache.get().from_cache
    assert cache.origin.count() == 2


# ---------------------------------------------------------------------------
# HEAD (RFC 9111 §4.3.5)


def test_a_head_is_answered_from_a_fresh_stored_get(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60"), ("ETag", '"v1"')], BODY)
    cache.get()
    cache.clock.advance(2)
    resp = cache.get(method="HEAD")
    assert (resp.status, resp.content, resp.from_cache, resp.age) == (200, b"", True, "2")
    assert (resp.headers.get("etag"), resp.headers.get("content-length")) == ('"v1"', str(len(BODY)))
    assert cache.origin.count() == 1


@pytest.mark.parametrize(
    ("head_fields", "later", "get_after"),
    [
        ([("ETag", '"v2"')], 0, "unconditional"),  # contradicts the stored GET: removed
        ([("ETag", '"v1"'), ("Content-Length", "99")], 0, "unconditional"),  # another length: removed
        ([("ETag", '"v1"')], 0, "hit"),  # selects it: freshened as a 304 would (§4.3.4)
        ([("ETag", '"v1"')], 15, "conditional"),  # ... for its own max-age=10
        ([("ETag", '"v1"'), ("Cache-Control", "max-age=600")], 100, "hit"),  # ... with the HEAD's fields
    ],
    ids=["other-etag", "other-length", "same-etag", "same-etag-stale-again", "same-etag-new-max-age"],
)
def test_a_head_response_updates_or_removes_the_stored_get(
    cache: Cache, head_fields: Lines, later: float, get_after: str
) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')], BODY)
    cache.get()
    cache.clock.advance(20)  # stale: the HEAD reaches the origin
    cache.origin.reply(URL, 200, head_fields, BODY, method="HEAD")
    head = cache.get(method="HEAD")
    assert (head.status, head.content, head.from_cache) == (200, b"", False)
    assert cache.origin.count(method="HEAD") == 1

    cache.clock.advance(later)
    after = cache.get()
    if get_after == "hit":
        assert (after.content, after.from_cache) == (BODY, True)
        assert cache.origin.count(method="GET") == 1
    else:
        assert cache.origin.count(method="GET") == 2
        expected = {} if get_after == "unconditional" else {"if-none-match": '"v1"'}
        assert cache.origin.last().conditional == expected


# ---------------------------------------------------------------------------
# Coalescing of concurrent misses (DESIGN.md rule 7)


@dataclass
class Outcome:
    status: int = 0
    body: bytes = b""
    from_cache: Optional[bool] = None
    error: Optional[BaseException] = None


class Blocked:
    """A route answered only once the test lets the origin go."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.go = threading.Event()

    def __call__(self, fields: Headers) -> Answer:
        assert self.go.wait(DEADLINE), "the origin was never let go"
        return self.answer


def _caller(cache: Cache, outcome: Outcome) -> Callable[[], None]:
    def run() -> None:
        try:
            resp = cache.send()
            outcome.status, outcome.body, outcome.from_cache = resp.status, resp.content, resp.from_cache
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            outcome.error = exc

    return run


def _join(cache: Cache) -> None:
    for thread in cache.threads:
        thread.join(DEADLINE)
        assert not thread.is_alive(), "a caller is still waiting"


def _misses_while_blocked(cache: Cache, blocked: Blocked, followers: int) -> list[Outcome]:
    """A leader held at the origin, then ``followers`` concurrent misses for the same URL."""
    outcomes = [Outcome() for _ in range(followers + 1)]
    before = cache.origin.count()
    cache.start(_caller(cache, outcomes[0]))
    assert eventually(lambda: cache.origin.count() == before + 1)
    for outcome in outcomes[1:]:
        cache.start(_caller(cache, outcome))
    time.sleep(0.2)  # let the followers queue up (not an assertion: a late one is a hit or a miss either way)
    return outcomes


def test_concurrent_misses_make_one_origin_request(cache: Cache) -> None:
    blocked = Blocked((200, [("Cache-Control", "max-age=60")], BODY))
    cache.origin.route(URL, blocked)
    try:
        outcomes = _misses_while_blocked(cache, blocked, followers=4)
        assert cache.origin.count() == 1
    finally:
        blocked.go.set()
    _join(cache)
    assert [(o.error, o.status, o.body) for o in outcomes] == [(None, 200, BODY)] * 5
    assert [o.from_cache for o in outcomes] == [False] + [True] * 4
    assert cache.origin.count() == 1


def test_a_non_storable_answer_lets_the_followers_go_each_to_the_origin(cache: Cache) -> None:
    blocked = Blocked((200, [("Cache-Control", "no-store")], BODY))
    cache.origin.route(URL, blocked)
    try:
        outcomes = _misses_while_blocked(cache, blocked, followers=3)
        assert cache.origin.count() == 1  # the followers wait for the leader's answer
    finally:
        blocked.go.set()
    _join(cache)
    assert [(o.error, o.status, o.body, o.from_cache) for o in outcomes] == [(None, 200, BODY, False)] * 4
    assert cache.origin.count() == 4  # each follower then sends its own


def test_after_a_non_storable_answer_misses_no_longer_wait(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "no-store")], BODY)
    cache.get()
    blocked = Blocked((200, [("Cache-Control", "no-store")], BODY))
    cache.origin.route(URL, blocked)
    outcomes = [Outcome() for _ in range(3)]
    try:
        for outcome in outcomes:
            cache.start(_caller(cache, outcome))
        assert eventually(lambda: cache.origin.count() == 4), "misses of a 'pass' URL queued up"
    finally:
        blocked.go.set()
    _join(cache)
    assert [(o.error, o.body) for o in outcomes] == [(None, BODY)] * 3


def test_a_follower_whose_timeout_runs_out_before_the_leader_has_a_response_times_out(cache: Cache) -> None:
    blocked = Blocked((200, [("Cache-Control", "max-age=60")], BODY))
    cache.origin.route(URL, blocked)
    leader = Outcome()
    try:
        cache.start(_caller(cache, leader))
        assert eventually(lambda: cache.origin.count() == 1)
        started = time.monotonic()
        with pytest.raises(TimedOutError):
            cache.send(wait_bound=0.1)
        assert time.monotonic() - started < DEADLINE
        assert cache.origin.count() == 1
    finally:
        blocked.go.set()
    _join(cache)
    assert (leader.error, leader.body) == (None, BODY)


def test_a_follower_whose_timeout_runs_out_after_the_leader_has_a_response_sends_its_own(cache: Cache) -> None:
    cache.origin.reply(URL, 200, [("Cache-Control", "max-age=60")], BODY)
    leader = cache.send()  # its body not read yet: nothing stored
    follower = cache.send(wait_bound=0.1)
    assert (follower.status, follower.content, follower.from_cache) == (200, BODY, False)
    assert cache.origin.count() == 2
    assert leader.content == BODY


def test_a_streaming_leader_lets_its_followers_go_at_once(cache: Cache) -> None:
    answer: Answer = (200, [("Cache-Control", "max-age=60")], BODY)
    blocked = Blocked(answer)
    cache.origin.route(URL, blocked)
    handed_over, may_read = threading.Event(), threading.Event()
    leader = Outcome()

    def streaming_leader() -> None:
        try:
            resp = cache.send(stream=True)
            handed_over.set()
            may_read.wait(DEADLINE)
            leader.status, leader.body = resp.status, resp.content
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            leader.error = exc

    def once_both_followers_asked(fields: Headers) -> Answer:
        eventually(lambda: cache.origin.count() >= 3)
        return answer

    followers = [Outcome() for _ in range(2)]
    try:
        cache.start(streaming_leader)
        assert eventually(lambda: cache.origin.count() == 1)
        for outcome in followers:
            cache.start(_caller(cache, outcome))
        time.sleep(0.2)  # let the followers queue up
        assert cache.origin.count() == 1
        cache.origin.route(URL, once_both_followers_asked)
        blocked.go.set()
        assert handed_over.wait(DEADLINE)
        # the leader's caller has not read a byte: the followers ask the origin themselves
        assert eventually(lambda: cache.origin.count() == 3), "followers waited on a streaming leader"
    finally:
        blocked.go.set()
        may_read.set()
    _join(cache)
    assert [(o.error, o.body, o.from_cache) for o in followers] == [(None, BODY, False)] * 2
    assert (leader.error, leader.body) == (None, BODY)
    assert cache.origin.count() == 3


@pytest.mark.parametrize(
    ("fields", "answer"),
    [
        ([("If-None-Match", '"v1"')], (304, [("ETag", '"v1"')], b"")),
        ([("Cache-Control", "no-store")], (200, [("Cache-Control", "max-age=60"), ("ETag", '"v1"')], BODY)),
    ],
    ids=["a-callers-conditional-answered-304", "a-request-no-store"],
)
def test_an_answer_not_stored_for_one_requests_sake_leaves_coalescing_on(
    cache: Cache, fields: Lines, answer: Answer
) -> None:
    """An answer not stored because of what one request asked (its own conditional, its
    no-store) says nothing of the URL's responses: concurrent plain misses after it still
    make one origin request. Fails today: ``Engine._received`` marks the key "pass" (no
    coalescing for ``_coalesce.PASS_SECONDS``) for every outcome but Store (package bug,
    reported)."""
    cache.origin.reply(URL, *answer)
    cache.get(headers=fields)
    assert not cache.stored()
    blocked = Blocked((200, [("Cache-Control", "max-age=60")], BODY))
    cache.origin.route(URL, blocked)
    try:
        outcomes = _misses_while_blocked(cache, blocked, followers=2)
        assert cache.origin.count() == 2, "plain misses were not coalesced"
    finally:
        blocked.go.set()
    _join(cache)
    assert [(o.error, o.body) for o in outcomes] == [(None, BODY)] * 3


def test_coalesce_timeout_zero_turns_coalescing_off(make: Make) -> None:
    cache = make(CacheOptions(coalesce_timeout=0))
    blocked = Blocked((200, [("Cache-Control", "max-age=60")], BODY))
    cache.origin.route(URL, blocked)
    outcomes = [Outcome() for _ in range(4)]
    try:
        for outcome in outcomes:
            cache.start(_caller(cache, outcome))
        assert eventually(lambda: cache.origin.count() == 4), "misses waited for each other"
    finally:
        blocked.go.set()
    _join(cache)
    assert [(o.error, o.body, o.from_cache) for o in outcomes] == [(None, BODY, False)] * 4


# ---------------------------------------------------------------------------
# A surrogate announces itself (W3C Edge Architecture §2)


@pytest.mark.parametrize(
    ("options", "callers", "announced"),
    [
        (CacheOptions(shared=True, surrogate="edge"), None, 'edge="Surrogate/1.0"'),
        (
            CacheOptions(shared=True, surrogate="edge"),
            'inner="Surrogate/1.0"',
            'inner="Surrogate/1.0", edge="Surrogate/1.0"',
        ),
        (CacheOptions(shared=True), None, None),
    ],
    ids=["surrogate", "behind-another", "not-a-surrogate"],
)
def test_a_surrogate_sends_surrogate_capability(
    make: Make, options: CacheOptions, callers: Optional[str], announced: Optional[str]
) -> None:
    cache = make(options)
    cache.origin.route(URL, conditional_or((200, ETAGGED, BODY), (304, [("ETag", '"v1"')], b"")))
    fields = [] if callers is None else [("Surrogate-Capability", callers)]
    cache.get(headers=fields)
    cache.clock.advance(20)
    cache.get(headers=fields)  # a revalidation
    cache.origin.reply(URL, 204, [], b"", method="POST")
    cache.send(method="POST", headers=fields)
    assert [s.get("surrogate-capability") for s in cache.origin.sent()] == [announced] * 3
    assert cache.origin.sent()[1].conditional == {"if-none-match": '"v1"', "if-modified-since": LAST_MODIFIED}

"""The user's opt-in controls (issue 12 parts 2-4) against the stdlib origin, counting what
reached it: expiry you choose (``expire_after``, ``urls_expire_after``, ``max_ttl``), what
is stored and how it is found (``filter_fn``, ``ignored_parameters``, ``match_headers``),
and the modes (``httpcache.settings`` per block, ``CacheOptions.mode`` per session)."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest
import requests
from _e2e_helpers import from_cache, http_date, validating
from origin import Origin, Reply, Seen

import httpcache
from httpcache import (
    DO_NOT_CACHE,
    CacheControl,
    CacheControlAdapter,
    CacheController,
    CacheMissError,
    CacheOptions,
    DictCache,
    Force,
    HTTPCacheError,
)

PLAIN = Reply(200, [("Content-Type", "application/json")], b'{"plain": true}')  # no caching headers
MAX_AGE = [("Cache-Control", "max-age=60")]

Build = Callable[..., requests.Session]


def _wrapper(cache: DictCache, **options: Any) -> requests.Session:
    return CacheControl(requests.Session(), cache, **options)


def _adapter(cache: DictCache, **options: Any) -> requests.Session:
    sess = requests.Session()
    adapter = CacheControlAdapter(cache, **options)
    sess.mount("http://", adapter)
    return sess


def _controller(cache: DictCache, **options: Any) -> requests.Session:
    sess = requests.Session()
    sess.mount("http://", CacheControlAdapter(controller=CacheController(cache, options=CacheOptions(**options))))
    return sess


ENTRY_POINTS = ["CacheControl", "CacheControlAdapter", "CacheController"]


@pytest.fixture(params=[_wrapper, _adapter, _controller], ids=ENTRY_POINTS)
def build(request: pytest.FixtureRequest, cache: DictCache) -> Iterator[Build]:
    """A session with these options, through each entry point in turn."""
    made: list[requests.Session] = []

    def make(**options: Any) -> requests.Session:
        sess: requests.Session = request.param(cache, **options)
        sess.trust_env = False
        made.append(sess)
        return sess

    yield make
    for sess in made:
        sess.close()


def _stored_bytes(cache: DictCache) -> bytes:
    return b"".join(key.encode() + bytes(value) for key, value in cache.data.items())


# ---------------------------------------------------------------------------
# Expiry you choose


def test_expire_after_gives_a_lifetime_to_responses_without_one(origin: Origin, build: Build) -> None:
    origin.route("/plain", PLAIN)
    origin.route("/zero", Reply(200, [("Cache-Control", "max-age=0")], b"zero"))
    default = build()
    default.get(origin.url("/plain"))
    assert from_cache(default.get(origin.url("/plain"))) is False  # RFC 9111: nothing to reuse it by
    assert origin.count("/plain") == 2
    sess = build(expire_after=timedelta(minutes=1))
    sess.get(origin.url("/plain"))
    second = sess.get(origin.url("/plain"))
    assert from_cache(second) is True and second.json() == {"plain": True}
    assert origin.count("/plain") == 3
    # an explicit lifetime is the origin's, not expire_after's
    sess.get(origin.url("/zero"))
    assert from_cache(sess.get(origin.url("/zero"))) is False
    assert origin.count("/zero") == 2


def test_urls_expire_after_first_match_wins_glob_and_regex(origin: Origin, build: Build) -> None:
    for path in ("/api/a", "/api/nocache", "/static/x", "/other"):
        origin.route(path, PLAIN)
    origin.route("/forced", Reply(200, [("Cache-Control", "no-store, no-cache, private")], b"forced"))
    sess = build(
        urls_expire_after={
            "127.0.0.1:*/api/nocache": DO_NOT_CACHE,
            "127.0.0.1:*/api/*": 60,
            re.compile(r"/static/"): timedelta(seconds=60),
            re.compile(r"/forced$"): Force(60),
        }
    )
    for path in ("/api/a", "/api/nocache", "/static/x", "/other", "/forced"):
        sess.get(origin.url(path))
        sess.get(origin.url(path))
    assert [origin.count(p) for p in ("/api/a", "/api/nocache", "/static/x", "/other", "/forced")] == [1, 2, 1, 2, 1]
    assert sess.get(origin.url("/forced")).content == b"forced"


def test_do_not_cache_keeps_out_a_response_the_rfc_would_store(origin: Origin, build: Build) -> None:
    origin.route("/fresh", Reply(200, MAX_AGE, b"f"))
    sess = build(urls_expire_after=[("*/fresh", DO_NOT_CACHE)])
    sess.get(origin.url("/fresh"))
    assert from_cache(sess.get(origin.url("/fresh"))) is False
    assert origin.count("/fresh") == 2


def test_max_ttl_caps_what_the_origin_asks(origin: Origin, build: Build) -> None:
    # received two minutes old (Date), fresh for an hour by its max-age, for a minute by max_ttl
    origin.route("/long", Reply(200, [("Cache-Control", "max-age=3600"), ("Date", http_date(-120))], b"l"))
    default = build()
    default.get(origin.url("/long"))
    assert from_cache(default.get(origin.url("/long"))) is True
    assert origin.count("/long") == 1
    capped = build(max_ttl=60)
    assert from_cache(capped.get(origin.url("/long"))) is False
    assert origin.count("/long") == 2


def _echo_user(seen: Seen) -> Reply:
    user = seen.headers.get("authorization", "anonymous")
    return Reply(200, [("Cache-Control", "no-store")], user.encode())


def test_forced_caching_never_hands_one_users_response_to_another(origin: Origin, build: Build) -> None:
    origin.route("/me", _echo_user)
    sess = build(urls_expire_after={"*/me": Force(3600)})
    for _ in range(3):
        assert sess.get(origin.url("/me"), headers={"Authorization": "Bearer alice"}).content == b"Bearer alice"
        assert sess.get(origin.url("/me"), headers={"Authorization": "Bearer bob"}).content == b"Bearer bob"
        assert sess.get(origin.url("/me")).content == b"anonymous"
    assert origin.count("/me") == 3  # one per user, then each from the cache


def test_forced_caching_in_a_shared_cache_leaves_credentialed_requests_out(origin: Origin, cache: DictCache) -> None:
    origin.route("/me", _echo_user)
    sess = CacheControl(requests.Session(), cache, shared=True, urls_expire_after={"*/me": Force(3600)})
    assert sess.get(origin.url("/me"), headers={"Authorization": "Bearer alice"}).content == b"Bearer alice"
    assert sess.get(origin.url("/me"), headers={"Authorization": "Bearer bob"}).content == b"Bearer bob"
    assert origin.count("/me") == 2 and len(cache) == 0
    sess.get(origin.url("/me"))
    assert sess.get(origin.url("/me")).content == b"anonymous" and origin.count("/me") == 3
    sess.close()


# ---------------------------------------------------------------------------
# What is stored and how it is found


def test_filter_fn_decides_what_is_stored(origin: Origin, build: Build) -> None:
    origin.route("/keep", Reply(200, [*MAX_AGE, ("X-Keep", "yes")], b"k"))
    origin.route("/drop", Reply(200, MAX_AGE, b"d"))
    sess = build(filter_fn=lambda resp: resp.headers.get("X-Keep") == "yes")
    for path in ("/keep", "/drop"):
        sess.get(origin.url(path))
        sess.get(origin.url(path))
    assert (origin.count("/keep"), origin.count("/drop")) == (1, 2)


def test_a_failing_filter_keeps_the_response_out(origin: Origin, build: Build) -> None:
    origin.route("/r", Reply(200, MAX_AGE, b"r"))

    def broken(resp: requests.Response) -> bool:
        raise RuntimeError("bug")

    sess = build(filter_fn=broken)
    assert sess.get(origin.url("/r")).content == b"r"
    assert sess.get(origin.url("/r")).content == b"r"
    assert origin.count("/r") == 2


def test_ignored_parameters_leave_the_key_and_the_store(origin: Origin, build: Build, cache: DictCache) -> None:
    origin.route("/data", Reply(200, [*MAX_AGE, ("Vary", "X-Api-Token")], b"data"))
    sess = build(ignored_parameters=("api_key", "X-Api-Token"))
    first = sess.get(origin.url("/data?q=1&api_key=SECRET1"), headers={"X-Api-Token": "TOKEN1"})
    second = sess.get(origin.url("/data?api_key=SECRET2&q=1"), headers={"X-Api-Token": "TOKEN2"})
    third = sess.get(origin.url("/data?q=1"))
    assert from_cache(first) is False and from_cache(second) is True and from_cache(third) is True
    assert origin.count("/data") == 1
    seen = origin.last("/data")  # the origin still got them
    assert "api_key=SECRET1" in seen.path and seen.headers["x-api-token"] == "TOKEN1"
    stored = _stored_bytes(cache)
    assert stored and b"SECRET" not in stored and b"TOKEN" not in stored and b"api_key" not in stored
    # another value of a parameter that is not ignored is another entry
    sess.get(origin.url("/data?q=2&api_key=SECRET1"))
    assert origin.count("/data") == 2


def test_match_headers_select_a_stored_response_as_vary_would(origin: Origin, build: Build) -> None:
    origin.route("/i18n", lambda seen: Reply(200, MAX_AGE, seen.headers.get("accept-language", "none").encode()))
    sess = build(match_headers=("Accept-Language",))
    for _ in range(2):
        assert sess.get(origin.url("/i18n"), headers={"Accept-Language": "fr"}).content == b"fr"
        assert sess.get(origin.url("/i18n"), headers={"Accept-Language": "de"}).content == b"de"
        assert sess.get(origin.url("/i18n")).content == b"none"
    assert origin.count("/i18n") == 3
    default = build()
    default.get(origin.url("/other-cache-same-origin"))  # the default: the first language answers all
    assert default.get(origin.url("/i18n"), headers={"Accept-Language": "fr"}).content == b"fr"


# ---------------------------------------------------------------------------
# Modes


def test_refresh_revalidates_a_fresh_response(origin: Origin, build: Build) -> None:
    origin.route("/v", validating(b"v", MAX_AGE, etag='"1"'))
    sess = build()
    sess.get(origin.url("/v"))
    with httpcache.settings(mode="refresh"):
        again = sess.get(origin.url("/v"))
    assert again.content == b"v" and from_cache(again) is True
    assert origin.count("/v") == 2 and origin.last("/v").headers.get("if-none-match") == '"1"'
    assert from_cache(sess.get(origin.url("/v"))) is True and origin.count("/v") == 2


def test_force_refresh_ignores_the_stored_response_and_stores_the_new_one(origin: Origin, build: Build) -> None:
    versions = iter([b"one", b"two"])
    origin.route("/f", lambda seen: Reply(200, [*MAX_AGE, ("ETag", '"x"')], next(versions)))
    sess = build()
    assert sess.get(origin.url("/f")).content == b"one"
    with httpcache.settings(mode="force-refresh"):
        assert sess.get(origin.url("/f")).content == b"two"
    assert "if-none-match" not in origin.last("/f").headers
    hit = sess.get(origin.url("/f"))
    assert hit.content == b"two" and from_cache(hit) is True and origin.count("/f") == 2


def test_only_if_cached_answers_504_or_raises_on_a_miss(origin: Origin, build: Build) -> None:
    origin.route("/o", Reply(200, [("Cache-Control", "max-age=60"), ("Date", http_date(-120))], b"old"))
    sess = build()
    with httpcache.settings(mode="only-if-cached"):
        assert sess.get(origin.url("/o")).status_code == 504
        with httpcache.settings(raise_on_miss=True), pytest.raises(CacheMissError, match="/o"):
            sess.get(origin.url("/o"))
    assert origin.count("/o") == 0
    sess.get(origin.url("/o"))  # stored, stale
    with httpcache.settings(mode="only-if-cached"):
        assert sess.get(origin.url("/o")).status_code == 504  # stale is not usable
    with httpcache.settings(mode="offline"):
        stale = sess.get(origin.url("/o"))  # offline serves it stale (RFC 9111 §4.2.4)
    assert stale.content == b"old" and from_cache(stale) is True and origin.count("/o") == 1


def test_offline_does_not_serve_stale_what_must_be_revalidated(origin: Origin, build: Build) -> None:
    origin.route("/mr", Reply(200, [("Cache-Control", "max-age=1, must-revalidate"), ("Date", http_date(-60))], b"m"))
    sess = build(mode="offline")
    assert sess.get(origin.url("/mr")).status_code == 504  # the session's mode: nothing stored
    with httpcache.settings(mode="default"):
        sess.get(origin.url("/mr"))
    assert sess.get(origin.url("/mr")).status_code == 504 and origin.count("/mr") == 1


def test_read_only_uses_the_cache_but_never_changes_it(origin: Origin, build: Build, cache: DictCache) -> None:
    origin.route("/kept", Reply(200, MAX_AGE, b"kept"))
    origin.route("/new", Reply(200, MAX_AGE, b"new"))
    sess = build()
    sess.get(origin.url("/kept"))
    before = dict(cache.data)
    with httpcache.settings(mode="read-only"):
        assert from_cache(sess.get(origin.url("/kept"))) is True
        sess.get(origin.url("/new"))
        assert from_cache(sess.get(origin.url("/new"))) is False
        sess.post(origin.url("/kept"))  # would invalidate (RFC 9111 §4.4)
    assert dict(cache.data) == before
    assert origin.count("/new") == 2 and origin.count("/kept") == 2  # the GET, then the POST


def test_disabled_sends_everything_and_stores_nothing(origin: Origin, build: Build, cache: DictCache) -> None:
    origin.route("/d", Reply(200, MAX_AGE, b"d"))
    sess = build()
    sess.get(origin.url("/d"))
    with httpcache.settings(mode="disabled"):
        assert from_cache(sess.get(origin.url("/d"))) is False
        origin.route("/e", Reply(200, MAX_AGE, b"e"))
        sess.get(origin.url("/e"))
        with httpcache.settings(mode="default"):  # nested: the inner block's mode
            assert from_cache(sess.get(origin.url("/d"))) is True
        sess.post(origin.url("/d"))  # an unsafe method still invalidates
    assert origin.count("/d") == 3 and origin.count("/e") == 1  # two GETs and the POST
    assert from_cache(sess.get(origin.url("/e"))) is False
    assert from_cache(sess.get(origin.url("/d"))) is False  # invalidated by the POST


def test_threads_with_different_modes_on_one_session(origin: Origin, cache: DictCache) -> None:
    origin.route("/t", Reply(200, MAX_AGE, b"t"))
    sess = CacheControl(requests.Session(), cache)
    sess.trust_env = False
    sess.get(origin.url("/t"))
    modes = ["default", "disabled", "offline", "force-refresh", "only-if-cached", "read-only"] * 2
    rounds = 20
    barrier = threading.Barrier(len(modes))
    results: dict[int, list[tuple[int, bool]]] = {}
    errors: list[BaseException] = []

    def worker(index: int, mode: str) -> None:
        try:
            barrier.wait()
            got = []
            with httpcache.settings(mode=mode):
                for _ in range(rounds):
                    resp = sess.get(origin.url("/t"))
                    got.append((resp.status_code, from_cache(resp)))
                    miss = sess.get(origin.url("/missing-" + mode))
                    got.append((miss.status_code, from_cache(miss)))
            results[index] = got
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, m)) for i, m in enumerate(modes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for index, mode in enumerate(modes):
        hits = results[index][0::2]
        misses = results[index][1::2]
        if mode in ("default", "offline", "only-if-cached", "read-only"):
            assert hits == [(200, True)] * rounds, mode
        else:
            assert hits == [(200, False)] * rounds, mode
        if mode in ("offline", "only-if-cached"):
            assert misses == [(504, False)] * rounds, mode
    assert origin.count("/missing-offline") == 0 and origin.count("/missing-only-if-cached") == 0
    assert origin.count("/missing-disabled") == 2 * rounds  # two threads, nothing stored
    sess.close()


def test_settings_do_not_leak_out_of_their_block(origin: Origin, session: requests.Session) -> None:
    origin.route("/s", Reply(200, MAX_AGE, b"s"))
    with httpcache.settings(mode="disabled"):
        session.get(origin.url("/s"))
    session.get(origin.url("/s"))
    assert from_cache(session.get(origin.url("/s"))) is True
    with pytest.raises(RuntimeError), httpcache.settings(mode="offline"):
        raise RuntimeError
    assert from_cache(session.get(origin.url("/s"))) is True and origin.count("/s") == 2


# ---------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"expire_after": -1}, "expire_after"),
        ({"expire_after": "1h"}, "expire_after"),
        ({"max_ttl": float("nan")}, "max_ttl"),
        ({"urls_expire_after": {"": 1}}, "urls_expire_after"),
        ({"urls_expire_after": {"*/x": -5}}, "urls_expire_after"),
        ({"urls_expire_after": "*/x"}, "urls_expire_after"),
        ({"ignored_parameters": "api_key"}, "ignored_parameters"),
        ({"match_headers": ("not a field",)}, "match_headers"),
        ({"mode": "bogus"}, "mode"),
        ({"filter_fn": 3}, "filter_fn"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], names: str) -> None:
    with pytest.raises(HTTPCacheError, match=names):
        CacheOptions(**options)


def test_bad_settings_name_the_setting() -> None:
    with pytest.raises(HTTPCacheError, match="mode"), httpcache.settings(mode="offlne"):
        pass
    with pytest.raises(HTTPCacheError, match="Force"):
        Force(-1)


def test_options_with_rules_compare_and_hash_by_value() -> None:
    a = CacheOptions(urls_expire_after={"*/a": 1, re.compile("b"): Force(timedelta(seconds=2))}, expire_after=5)
    b = CacheOptions(urls_expire_after=[("*/a", 1.0), (re.compile("b"), Force(2))], expire_after=5.0)
    assert a == b and hash(a) == hash(b)
    assert a.replace(max_ttl=3).urls_expire_after == a.urls_expire_after


# ---------------------------------------------------------------------------
# POST cached by its body (cacheable_methods)


def _graphql(seen: Seen) -> Reply:
    try:
        query = json.loads(seen.body)["query"]
    except ValueError:
        query = "a form"
    return Reply(200, [*MAX_AGE, ("Content-Type", "application/json")], f"answer to {query}".encode())


def test_post_is_cached_by_its_body_when_asked(origin: Origin, build: Build, cache: DictCache) -> None:
    origin.route("/graphql", _graphql)
    origin.route("/page", Reply(200, MAX_AGE, b"page"))
    sess = build(cacheable_methods=("GET", "POST"), ignored_parameters=("token",))
    url = origin.url("/graphql")
    a1 = sess.post(url, json={"query": "{a}", "token": "SECRET1"})
    a2 = sess.post(url, json={"token": "SECRET2", "query": "{a}"})  # same data, another token and order
    b1 = sess.post(url, json={"query": "{b}"})
    b2 = sess.post(url, json={"query": "{b}"})
    assert (from_cache(a1), from_cache(a2), from_cache(b1), from_cache(b2)) == (False, True, False, True)
    assert a2.content == a1.content and b"{a}" in a1.content and b"{b}" in b2.content
    assert origin.count("/graphql") == 2
    assert b"SECRET" not in _stored_bytes(cache)  # only a digest of the body is kept
    form1 = sess.post(url, data={"q": "1", "token": "x"})
    form2 = sess.post(url, data={"q": "1", "token": "y"})
    assert from_cache(form1) is False and from_cache(form2) is True and origin.count("/graphql") == 3
    # a GET of the URL is another entry, and a POST that reaches the origin still invalidates it (§4.4)
    sess.get(origin.url("/page"))
    assert from_cache(sess.get(origin.url("/page"))) is True
    origin.route("/page", Reply(200, MAX_AGE, b"page"))
    sess.post(origin.url("/page"), data=b"x")
    assert from_cache(sess.get(origin.url("/page"))) is False


def test_post_is_not_cached_by_default(origin: Origin, build: Build) -> None:
    origin.route("/graphql", _graphql)
    sess = build()
    sess.post(origin.url("/graphql"), json={"query": "{a}"})
    assert from_cache(sess.post(origin.url("/graphql"), json={"query": "{a}"})) is False
    assert origin.count("/graphql") == 2


def test_a_streamed_post_body_is_not_cached(origin: Origin, build: Build) -> None:
    origin.route("/graphql", _graphql)
    sess = build(cacheable_methods=("GET", "POST"))
    for _ in range(2):
        resp = sess.post(origin.url("/graphql"), data=io.BytesIO(b"{a}"))  # sent from the file
        assert from_cache(resp) is False
    assert origin.count("/graphql") == 2


def test_listing_authorization_in_ignored_parameters_opts_out_of_its_separation(origin: Origin, build: Build) -> None:
    origin.route("/me", _echo_user)
    sess = build(urls_expire_after={"*/me": Force(60)}, ignored_parameters=("Authorization",))
    assert sess.get(origin.url("/me"), headers={"Authorization": "Bearer alice"}).content == b"Bearer alice"
    assert sess.get(origin.url("/me"), headers={"Authorization": "Bearer bob"}).content == b"Bearer alice"
    assert origin.count("/me") == 1 and origin.last("/me").headers["authorization"] == "Bearer alice"


def _sorted_query(url: str) -> str:
    base, _, query = url.partition("?")
    return base + ("?" + "&".join(sorted(query.split("&"))) if query else "")


def test_key_fn_is_the_key_of_lookups_writes_and_invalidation(origin: Origin, build: Build) -> None:
    origin.route("/search", Reply(200, MAX_AGE, b"results"))
    sess = build(key_fn=_sorted_query)
    sess.get(origin.url("/search?b=2&a=1"))
    assert from_cache(sess.get(origin.url("/search?a=1&b=2"))) is True
    assert origin.count("/search") == 1 and origin.last("/search").path == "/search?b=2&a=1"  # sent as asked
    sess.post(origin.url("/search?b=2&a=1"))  # invalidates the entry it keys to (RFC 9111 §4.4)
    assert from_cache(sess.get(origin.url("/search?a=1&b=2"))) is False


@pytest.mark.parametrize("key_fn", [lambda url: None, lambda url: 1 / 0], ids=["returns-none", "raises"])
def test_a_failing_key_fn_never_breaks_a_request(
    origin: Origin, build: Build, key_fn: object, caplog: pytest.LogCaptureFixture
) -> None:
    origin.route("/x", Reply(200, MAX_AGE, b"x"))
    sess = build(key_fn=key_fn)
    with caplog.at_level("WARNING", logger="httpcache"):
        first, second = sess.get(origin.url("/x")), sess.get(origin.url("/x"))
    assert first.content == second.content == b"x" and origin.count("/x") == 2  # sent, not cached
    assert first.cache_info.outcome == "bypassed" and "key_fn" in first.cache_info.reason  # type: ignore[attr-defined]
    assert sum("key_fn failed" in r.getMessage() for r in caplog.records) == 1  # once, not per request
    assert sess.put(origin.url("/x"), data=b"y").status_code == 200  # an unsafe request too


def test_raise_on_miss_applies_to_the_requests_own_only_if_cached(origin: Origin, build: Build) -> None:
    origin.route("/q", Reply(200, MAX_AGE, b"q"))
    sess = build(raise_on_miss=True)
    with pytest.raises(CacheMissError) as caught:
        sess.get(origin.url("/q"), headers={"Cache-Control": "only-if-cached"})
    assert caught.value.url == origin.url("/q") and origin.count("/q") == 0
    sess.get(origin.url("/q"))
    assert from_cache(sess.get(origin.url("/q"), headers={"Cache-Control": "only-if-cached"})) is True


def test_settings_work_as_a_decorator(origin: Origin, session: requests.Session) -> None:
    @httpcache.settings(mode="offline")
    def offline_get(url: str) -> requests.Response:
        return session.get(url)

    assert offline_get(origin.url("/nothing")).status_code == 504
    assert origin.count("/nothing") == 0


def test_expire_after_and_max_ttl_for_a_block(origin: Origin, build: Build) -> None:
    origin.route("/plain", PLAIN)
    origin.route("/long", Reply(200, [("Cache-Control", "max-age=3600"), ("Date", http_date(-120))], b"l"))
    sess = build()
    with httpcache.settings(expire_after=timedelta(minutes=1)):
        sess.get(origin.url("/plain"))
        assert from_cache(sess.get(origin.url("/plain"))) is True
        with httpcache.settings(max_ttl=60):  # nested: expire_after kept, max_ttl added
            assert from_cache(sess.get(origin.url("/plain"))) is True
            sess.get(origin.url("/long"))
            assert from_cache(sess.get(origin.url("/long"))) is False  # two minutes old, capped at one
    assert origin.count("/plain") == 1 and origin.count("/long") == 2
    assert from_cache(sess.get(origin.url("/long"))) is True  # outside: the origin's hour
    assert from_cache(sess.get(origin.url("/plain"))) is False  # outside: no lifetime of its own
    with pytest.raises(HTTPCacheError, match="expire_after"), httpcache.settings(expire_after=-1):
        pass


def test_a_location_invalidates_as_the_cache_keys_it(origin: Origin, build: Build) -> None:
    """RFC 9111 §4.4: an unsafe request's Location is invalidated; with ignored_parameters
    it is the URL without them that is keyed, so that is what is invalidated."""
    origin.route("/item", Reply(200, MAX_AGE, b"item"))
    origin.route("/make", Reply(201, [("Location", "/item?api_key=B")], b""))
    sess = build(ignored_parameters=("api_key",))
    sess.get(origin.url("/item?api_key=A"))
    assert from_cache(sess.get(origin.url("/item?api_key=C"))) is True
    assert sess.post(origin.url("/make"), data=b"x").status_code == 201
    assert from_cache(sess.get(origin.url("/item?api_key=A"))) is False
    assert origin.count("/item") == 2

"""End-to-end: httpcache inside a real ``requests`` session against a real origin.

Every test asserts on what reached the origin (``origin.count`` / ``origin.last``),
not only on ``response.from_cache``.
"""

from __future__ import annotations

import gzip
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, Union

import pytest
import requests
from _e2e_helpers import (
    DeadStore,
    FlakyStore,
    ReadmeDictCache,
    RecordingDictCache,
    from_cache,
    http_date,
    validating,
)
from origin import Origin, Reply, Seen
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response
from urllib3.util.retry import Retry

from httpcache import CacheControl, CacheControlAdapter
from httpcache import DictCache as StoreDictCache
from httpcache.cache import BaseCache
from httpcache.keys import cache_key
from httpcache.policy import STALE_GRACE
from httpcache.serialize import load_response

MAX_AGE = [("Cache-Control", "max-age=60")]


def plain_session(cache: Optional[BaseCache] = None, **kwargs: Any) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, cache=cache, **kwargs)


class CountingAdapter(HTTPAdapter):
    """A user's own adapter: counts what it is asked to send."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[str] = []

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        self.sent.append(request.method or "")
        return super().send(request, *args, **kwargs)


# ---------------------------------------------------------------------------
# Seed usage and custom stores


def test_seed_usage_verbatim(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    origin.route("/seed", Reply(200, MAX_AGE, b"hello seed"))
    url = origin.url("/seed")

    sess = requests.session()
    cached_sess = CacheControl(sess)
    response = cached_sess.get(url)

    assert response.status_code == 200
    assert response.content == b"hello seed"
    assert from_cache(response) is False
    again = cached_sess.get(url)
    assert again.content == b"hello seed"
    assert from_cache(again) is True
    assert origin.count("/seed") == 1
    sess.close()


def test_custom_store_with_two_argument_set(origin: Origin) -> None:
    store = ReadmeDictCache()  # type: ignore[no-untyped-call]
    origin.route("/custom", Reply(200, MAX_AGE, b"custom store"))  # no validator: an expiry hint exists
    url = origin.url("/custom")
    sess = plain_session(store)

    assert sess.get(url).content == b"custom store"
    assert cache_key("GET", url) in store.data
    r = sess.get(url)
    assert r.content == b"custom store"
    assert from_cache(r) is True
    assert origin.count("/custom") == 1

    # its delete raises KeyError on a missing key: invalidating an uncached URL must not break
    origin.route("/other", Reply(200, [], b"ok"))
    assert sess.post(origin.url("/other")).status_code == 200
    # and invalidation of a cached URL goes through it
    assert sess.post(url).status_code == 200
    assert cache_key("GET", url) not in store.data
    assert sess.get(url).content == b"custom store"
    assert origin.count("/custom") == 3  # GET, POST, GET after invalidation


def test_custom_store_with_expiry_hint(origin: Origin) -> None:
    store = RecordingDictCache()
    origin.route("/hint", Reply(200, MAX_AGE, b"hinted"))
    url = origin.url("/hint")
    sess = plain_session(store)

    sess.get(url)
    r = sess.get(url)
    assert r.content == b"hinted"
    assert from_cache(r) is True
    assert origin.count("/hint") == 1
    assert len(store.hints) == 1
    hint = store.hints[0]
    assert hint is not None and 1 + STALE_GRACE <= hint <= 61 + STALE_GRACE


# ---------------------------------------------------------------------------
# The adapter: methods, user adapters, timeouts


def test_every_method_goes_through_the_caching_adapter(origin: Origin) -> None:
    user = CountingAdapter()
    sess = requests.Session()
    sess.trust_env = False
    sess.mount("http://", user)
    CacheControl(sess)
    assert isinstance(sess.get_adapter(origin.url("/m")), CacheControlAdapter)
    origin.route("/m", lambda seen: Reply(200, [("X-Method", seen.method)], b"" if seen.method == "HEAD" else b"m"))

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"]
    for method in methods:
        r = sess.request(method, origin.url("/m"))
        assert r.status_code == 200
        assert r.headers["X-Method"] == method
        assert from_cache(r) is False  # set by the caching adapter only
    assert user.sent == methods
    assert [seen.method for seen in origin.requests] == methods
    assert origin.count("/m") == len(methods)


@pytest.mark.parametrize("prefix", ["http://", "exact"])
def test_user_adapter_with_retries_and_pool_settings_keeps_working(origin: Origin, prefix: str) -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky(seen: Seen) -> Reply:
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            return Reply(503, [], b"try again")
        return Reply(200, MAX_AGE, b"after retry")

    origin.route("/flaky", flaky)
    retries = Retry(total=2, status_forcelist=[503], backoff_factor=0, raise_on_status=False)
    user = CountingAdapter(max_retries=retries, pool_connections=3, pool_maxsize=7)
    sess = requests.Session()
    sess.trust_env = False
    sess.mount(origin.url("/") if prefix == "exact" else prefix, user)
    CacheControl(sess)
    wrapper = sess.get_adapter(origin.url("/flaky"))
    assert isinstance(wrapper, CacheControlAdapter)

    r = sess.get(origin.url("/flaky"))
    assert r.status_code == 200 and r.content == b"after retry"
    assert origin.count("/flaky") == 2  # the 503 was retried by the user's Retry config
    assert user.sent == ["GET"]
    assert user.max_retries is retries
    assert user.poolmanager.connection_pool_kw["maxsize"] == 7
    assert len(user.poolmanager.pools) == 1  # the user's pool carried the request
    assert len(wrapper.poolmanager.pools) == 0

    hit = sess.get(origin.url("/flaky"))
    assert from_cache(hit) is True and hit.content == b"after retry"
    assert user.sent == ["GET"]
    assert origin.count("/flaky") == 2


def test_timeout_is_honoured(origin: Origin, session: requests.Session) -> None:
    origin.route("/slow", Reply(200, MAX_AGE, b"slow", delay=1.0))
    with pytest.raises(requests.Timeout):
        session.get(origin.url("/slow"), timeout=0.25)
    assert origin.count("/slow") == 1


def test_fresh_hit_needs_no_network_despite_short_timeout(origin: Origin, session: requests.Session) -> None:
    origin.route("/fresh", Reply(200, MAX_AGE, b"fresh"))
    session.get(origin.url("/fresh"))
    origin.route("/fresh", Reply(200, MAX_AGE, b"slow now", delay=1.0))
    r = session.get(origin.url("/fresh"), timeout=0.25)
    assert r.content == b"fresh"
    assert from_cache(r) is True
    assert origin.count("/fresh") == 1


# ---------------------------------------------------------------------------
# What requests does with responses: cookies, url, redirects, hooks, flags


def test_set_cookie_reaches_session_cookies_on_a_miss(origin: Origin, session: requests.Session) -> None:
    origin.route("/login", Reply(200, [*MAX_AGE, ("Set-Cookie", "sid=abc123; Path=/")], b"welcome"))
    origin.route("/next", Reply(200, [], b"next"))
    r = session.get(origin.url("/login"))
    assert from_cache(r) is False
    assert session.cookies.get("sid") == "abc123"
    session.get(origin.url("/next"))
    assert origin.last("/next").headers.get("cookie") == "sid=abc123"


@pytest.mark.parametrize("suffix", ["", "?q=1", "#frag", "?q=1#frag"])
def test_response_url(origin: Origin, session: requests.Session, suffix: str) -> None:
    origin.route("/u", Reply(200, MAX_AGE, b"u"))
    url = origin.url("/u") + suffix
    expected = requests.Request("GET", url).prepare().url
    miss = session.get(url)
    hit = session.get(url)
    assert from_cache(miss) is False and from_cache(hit) is True
    assert miss.url == expected and hit.url == expected
    assert origin.count("/u") == 1
    assert "#" not in origin.last("/u").path


def test_fragment_shares_the_entry_of_the_url(origin: Origin, session: requests.Session) -> None:
    origin.route("/frag", Reply(200, MAX_AGE, b"f"))
    session.get(origin.url("/frag"))
    r = session.get(origin.url("/frag#section"))
    assert from_cache(r) is True
    assert r.url == origin.url("/frag#section")
    assert origin.count("/frag") == 1


def test_relative_301_is_cached_and_followed(origin: Origin, session: requests.Session) -> None:
    origin.route("/a/r301", Reply(301, [("Location", "../b/target"), ("Cache-Control", "max-age=3600")]))
    origin.route("/b/target", Reply(200, [], b"target"))

    first = session.get(origin.url("/a/r301"))
    second = session.get(origin.url("/a/r301"))
    for r in (first, second):
        assert r.status_code == 200 and r.content == b"target"
        assert r.url == origin.url("/b/target")
        assert [h.status_code for h in r.history] == [301]
    assert from_cache(first.history[0]) is False
    assert from_cache(second.history[0]) is True
    assert origin.count("/a/r301") == 1
    assert origin.count("/b/target") == 2


def test_302_without_freshness_is_not_cached(origin: Origin, session: requests.Session) -> None:
    origin.route("/r302", Reply(302, [("Location", "/t302"), ("Last-Modified", http_date(-10 * 86400))]))
    origin.route("/t302", Reply(200, [], b"t"))
    for _ in range(2):
        r = session.get(origin.url("/r302"))
        assert r.content == b"t" and r.url == origin.url("/t302")
        assert from_cache(r.history[0]) is False
    assert origin.count("/r302") == 2


def test_response_hooks_called_for_cached_and_uncached(origin: Origin, session: requests.Session) -> None:
    origin.route("/hook", Reply(200, MAX_AGE, b"hook"))
    seen: list[tuple[int, bool, bytes]] = []

    def hook(r: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append((r.status_code, from_cache(r), r.content))

    session.get(origin.url("/hook"), hooks={"response": hook})
    session.get(origin.url("/hook"), hooks={"response": hook})
    assert seen == [(200, False, b"hook"), (200, True, b"hook")]
    assert origin.count("/hook") == 1


def test_from_cache_is_a_bool_on_every_response(origin: Origin, session: requests.Session) -> None:
    origin.route("/f", Reply(200, [*MAX_AGE, ("ETag", '"e"')], b"f"))
    origin.route("/nostore", Reply(200, [("Cache-Control", "no-store")], b"n"))
    origin.route("/err", Reply(500, [], b"e"))
    origin.route("/redir", Reply(302, [("Location", "/f")]))
    responses = [
        session.get(origin.url("/f")),
        session.get(origin.url("/f")),
        session.head(origin.url("/f")),
        session.get(origin.url("/f"), headers={"If-None-Match": '"e"'}),
        session.get(origin.url("/nostore")),
        session.get(origin.url("/err")),
        session.post(origin.url("/nostore")),
        session.get(origin.url("/redir")),
        session.get(origin.url("/missing"), headers={"Cache-Control": "only-if-cached"}),
    ]
    responses += responses[-2].history
    flags = [from_cache(r) for r in responses]  # asserts bool on each
    assert flags == [False, True, True, True, False, False, False, True, False, False]
    assert [r.status_code for r in responses] == [200, 200, 200, 304, 200, 500, 200, 200, 504, 302]
    assert origin.count("/f") == 1
    assert origin.count("/missing") == 0


def test_age_header_on_cached_responses(origin: Origin, session: requests.Session) -> None:
    origin.route("/aged", Reply(200, [("Cache-Control", "max-age=1000"), ("Date", http_date(-100))], b"a"))
    miss = session.get(origin.url("/aged"))
    hit = session.get(origin.url("/aged"))
    assert from_cache(miss) is False and from_cache(hit) is True
    assert "Age" not in miss.headers  # the origin sent none
    assert 100 <= int(hit.headers["Age"]) < 110
    assert origin.count("/aged") == 1


# ---------------------------------------------------------------------------
# Bodies: streaming, early close, gzip, chunked, HEAD


BIG = bytes(random.Random(7).getrandbits(8) for _ in range(64 * 1024))


@pytest.mark.parametrize("chunked", [False, True])
def test_stream_on_miss_and_hit(
    origin: Origin, session: requests.Session, cache: StoreDictCache, chunked: bool
) -> None:
    body: Union[bytes, list[bytes]] = [BIG[i : i + 4096] for i in range(0, len(BIG), 4096)] if chunked else BIG
    origin.route("/stream", Reply(200, MAX_AGE, body))
    url = origin.url("/stream")
    key = cache_key("GET", url)

    r = session.get(url, stream=True)
    assert from_cache(r) is False
    assert key not in cache.data  # nothing stored before the body was read
    it = r.iter_content(chunk_size=1024)
    first = next(it)
    assert len(first) == 1024
    assert key not in cache.data
    rest = list(it)
    assert first + b"".join(rest) == BIG
    assert len(rest) >= 60
    assert key in cache.data  # stored once read completely

    hit = session.get(url, stream=True)
    assert from_cache(hit) is True
    chunks = list(hit.iter_content(chunk_size=1024))
    assert b"".join(chunks) == BIG and len(chunks) == 64
    assert origin.count("/stream") == 1


@pytest.mark.parametrize("chunked", [False, True])
def test_response_closed_before_fully_read_is_not_stored(
    origin: Origin, session: requests.Session, cache: StoreDictCache, chunked: bool
) -> None:
    body: Union[bytes, list[bytes]] = [BIG[i : i + 4096] for i in range(0, len(BIG), 4096)] if chunked else BIG
    origin.route("/partial", Reply(200, MAX_AGE, body))
    url = origin.url("/partial")

    r = session.get(url, stream=True)
    assert len(r.raw.read(100)) == 100
    r.close()
    assert cache_key("GET", url) not in cache.data

    full = session.get(url)
    assert full.content == BIG and from_cache(full) is False
    assert origin.count("/partial") == 2  # the early-closed response was not stored
    hit = session.get(url)
    assert hit.content == BIG and from_cache(hit) is True
    assert origin.count("/partial") == 2


def test_gzip_stored_raw_and_served_decoded(origin: Origin, session: requests.Session, cache: StoreDictCache) -> None:
    original = b"compressible text " * 500
    compressed = gzip.compress(original)
    origin.route(
        "/gz", Reply(200, [*MAX_AGE, ("Content-Encoding", "gzip"), ("Content-Type", "text/plain")], compressed)
    )
    url = origin.url("/gz")

    miss = session.get(url)
    assert miss.content == original
    stored = load_response(cache.data[cache_key("GET", url)])
    assert stored is not None and stored.body == compressed  # stored as received

    hit = session.get(url)
    assert from_cache(hit) is True
    assert hit.content == original
    assert hit.headers["Content-Encoding"] == "gzip"
    assert hit.headers["Content-Length"] == str(len(compressed))
    raw_hit = session.get(url, stream=True)
    assert raw_hit.raw.read(decode_content=False) == compressed
    assert origin.count("/gz") == 1


def test_chunked_body_cached(origin: Origin, session: requests.Session) -> None:
    chunks = [b"alpha-", b"beta-", b"gamma-" * 100, b"delta"]
    origin.route("/chunked", Reply(200, MAX_AGE, chunks))
    miss = session.get(origin.url("/chunked"))
    hit = session.get(origin.url("/chunked"))
    assert miss.content == b"".join(chunks)
    assert hit.content == b"".join(chunks)
    assert from_cache(hit) is True
    assert "chunked" not in hit.headers.get("Transfer-Encoding", "")
    assert origin.count("/chunked") == 1


def test_head_served_from_fresh_get(origin: Origin, session: requests.Session) -> None:
    origin.route("/h", Reply(200, [*MAX_AGE, ("X-Entity", "1")], b"entity body"))
    session.get(origin.url("/h"))
    r = session.head(origin.url("/h"))
    assert r.status_code == 200
    assert from_cache(r) is True
    assert r.content == b""
    assert r.headers["X-Entity"] == "1"
    assert origin.count("/h") == 1
    assert [s.method for s in origin.requests] == ["GET"]


def test_stored_head_response_never_answers_get(origin: Origin, session: requests.Session) -> None:
    origin.route("/hg", Reply(200, MAX_AGE, b"the body"))
    head = session.head(origin.url("/hg"))
    assert head.status_code == 200 and head.content == b""
    again = session.head(origin.url("/hg"))
    assert from_cache(again) is True
    r = session.get(origin.url("/hg"))
    assert r.content == b"the body" and from_cache(r) is False
    assert [s.method for s in origin.requests] == ["HEAD", "GET"]


# ---------------------------------------------------------------------------
# Threads, broken stores, corrupt entries, credentials


def test_one_session_shared_by_eight_threads(origin: Origin, session: requests.Session) -> None:
    paths = [f"/t{i}" for i in range(20)]
    warm_paths = [f"/w{i}" for i in range(20)]
    for p in paths + warm_paths:
        origin.route(p, Reply(200, MAX_AGE, f"body of {p} ".encode() * 50))

    def fetch(path: str) -> tuple[str, bytes, bool]:
        r = session.get(origin.url(path), timeout=10)
        r.raise_for_status()
        return path, r.content, from_cache(r)

    def run(work: list[str]) -> list[tuple[str, bytes, bool]]:
        random.Random(len(work)).shuffle(work)
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(fetch, work))

    cold = run([p for p in paths for _ in range(5)])
    for path, body, _ in cold:
        assert body == f"body of {path} ".encode() * 50
    for p in paths:
        assert 1 <= origin.count(p) <= 8
    after_cold = {p: origin.count(p) for p in paths}

    again = run([p for p in paths for _ in range(5)])
    assert all(hit for _, _, hit in again)
    assert all(body == f"body of {path} ".encode() * 50 for path, body, _ in again)
    assert {p: origin.count(p) for p in paths} == after_cold

    for p in warm_paths:
        fetch(p)
    warm = run([p for p in warm_paths for _ in range(5)])
    assert all(hit for _, _, hit in warm)
    assert all(body == f"body of {path} ".encode() * 50 for path, body, _ in warm)
    assert all(origin.count(p) == 1 for p in warm_paths)


def test_dead_store_fails_open(origin: Origin) -> None:
    store = DeadStore()
    sess = plain_session(store)
    origin.route("/dead", Reply(200, [*MAX_AGE, ("ETag", '"d"')], b"still served"))
    url = origin.url("/dead")
    for i in range(3):
        r = sess.get(url)
        assert r.status_code == 200 and r.content == b"still served"
        assert from_cache(r) is False
        assert origin.count("/dead") == i + 1
    assert sess.head(url).status_code == 200
    assert sess.post(url).status_code == 200  # invalidation against the dead store
    streamed = sess.get(url, stream=True)
    assert b"".join(streamed.iter_content(3)) == b"still served"
    assert origin.count("/dead") == 6
    assert store.calls > 0


def test_store_failing_on_write_and_delete_fails_open(origin: Origin) -> None:
    store = FlakyStore()
    sess = plain_session(store)
    headers = [("Cache-Control", "max-age=1"), ("Date", http_date(-10))]
    origin.route("/flaky", validating(b"flaky store", headers, etag='"f"'))
    url = origin.url("/flaky")
    sess.get(url)
    assert cache_key("GET", url) in store.data

    store.fail_set = store.fail_delete = True
    revalidated = sess.get(url)  # 304: freshening the entry fails to write
    assert revalidated.status_code == 200 and revalidated.content == b"flaky store"
    assert origin.last("/flaky").headers.get("if-none-match") == '"f"'
    assert sess.post(url).status_code == 200  # invalidation fails to delete
    store.fail_get = True
    r = sess.get(url)
    assert r.status_code == 200 and r.content == b"flaky store" and from_cache(r) is False
    assert origin.count("/flaky") == 4
    assert store.failures >= 3


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xffgarbage bytes",
        b"HTTPCACHE\x01R\x00\x00\x00\x05{bad",
        b"HTTPCACHE\x01I\xff\xff\xff\xff",
        "a str",
        12345,
    ],
    ids=["bytes", "bad-json", "bad-index", "str", "int"],
)
def test_corrupt_entry_is_a_miss_and_replaced(
    origin: Origin, session: requests.Session, cache: StoreDictCache, garbage: object
) -> None:
    origin.route("/corrupt", Reply(200, MAX_AGE, b"good body"))
    url = origin.url("/corrupt")
    key = cache_key("GET", url)
    cache.data[key] = garbage

    r = session.get(url)
    assert r.status_code == 200 and r.content == b"good body"
    assert from_cache(r) is False
    assert origin.count("/corrupt") == 1
    assert cache.data.get(key) != garbage
    assert isinstance(cache.data.get(key), bytes)

    hit = session.get(url)
    assert hit.content == b"good body" and from_cache(hit) is True
    assert origin.count("/corrupt") == 1


def _whoami_route(origin: Origin, session: requests.Session) -> Callable[[Optional[str]], requests.Response]:
    def whoami(seen: Seen) -> Reply:
        who = seen.headers.get("authorization", "anonymous")
        return Reply(200, MAX_AGE, f"data of {who}".encode())

    origin.route("/me", whoami)
    url = origin.url("/me")

    def get(auth: Optional[str]) -> requests.Response:
        return session.get(url, headers={"Authorization": auth} if auth else {})

    return get


def test_credentials_are_not_shared_between_users_in_private_mode(origin: Origin, session: requests.Session) -> None:
    get = _whoami_route(origin, session)

    a = get("A")
    assert a.content == b"data of A" and origin.count("/me") == 1
    b = get("B")
    assert b.content == b"data of B" and from_cache(b) is False
    assert origin.count("/me") == 2
    assert origin.last("/me").headers.get("authorization") == "B"

    a2 = get("A")
    assert a2.content == b"data of A" and from_cache(a2) is True
    b2 = get("B")
    assert b2.content == b"data of B" and from_cache(b2) is True
    assert origin.count("/me") == 2

    anon = get(None)
    assert anon.content == b"data of anonymous" and from_cache(anon) is False
    assert origin.count("/me") == 3
    assert "authorization" not in origin.last("/me").headers


def test_credentialed_response_served_again_after_other_users(origin: Origin, session: requests.Session) -> None:
    """A, then B, then no credentials, then A again: A gets A's stored response."""
    get = _whoami_route(origin, session)

    assert get("A").content == b"data of A"
    assert get("B").content == b"data of B"
    anon = get(None)
    assert anon.content == b"data of anonymous" and from_cache(anon) is False
    assert origin.count("/me") == 3

    a2 = get("A")
    assert a2.content == b"data of A"  # never another user's (or the anonymous) response
    assert from_cache(a2) is True
    assert origin.count("/me") == 3
    b2 = get("B")
    assert b2.content == b"data of B"
    assert origin.count("/me") == 3


def test_revalidations_keep_the_connection(origin: Origin) -> None:
    """A 304 we do not hand over is read to its end and its connection goes back to the
    pool: two hundred revalidations, one connection."""
    origin.route("/v", validating(b"body", [("Cache-Control", "no-cache")], etag='"e"'))
    transport = HTTPAdapter()
    sess = requests.Session()
    sess.trust_env = False
    sess.mount("http://", transport)
    sess = CacheControl(sess)
    for _ in range(200):
        assert sess.get(origin.url("/v")).content == b"body"
    assert origin.count("/v") == 200  # every one revalidated (no-cache) ...
    (pool,) = [transport.poolmanager.pools[key] for key in transport.poolmanager.pools.keys()]  # noqa: SIM118 - no __iter__
    assert pool.num_requests == 200 and pool.num_connections == 1  # ... over one connection

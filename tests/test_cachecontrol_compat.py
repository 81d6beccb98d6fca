"""cachecontrol 0.14 code, with ``cachecontrol`` replaced by ``httpcache`` in its imports, run
against the stdlib origin (counting what reached it): heuristics, positional arguments,
adapters mounted by hand, ``cache_url``, ``cache_etags``, status codes and methods, and the
unknown-keyword error. Stores and serializers: test_cachecontrol_compat_stores.py."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from _e2e_helpers import from_cache, http_date, validating
from origin import Origin, Reply

from httpcache import CacheControl, CacheControlAdapter, CacheController, CacheOptions, DictCache, HTTPCacheError
from httpcache.exceptions import UnknownOptionError
from httpcache.heuristics import TIME_FMT, BaseHeuristic, ExpiresAfter, LastModified, OneDayCache, datetime_to_header


def _twice(sess: requests.Session, url: str) -> tuple[requests.Response, requests.Response]:
    first = sess.get(url)
    first.content  # noqa: B018 - read it: stored once read
    second = sess.get(url)
    second.content  # noqa: B018
    return first, second


# -- heuristics ------------------------------------------------------------------------------


def test_expires_after_caches_a_response_without_freshness(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Content-Type", "text/plain")], b"hello"))
    sess = CacheControl(plain, heuristic=ExpiresAfter(days=1))
    first, second = _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 1 and from_cache(second) and second.content == b"hello"
    # the fields the heuristic set are on the response, as cachecontrol sets them
    assert "max-age=86400" in first.headers["Cache-Control"] and "Expires" in first.headers
    assert first.headers["Warning"].startswith("110 - Automatically cached for 1 day")


def test_without_a_heuristic_the_same_response_is_not_reused(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Content-Type", "text/plain")], b"hello"))
    sess = CacheControl(plain)
    _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 2


def test_expires_after_replaces_max_age_0_but_keeps_the_other_directives(
    origin: Origin, plain: requests.Session
) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=0, must-revalidate")], b"x"))
    sess = CacheControl(plain, heuristic=ExpiresAfter(hours=1))
    first, second = _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 1 and from_cache(second)
    directives = {d.strip() for d in first.headers["Cache-Control"].split(",")}
    assert directives == {"must-revalidate", "max-age=3600"}


@pytest.mark.parametrize("heuristic", [ExpiresAfter(days=1), OneDayCache()], ids=["ExpiresAfter", "OneDayCache"])
@pytest.mark.parametrize("cc", ["no-store", "no-cache", "max-age=60, no-store"])
def test_shipped_heuristics_leave_no_store_and_no_cache_alone(
    origin: Origin, plain: requests.Session, heuristic: BaseHeuristic, cc: str
) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", cc)], b"x"))
    sess = CacheControl(plain, heuristic=heuristic)
    first, second = _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 2 and not from_cache(second)
    assert first.headers["Cache-Control"] == cc and "Warning" not in first.headers


def test_shipped_heuristics_keep_private_from_a_shared_cache(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "private")], b"x"))
    sess = CacheControl(plain, heuristic=ExpiresAfter(days=1), shared=True)
    first, _ = _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 2 and "private" in first.headers["Cache-Control"]


def test_shipped_heuristics_do_not_make_an_error_fresh(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(500, [], b"oops"))
    sess = CacheControl(plain, heuristic=ExpiresAfter(days=1))
    _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 2


def test_a_users_heuristic_is_applied_as_given_even_over_no_store(origin: Origin, plain: requests.Session) -> None:
    class Forever(BaseHeuristic):  # written for cachecontrol: the user says so explicitly
        def update_headers(self, response: Any) -> dict[str, str]:
            assert response.status == 200 and "content-type" in response.headers
            return {"cache-control": "max-age=600"}

        def warning(self, response: Any) -> None:
            return None

    origin.route("/a", Reply(200, [("Cache-Control", "no-store"), ("Content-Type", "text/plain")], b"x"))
    sess = CacheControl(plain, heuristic=Forever())
    first, second = _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 1 and from_cache(second)
    assert first.headers["Cache-Control"] == "max-age=600" and "Warning" not in first.headers


def test_one_day_cache_counts_from_the_date(origin: Origin, plain: requests.Session) -> None:
    origin.route("/old", Reply(200, [("Date", http_date(-2 * 86400))], b"x"))  # its day is over
    origin.route("/new", Reply(200, [("Date", http_date(-60))], b"x"))
    origin.route("/expires", Reply(200, [("Expires", http_date(-10))], b"x"))  # has an Expires: untouched
    sess = CacheControl(plain, heuristic=OneDayCache())
    for path in ("/old", "/new", "/expires"):
        _twice(sess, origin.url(path))
    assert (origin.count("/old"), origin.count("/new"), origin.count("/expires")) == (2, 1, 2)


def test_last_modified_heuristic(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Last-Modified", http_date(-100 * 86400))], b"x"))
    sess = CacheControl(plain, heuristic=LastModified(), heuristic_fraction=0.0)  # ours off: theirs decides
    first, second = _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 1 and from_cache(second) and "Expires" in first.headers


def test_heuristic_freshens_a_304(origin: Origin, plain: requests.Session) -> None:
    origin.route("/v", validating(b"body", [("Cache-Control", "max-age=0")], etag='"1"'))
    cache = DictCache()
    CacheControl(plain, cache).get(origin.url("/v")).content  # noqa: B018 - stored, stale at once
    with requests.Session() as other:
        sess = CacheControl(other, cache, heuristic=ExpiresAfter(minutes=5))
        revalidated = sess.get(origin.url("/v"))  # the 304 gets max-age=300 from the heuristic
        assert from_cache(revalidated) and revalidated.content == b"body"
        assert from_cache(sess.get(origin.url("/v")))
    assert origin.count("/v") == 2


def test_heuristic_helpers() -> None:
    from datetime import datetime, timezone

    assert datetime_to_header(datetime(2026, 1, 2, 3, 4, 5)) == "Fri, 02 Jan 2026 03:04:05 GMT"
    assert datetime_to_header(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "Fri, 02 Jan 2026 03:04:05 GMT"
    assert TIME_FMT == "%a, %d %b %Y %H:%M:%S GMT"


def test_heuristic_must_have_apply() -> None:
    with pytest.raises(HTTPCacheError, match="heuristic"):
        CacheOptions(heuristic=object())  # type: ignore[arg-type]


# -- positional arguments, adapters mounted by hand, cache_url ---------------------------------


def test_cachecontrol_positional_order(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [], b"x"))
    cache = DictCache()
    # CacheControl(sess, cache, cache_etags, serializer, heuristic, controller_class, adapter_class, methods)
    sess = CacheControl(plain, cache, True, None, ExpiresAfter(days=1), None, None, ("GET",))
    _twice(sess, origin.url("/a"))
    assert origin.count("/a") == 1 and cache.data
    adapter = sess.get_adapter(origin.url("/"))
    assert isinstance(adapter, CacheControlAdapter)
    assert adapter.cache is cache and isinstance(adapter.heuristic, ExpiresAfter)
    assert adapter.cacheable_methods == ("GET",) and "PUT" in adapter.invalidating_methods


def test_adapter_mounted_by_hand_with_positional_arguments(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    cache = DictCache()
    # CacheControlAdapter(cache, cache_etags, controller_class, serializer, heuristic, methods, *HTTPAdapter args)
    adapter = CacheControlAdapter(cache, True, None, None, None, None, 10, 10, 3)
    assert adapter.max_retries.total == 3 and adapter.poolmanager.connection_pool_kw["maxsize"] == 10
    plain.mount("http://", adapter)
    _, second = _twice(plain, origin.url("/a"))
    assert origin.count("/a") == 1 and from_cache(second)
    key = adapter.controller.cache_url(origin.url("/a"))
    assert key == CacheController.cache_url(origin.url("/a#frag")) and key in cache.data


def test_cache_url_is_the_normalised_url() -> None:
    assert CacheController.cache_url("HTTP://Example.COM:80?q=1#x") == "http://example.com/?q=1"


def test_the_same_options_through_every_entry_point(plain: requests.Session) -> None:
    heuristic = ExpiresAfter(days=2)
    kwargs: dict[str, Any] = {"heuristic": heuristic, "cacheable_status_codes": (200,)}
    expected = CacheOptions(heuristic=heuristic, cacheable_status_codes=frozenset({200}), revalidate=False)
    via_controller = CacheController(DictCache(), False, None, (200,), heuristic=heuristic)
    via_adapter = CacheControlAdapter(DictCache(), False, **kwargs)
    sess = CacheControl(plain, DictCache(), False, **kwargs)
    mounted = sess.get_adapter("http://127.0.0.1/")
    assert isinstance(mounted, CacheControlAdapter)
    assert via_controller.options == via_adapter.controller.options == mounted.controller.options == expected


def test_controller_class_is_used(origin: Origin, plain: requests.Session) -> None:
    built: list[CacheController] = []

    class Mine(CacheController):
        def __init__(self, *args: Any, **kw: Any) -> None:
            kw["status_codes"] = (200, 404)
            super().__init__(*args, **kw)
            built.append(self)

    origin.route("/missing", Reply(404, [("Cache-Control", "max-age=60")], b"no"))
    sess = CacheControl(plain, controller_class=Mine)
    _twice(sess, origin.url("/missing"))
    assert origin.count("/missing") == 1 and len(built) == 1
    assert built[0].options.cacheable_status_codes == frozenset({200, 404})


# -- cache_etags, status codes, methods ---------------------------------------------------------


def test_cache_etags_false_never_revalidates(origin: Origin, plain: requests.Session) -> None:
    origin.route("/v", validating(b"body", [("Cache-Control", "max-age=0")], etag='"1"'))
    sess = CacheControl(plain, cache_etags=False)
    for _ in range(3):
        resp = sess.get(origin.url("/v"))
        assert resp.content == b"body" and not from_cache(resp)
    assert origin.count("/v") == 3
    assert all("if-none-match" not in seen.headers for seen in origin.requests)


def test_cache_etags_true_revalidates(origin: Origin, plain: requests.Session) -> None:
    origin.route("/v", validating(b"body", [("Cache-Control", "max-age=0")], etag='"1"'))
    sess = CacheControl(plain)
    _, second = _twice(sess, origin.url("/v"))
    assert from_cache(second) and origin.last("/v").headers.get("if-none-match") == '"1"'


def test_cache_etags_false_still_reuses_fresh_responses(origin: Origin, plain: requests.Session) -> None:
    origin.route("/f", Reply(200, [("Cache-Control", "max-age=60"), ("ETag", '"1"')], b"x"))
    sess = CacheControl(plain, cache_etags=False)
    _, second = _twice(sess, origin.url("/f"))
    assert origin.count("/f") == 1 and from_cache(second)


def test_status_codes_narrow_what_is_stored(origin: Origin, plain: requests.Session) -> None:
    origin.route("/gone", Reply(404, [("Cache-Control", "max-age=60")], b"no"))
    origin.route("/ok", Reply(200, [("Cache-Control", "max-age=60")], b"ok"))
    default = CacheControl(requests.Session())  # RFC 9111 §3: a 404 with max-age is stored
    _twice(default, origin.url("/gone"))
    assert origin.count("/gone") == 1
    default.close()
    narrow = CacheControl(plain, cacheable_status_codes=(200,))
    _twice(narrow, origin.url("/gone"))
    _twice(narrow, origin.url("/ok"))
    assert origin.count("/gone") == 3 and origin.count("/ok") == 1


def test_cacheable_methods_get_only_leaves_head_uncached(origin: Origin, plain: requests.Session) -> None:
    origin.route("/h", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = CacheControl(plain, cacheable_methods=("GET",))
    for _ in range(2):
        sess.head(origin.url("/h"))
    assert origin.count("/h") == 2
    _twice(sess, origin.url("/h"))
    assert origin.count("/h") == 3


def test_post_in_cacheable_methods_caches_posts_by_body_and_a_sent_post_still_invalidates(
    origin: Origin, plain: requests.Session
) -> None:
    origin.route("/r", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = CacheControl(plain, cacheable_methods=["GET", "POST"])
    _twice(sess, origin.url("/r"))
    first = sess.post(origin.url("/r"), data=b"a")
    second = sess.post(origin.url("/r"), data=b"a")  # the same body: answered from the cache
    assert first.status_code == second.status_code == 200
    assert not first.from_cache and second.from_cache  # type: ignore[attr-defined]
    _twice(sess, origin.url("/r"))
    # the GET once, the first POST (which invalidated the GET, RFC 9111 §4.4), the GET again
    assert origin.count("/r") == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [((), "non-empty"), ("GET", "non-empty"), (("GET", "PUT"), "PUT not supported")],
)
def test_bad_cacheable_methods(value: Any, message: str) -> None:
    with pytest.raises(HTTPCacheError, match=message):
        CacheOptions(cacheable_methods=value)


def test_bad_status_codes() -> None:
    with pytest.raises(HTTPCacheError, match="cacheable_status_codes"):
        CacheOptions(cacheable_status_codes=("200",))  # type: ignore[arg-type]


# -- unknown keywords -----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["adapter", "wrapper"])
def test_an_unknown_keyword_is_named(entry: str, plain: requests.Session) -> None:
    with pytest.raises(UnknownOptionError, match="'sharred'") as raised:
        if entry == "adapter":
            CacheControlAdapter(sharred=True)
        else:
            CacheControl(plain, sharred=True)
    assert isinstance(raised.value, TypeError) and isinstance(raised.value, HTTPCacheError)
    assert "shared" in str(raised.value)  # the options it could have meant are listed


def test_http_adapter_keywords_still_pass(origin: Origin, plain: requests.Session) -> None:
    adapter = CacheControlAdapter(pool_connections=2, pool_maxsize=3, max_retries=1, pool_block=False)
    assert adapter.max_retries.total == 1
    sess = CacheControl(plain, max_retries=2)
    mounted = sess.get_adapter("http://127.0.0.1/")
    assert isinstance(mounted, CacheControlAdapter)


# -- the options in the pure policy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "codes", "storable"),
    [(404, None, True), (404, (200,), False), (200, (200,), True), (500, (500,), True), (500, None, True)],
)
def test_cacheable_status_codes_in_the_policy(status: int, codes: Any, storable: bool) -> None:
    from _policy_helpers import NOW, URL, http_date

    from httpcache import policy
    from httpcache._headers import Headers
    from httpcache.models import RequestView, ResponseView

    options = CacheOptions(cacheable_status_codes=codes)
    resp = ResponseView(status, Headers([("Date", http_date(NOW)), ("Cache-Control", "max-age=60")]))
    reason = policy.not_storable_reason(RequestView("GET", URL, Headers()), resp, options)
    assert (reason is None) == storable
    assert reason is None or "cacheable_status_codes" in reason


@pytest.mark.parametrize("revalidate", [True, False])
def test_revalidate_option_in_the_policy(revalidate: bool) -> None:
    from _policy_helpers import NOW, URL, http_date

    from httpcache import policy
    from httpcache._headers import Headers
    from httpcache.models import RequestView, ResponseView, StoredResponse

    headers = Headers([("Date", http_date(NOW - 100)), ("Cache-Control", "max-age=10"), ("ETag", '"e"')])
    stored = StoredResponse(URL, "GET", 200, "OK", headers, 0, NOW - 100, NOW - 100)
    options = CacheOptions(revalidate=revalidate)
    decision = policy.decide(RequestView("GET", URL, Headers()), stored, NOW, options)
    assert isinstance(decision, policy.Validate)
    assert decision.headers == ((("If-None-Match", '"e"'),) if revalidate else ())
    # a response with a validator and no freshness is kept for revalidation only
    bare = ResponseView(200, Headers([("ETag", '"e"')]))
    reason = policy.not_storable_reason(RequestView("GET", URL, Headers()), bare, options)
    assert (reason is None) == revalidate

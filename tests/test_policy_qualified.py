"""Qualified ``no-cache="X-Auth"`` (RFC 9111 §5.2.2.4) and, in a shared cache,
``private="X-Auth"`` (§5.2.2.7): the named field is never served from a stored response
without revalidation, whichever path brought it into the stored response (storing, a
304's fields merged in by ``freshen``, an entry written by an older version or under
other options). Tables with a fixed ``now``, then end to end against the stdlib origin."""

from __future__ import annotations

from typing import Optional

import pytest
import requests
from _e2e_helpers import from_cache
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date
from origin import Origin, Reply, Seen

from httpcache import CacheControl, DictCache, policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, ResponseView, StoredResponse

CDN = CacheOptions(shared=True, surrogate="edge")
GET = RequestView("GET", URL, Headers())
SECRET = ("X-Auth", "token-of-alice")


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


def stored(headers: Items) -> StoredResponse:
    items = [("Date", http_date(NOW)), ("ETag", '"e"'), *headers]
    return StoredResponse(URL, "GET", 200, "OK", Headers(items), 1, NOW, NOW)


# (headers, options, fields never reused)
NEVER_REUSED_CASES = [
    pytest.param([cc('max-age=60, no-cache="X-Auth"')], PRIVATE, {"x-auth"}, id="5.2.2.4-private-cache"),
    pytest.param([cc('max-age=60, no-cache="X-Auth"')], SHARED, {"x-auth"}, id="5.2.2.4-shared-cache"),
    pytest.param([cc('no-cache="X-Auth, Set-Cookie"')], PRIVATE, {"x-auth", "set-cookie"}, id="5.2.2.4-several-fields"),
    pytest.param([cc('private="X-Auth"')], SHARED, {"x-auth"}, id="5.2.2.7-shared-cache"),
    pytest.param([cc('private="X-Auth"')], PRIVATE, set(), id="5.2.2.7-private-cache-may-store-it"),
    pytest.param([cc('no-cache="A", private="B"')], SHARED, {"a", "b"}, id="5.2.2.4-5.2.2.7-both-shared"),
    pytest.param([cc('no-cache="A", private="B"')], PRIVATE, {"a"}, id="5.2.2.4-5.2.2.7-both-private"),
    pytest.param([cc("no-cache, max-age=60")], PRIVATE, set(), id="5.2.2.4-unqualified-names-none"),
    pytest.param([cc("max-age=60")], SHARED, set(), id="no-directive"),
    # a surrogate reads them from its targeted field, and only there (RFC 9213 §2.2)
    pytest.param(
        [cc("max-age=60"), ("CDN-Cache-Control", 'max-age=60, no-cache="X-Auth"')],
        CDN,
        {"x-auth"},
        id="9213-2.2-targeted-no-cache",
    ),
    pytest.param([cc('private="X-Auth"'), ("CDN-Cache-Control", "max-age=60")], CDN, set(), id="9213-2.2-cc-ignored"),
    pytest.param(
        [cc('private="X-Auth"'), ("CDN-Cache-Control", "max-age=60")],
        SHARED,
        {"x-auth"},
        id="9213-2.2-not-a-surrogate",
    ),
]


@pytest.mark.parametrize(("headers", "options", "expected"), NEVER_REUSED_CASES)
def test_fields_never_reused_rfc9111_5_2_2_4_and_5_2_2_7(
    headers: Items, options: CacheOptions, expected: set[str]
) -> None:
    assert policy.fields_never_reused(Headers(headers), options) == expected
    kept = policy.without_fields_never_reused(Headers([*headers, SECRET, ("X-Other", "1")]), options)
    assert ("x-auth" in kept) is ("x-auth" not in expected)
    assert kept.get("x-other") == "1"
    assert kept.get("cache-control") == Headers(headers).get("cache-control")


# (stored response's headers, 304's headers, options, X-Auth after the merge, stripped)
FRESHEN_CASES = [
    pytest.param([cc('max-age=60, no-cache="X-Auth"')], [SECRET], PRIVATE, None, id="5.2.2.4-304-brings-the-field"),
    pytest.param(
        [cc("max-age=60")],
        [cc('max-age=60, no-cache="X-Auth"'), SECRET],
        SHARED,
        None,
        id="5.2.2.4-304-brings-directive-and-field",
    ),
    pytest.param([cc('private="X-Auth"')], [SECRET], SHARED, None, id="5.2.2.7-304-brings-the-field-shared"),
    pytest.param(
        [cc('private="X-Auth", max-age=60'), SECRET],
        [("ETag", '"e"')],
        SHARED,
        None,
        id="5.2.2.7-stored-old-entry-holds-it",
    ),
    pytest.param([cc('private="X-Auth"')], [SECRET], PRIVATE, "token-of-alice", id="5.2.2.7-private-cache-keeps-it"),
    pytest.param(
        [cc('max-age=60, no-cache="X-Auth"')],
        [cc("max-age=60"), SECRET],
        PRIVATE,
        "token-of-alice",
        id="4.3.4-new-directives-no-longer-name-it",
    ),
]


@pytest.mark.parametrize(("stored_items", "items_304", "options", "expected"), FRESHEN_CASES)
def test_freshened_headers_without_fields_never_reused_rfc9111_4_3_4(
    stored_items: Items, items_304: Items, options: CacheOptions, expected: Optional[str]
) -> None:
    """What ``freshen`` should store: the merged fields, judged by the merged directives.
    (``policy.freshen`` has another owner; it is to call ``without_fields_never_reused``.)"""
    merged = policy.freshen(stored(stored_items), ResponseView(304, Headers(items_304)), NOW, NOW)
    assert policy.without_fields_never_reused(merged.headers, options).get("x-auth") == expected


def test_headers_to_store_still_drops_them_rfc9111_5_2_2_4() -> None:
    resp = ResponseView(200, Headers([cc('max-age=60, no-cache="X-Auth", private="X-B"'), SECRET, ("X-B", "b")]))
    assert "x-auth" not in policy.headers_to_store(GET, resp, PRIVATE)
    assert "x-b" in policy.headers_to_store(GET, resp, PRIVATE)
    assert "x-b" not in policy.headers_to_store(GET, resp, SHARED)


MAX_STALE = (("Cache-Control", "max-stale=3600"),)
ONLY_IF_CACHED = (("Cache-Control", "only-if-cached"),)

# (request headers, stored headers, age, options, decision type): a stored response that
# holds a field its directives name is never served without revalidation
DECIDE_CASES = [
    pytest.param((), [cc('max-age=60, no-cache="X-Auth"'), SECRET], 0, PRIVATE, policy.Validate, id="5.2.2.4-fresh"),
    pytest.param((), [cc('max-age=60, no-cache="X-Auth"')], 0, PRIVATE, policy.Fresh, id="5.2.2.4-field-absent-fresh"),
    pytest.param((), [cc('max-age=60, private="X-Auth"'), SECRET], 0, SHARED, policy.Validate, id="5.2.2.7-shared"),
    pytest.param((), [cc('max-age=60, private="X-Auth"'), SECRET], 0, PRIVATE, policy.Fresh, id="5.2.2.7-private"),
    pytest.param(
        MAX_STALE,
        [cc('max-age=60, no-cache="X-Auth"'), SECRET],
        120,
        PRIVATE,
        policy.Validate,
        id="5.2.1.2-not-even-with-max-stale",
    ),
    pytest.param(
        (),
        [cc('max-age=60, stale-while-revalidate=600, no-cache="X-Auth"'), SECRET],
        120,
        PRIVATE,
        policy.Validate,
        id="5861-3-not-served-while-revalidating",
    ),
    pytest.param(
        ONLY_IF_CACHED,
        [cc('max-age=60, no-cache="X-Auth"'), SECRET],
        0,
        PRIVATE,
        policy.GatewayTimeout,
        id="5.2.1.7-only-if-cached-504",
    ),
    pytest.param(
        (),
        [cc("max-age=60"), ("CDN-Cache-Control", 'max-age=60, no-cache="X-Auth"'), SECRET],
        0,
        CDN,
        policy.Validate,
        id="9213-2.2-targeted",
    ),
    pytest.param(
        (),
        [cc("max-age=60"), ("CDN-Cache-Control", 'max-age=60, no-cache="X-Auth"'), SECRET],
        0,
        SHARED,
        policy.Fresh,
        id="9213-2.2-targeted-not-ours",
    ),
]


@pytest.mark.parametrize(("req_items", "resp_items", "age", "options", "expected"), DECIDE_CASES)
def test_decide_never_reuses_named_field_without_revalidation_rfc9111_5_2_2_4(
    req_items: Items, resp_items: Items, age: float, options: CacheOptions, expected: type
) -> None:
    decision = policy.decide(RequestView("GET", URL, Headers(req_items)), stored(resp_items), NOW + age, options)
    assert type(decision) is expected, decision


def test_no_stale_if_error_for_a_response_holding_a_named_field_rfc5861_4() -> None:
    holding = stored([cc('max-age=60, stale-if-error=600, no-cache="X-Auth"'), SECRET])
    clean = stored([cc('max-age=60, stale-if-error=600, no-cache="X-Auth"')])
    assert policy.stale_if_error_allowed(GET, holding, 120.0, 60.0, PRIVATE) is False
    assert policy.stale_if_error_allowed(GET, clean, 120.0, 60.0, PRIVATE) is True


# ---------------------------------------------------------------------------
# End to end: a 304 brings the field in; a response served without a request to the
# origin never carries it


def _origin_with_secret(origin: Origin, cache_control: str) -> None:
    tokens = iter(f"token-{i}" for i in range(100))

    def handler(seen: Seen) -> Reply:
        headers = [("Cache-Control", cache_control), ("ETag", '"v1"'), ("X-Auth", next(tokens))]
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, headers)
        return Reply(200, headers, b"body")

    origin.route("/s", handler)


@pytest.mark.parametrize(
    ("cache_control", "shared"),
    [
        pytest.param('max-age=60, no-cache="X-Auth"', False, id="5.2.2.4-no-cache-private-cache"),
        pytest.param('max-age=60, private="X-Auth"', True, id="5.2.2.7-private-shared-cache"),
    ],
)
def test_named_field_never_served_without_revalidation_e2e(origin: Origin, cache_control: str, shared: bool) -> None:
    _origin_with_secret(origin, cache_control)
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=DictCache(), shared=shared)
    try:
        seen = []
        for headers in ({}, {}, {"Cache-Control": "no-cache"}, {}, {}):  # the third revalidates: a 304
            before = origin.count("/s")
            r = sess.get(origin.url("/s"), headers=headers)
            seen.append((r.content, origin.count("/s") > before, r.headers.get("X-Auth"), from_cache(r)))
    finally:
        sess.close()
    assert all(body == b"body" for body, *_ in seen)
    for _body, asked_origin, x_auth, _cached in seen:
        if not asked_origin:
            assert x_auth is None  # reused without revalidation: never the named field


def test_304_merged_field_not_stored_e2e(origin: Origin) -> None:
    """After a 304 that carried the field, the stored response is reused fresh without it
    (the merged field would make every later request revalidate, and a shared cache would
    hand one user's field to the next user after that revalidation)."""
    _origin_with_secret(origin, 'max-age=60, private="X-Auth"')
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=DictCache(), shared=True)
    try:
        sess.get(origin.url("/s"))
        sess.get(origin.url("/s"), headers={"Cache-Control": "no-cache"})  # 304 with X-Auth: token-1
        later = sess.get(origin.url("/s"))
    finally:
        sess.close()
    assert origin.count("/s") == 2 and from_cache(later) is True
    assert later.headers.get("X-Auth") is None

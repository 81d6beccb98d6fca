"""RFC 9111 §3 (storing responses), §3.1 (which fields), §3.5 (Authorization),
§5.2.2.3 must-understand, §5.2.2.5 no-store and §5.2.2.7 private:
``policy.not_storable_reason`` and ``policy.headers_to_store``."""

from __future__ import annotations

from typing import Optional

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, ResponseView


def request(headers: Items = (), method: str = "GET") -> RequestView:
    return RequestView(method, URL, Headers(headers))


def response(status: int = 200, headers: Items = ()) -> ResponseView:
    return ResponseView(status, Headers([("Date", http_date(NOW)), *headers]))


MAX_AGE = [("Cache-Control", "max-age=60")]
LAST_MODIFIED = [("Last-Modified", http_date(NOW - 86400))]
ETAG = [("ETag", '"v1"')]
AUTH = [("Authorization", "Bearer secret")]


STORE_CASES = [
    # §3: method
    pytest.param("GET", (), 200, MAX_AGE, None, id="3-get-max-age-stored"),
    pytest.param("HEAD", (), 200, MAX_AGE, None, id="3-head-max-age-stored"),
    pytest.param("POST", (), 200, MAX_AGE, "§3", id="3-post-not-stored"),
    pytest.param("PUT", (), 200, MAX_AGE, "§3", id="3-put-not-stored"),
    pytest.param("DELETE", (), 200, MAX_AGE, "§3", id="3-delete-not-stored"),
    pytest.param("OPTIONS", (), 200, MAX_AGE, "§3", id="3-options-not-stored"),
    pytest.param("get", (), 200, MAX_AGE, "§3", id="3-method-is-case-sensitive"),
    # §3: final status only; §3.3 partial content; §4.3.4 304
    pytest.param("GET", (), 100, MAX_AGE, "§3", id="3-status-100-not-final"),
    pytest.param("GET", (), 103, MAX_AGE, "§3", id="3-status-103-not-final"),
    pytest.param("GET", (), 206, MAX_AGE, "§3.3", id="3.3-status-206-without-content-range-not-stored"),
    pytest.param(
        "GET", (), 206, [*MAX_AGE, ("Content-Range", "bytes 0-4/*")], "§3.3", id="3.3-206-unknown-length-not-stored"
    ),
    pytest.param(
        "GET", (), 206, [*MAX_AGE, ("Content-Range", "bytes 5-4/10")], "§3.3", id="3.3-206-bad-range-not-stored"
    ),
    pytest.param(
        "GET",
        [("Range", "bytes=0-4")],
        206,
        [*MAX_AGE, ("Content-Range", "bytes 0-4/10")],
        None,
        id="3.3-206-one-range-stored",
    ),
    pytest.param("GET", [("Range", "bytes=0-1")], 200, MAX_AGE, None, id="3.3-complete-answer-to-range-stored"),
    pytest.param("GET", [("Range", "bytes=0-1")], 404, MAX_AGE, "§3.3", id="3.3-other-answer-to-range-not-stored"),
    pytest.param("GET", (), 304, MAX_AGE, "§4.3.4", id="4.3.4-status-304-not-stored"),
    # §3: explicit freshness, or a heuristically cacheable status (RFC 9110 §15.1)
    pytest.param("GET", (), 200, LAST_MODIFIED, None, id="3-200-heuristic-last-modified-stored"),
    pytest.param("GET", (), 200, ETAG, None, id="3-200-validator-only-stored"),
    pytest.param("GET", (), 404, LAST_MODIFIED, None, id="3-404-heuristically-cacheable"),
    pytest.param("GET", (), 301, LAST_MODIFIED, None, id="3-301-heuristically-cacheable"),
    pytest.param("GET", (), 410, ETAG, None, id="3-410-heuristically-cacheable"),
    pytest.param("GET", (), 302, [*LAST_MODIFIED, *ETAG], "§3", id="3-302-not-heuristically-cacheable"),
    pytest.param("GET", (), 307, [*LAST_MODIFIED, *ETAG], "§3", id="3-307-not-heuristically-cacheable"),
    pytest.param("GET", (), 500, [*LAST_MODIFIED, *ETAG], "§3", id="3-500-not-heuristically-cacheable"),
    pytest.param("GET", (), 302, MAX_AGE, None, id="3-302-with-max-age-stored"),
    pytest.param("GET", (), 500, MAX_AGE, None, id="3-500-with-max-age-stored"),
    pytest.param("GET", (), 302, [("Expires", http_date(NOW + 60))], None, id="3-302-with-expires-stored"),
    pytest.param("GET", (), 302, [("Expires", "0")], None, id="3-invalid-expires-still-explicit"),
    pytest.param("GET", (), 302, [("Cache-Control", "public")], None, id="3-302-public-stored"),
    pytest.param("GET", (), 302, [("Cache-Control", "private")], None, id="3-302-private-in-private-cache"),
    pytest.param("GET", (), 302, [("Cache-Control", "s-maxage=60")], "§3", id="3-s-maxage-ignored-private-cache"),
    # §5.2.1.5 request no-store, §5.2.2.5 response no-store
    pytest.param("GET", [("Cache-Control", "no-store")], 200, MAX_AGE, "§5.2.1.5", id="5.2.1.5-request-no-store"),
    pytest.param(
        "GET", [("Cache-Control", "max-age=0, NO-STORE")], 200, MAX_AGE, "§5.2.1.5", id="5.2.1.5-case-insensitive"
    ),
    pytest.param("GET", (), 200, [("Cache-Control", "no-store")], "§5.2.2.5", id="5.2.2.5-response-no-store"),
    pytest.param(
        "GET", (), 200, [("Cache-Control", "max-age=60, no-store")], "§5.2.2.5", id="5.2.2.5-no-store-beats-max-age"
    ),
    pytest.param(
        "GET",
        (),
        200,
        [("Cache-Control", "max-age=60"), ("Cache-Control", "No-Store")],
        "§5.2.2.5",
        id="5.2.2.5-no-store-on-second-line",
    ),
    pytest.param("GET", (), 200, [("Cache-Control", "public, no-store")], "§5.2.2.5", id="5.2.2.5-beats-public"),
    # §5.2.2.3 must-understand
    pytest.param(
        "GET",
        (),
        200,
        [("Cache-Control", "max-age=60, must-understand, no-store")],
        None,
        id="5.2.2.3-understood-status-ignores-no-store",
    ),
    pytest.param(
        "GET",
        (),
        404,
        [("Cache-Control", "max-age=60, must-understand, no-store")],
        None,
        id="5.2.2.3-understood-404-ignores-no-store",
    ),
    pytest.param(
        "GET",
        (),
        299,
        [("Cache-Control", "max-age=60, must-understand, no-store")],
        "§5.2.2.3",
        id="5.2.2.3-unknown-status-not-stored",
    ),
    pytest.param(
        "GET",
        (),
        299,
        [("Cache-Control", "max-age=60, must-understand")],
        "§5.2.2.3",
        id="5.2.2.3-unknown-status-not-stored-without-no-store",
    ),
    pytest.param(
        "GET",
        (),
        200,
        [("Cache-Control", "must-understand, no-store, private")],
        None,
        id="5.2.2.3-with-private-in-private-cache",
    ),
    # §4.1 Vary: *
    pytest.param("GET", (), 200, [*MAX_AGE, ("Vary", "*")], "§4.1", id="4.1-vary-star-never-matches"),
    pytest.param("GET", (), 200, [*MAX_AGE, ("Vary", "Accept, *")], "§4.1", id="4.1-vary-list-with-star"),
    pytest.param("GET", (), 200, [*MAX_AGE, ("Vary", "Accept")], None, id="4.1-vary-names-stored"),
    # §3.5 private cache: Authorization does not prevent storing
    pytest.param("GET", AUTH, 200, MAX_AGE, None, id="3.5-authorization-private-cache-stored"),
]


@pytest.mark.parametrize(("method", "req_items", "status", "resp_items", "section"), STORE_CASES)
def test_not_storable_reason_private_cache_rfc9111_3(
    method: str, req_items: Items, status: int, resp_items: Items, section: Optional[str]
) -> None:
    reason = policy.not_storable_reason(request(req_items, method), response(status, resp_items), PRIVATE)
    if section is None:
        assert reason is None
    else:
        assert reason is not None
        assert f"{section})" in reason or f"{section}," in reason


SHARED_CASES = [
    # §5.2.2.7 private
    pytest.param((), [("Cache-Control", "private, max-age=60")], "§5.2.2.7", id="5.2.2.7-private-not-in-shared"),
    pytest.param((), [("Cache-Control", "PRIVATE")], "§5.2.2.7", id="5.2.2.7-private-case-insensitive"),
    pytest.param(
        (), [("Cache-Control", 'private="Set-Cookie", max-age=60')], None, id="5.2.2.7-qualified-private-stored"
    ),
    # §3 s-maxage counts as explicit freshness in a shared cache
    pytest.param((), [("Cache-Control", "s-maxage=60")], None, id="3-s-maxage-explicit-in-shared"),
    # §3.5 Authorization in a shared cache
    pytest.param(AUTH, MAX_AGE, "§3.5", id="3.5-authorization-max-age-not-stored"),
    pytest.param(AUTH, [("Cache-Control", "max-age=60, public")], None, id="3.5-authorization-public-stored"),
    pytest.param(
        AUTH, [("Cache-Control", "max-age=60, must-revalidate")], None, id="3.5-authorization-must-revalidate-stored"
    ),
    pytest.param(AUTH, [("Cache-Control", "s-maxage=60")], None, id="3.5-authorization-s-maxage-stored"),
    pytest.param(
        AUTH, [("Cache-Control", "proxy-revalidate, max-age=60")], "§3.5", id="3.5-proxy-revalidate-not-enough"
    ),
    pytest.param([("authorization", "Basic x")], MAX_AGE, "§3.5", id="3.5-authorization-name-case-insensitive"),
    pytest.param((), MAX_AGE, None, id="3-no-authorization-stored"),
]


@pytest.mark.parametrize(("req_items", "resp_items", "section"), SHARED_CASES)
def test_not_storable_reason_shared_cache_rfc9111_3(
    req_items: Items, resp_items: Items, section: Optional[str]
) -> None:
    reason = policy.not_storable_reason(request(req_items), response(200, resp_items), SHARED)
    if section is None:
        assert reason is None
    else:
        assert reason is not None
        assert section in reason


@pytest.mark.parametrize(
    ("options", "stored"),
    [pytest.param(PRIVATE, True, id="5.2.2.7-private-cache"), pytest.param(SHARED, False, id="5.2.2.7-shared-cache")],
)
def test_private_response_only_in_private_cache_rfc9111_5_2_2_7(options: CacheOptions, stored: bool) -> None:
    reason = policy.not_storable_reason(request(), response(200, [("Cache-Control", "private, max-age=60")]), options)
    assert (reason is None) is stored


def test_no_freshness_and_no_validator_is_not_stored_rfc9111_4_2_2() -> None:
    # a 200 without explicit freshness, Last-Modified or validator could never be reused
    reason = policy.not_storable_reason(request(), response(200), PRIVATE)
    assert reason is not None
    assert "§4.2.2" in reason


def test_heuristic_disabled_and_no_validator_is_not_stored_rfc9111_4_2_2() -> None:
    options = CacheOptions(heuristic_fraction=0.0)
    # a Last-Modified is itself a validator, so the response can still be revalidated
    assert policy.not_storable_reason(request(), response(200, LAST_MODIFIED), options) is None
    reason = policy.not_storable_reason(request(), response(200, [("Last-Modified", "garbage")]), options)
    assert reason is not None
    assert "§4.2.2" in reason


@pytest.mark.parametrize(
    "directive",
    [
        pytest.param("stale-if-error=60", id="5861-stale-if-error"),
        pytest.param("stale-while-revalidate=60", id="5861-swr"),
    ],
)
def test_stale_extensions_make_a_200_worth_storing_rfc5861(directive: str) -> None:
    assert policy.not_storable_reason(request(), response(200, [("Cache-Control", directive)]), PRIVATE) is None


# ---------------------------------------------------------------------------
# §3.1 which fields are stored


def test_headers_to_store_drops_connection_specific_fields_rfc9111_3_1() -> None:
    resp = response(
        200,
        [
            ("Connection", "close, X-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"),
            ("X-Hop", "1"),
            ("Set-Cookie", "a=1"),
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "b=2"),
        ],
    )
    stored = policy.headers_to_store(request(), resp, PRIVATE)
    assert stored.items() == (
        ("Date", http_date(NOW)),
        ("Set-Cookie", "a=1"),
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "b=2"),
    )


def test_headers_to_store_connection_listed_names_case_insensitive_rfc9111_3_1() -> None:
    resp = response(200, [("connection", "x-HOP"), ("X-Hop", "1"), ("x-hop", "2"), ("X-Keep", "k")])
    stored = policy.headers_to_store(request(), resp, PRIVATE)
    assert stored.items() == (("Date", http_date(NOW)), ("X-Keep", "k"))


@pytest.mark.parametrize("options", [pytest.param(PRIVATE, id="private"), pytest.param(SHARED, id="shared")])
def test_headers_to_store_drops_qualified_no_cache_fields_rfc9111_5_2_2_4(options: CacheOptions) -> None:
    resp = response(
        200, [("Cache-Control", 'no-cache="Set-Cookie, X-Token", max-age=60'), ("Set-Cookie", "a"), ("X-Token", "t")]
    )
    stored = policy.headers_to_store(request(), resp, options)
    assert "set-cookie" not in stored
    assert "x-token" not in stored
    assert stored.get("cache-control") == 'no-cache="Set-Cookie, X-Token", max-age=60'


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        pytest.param(PRIVATE, True, id="5.2.2.7-private-cache-keeps"),
        pytest.param(SHARED, False, id="5.2.2.7-shared-drops"),
    ],
)
def test_headers_to_store_qualified_private_fields_rfc9111_5_2_2_7(options: CacheOptions, kept: bool) -> None:
    resp = response(200, [("Cache-Control", 'private="X-Secret", max-age=60'), ("X-Secret", "s"), ("X-Public", "p")])
    stored = policy.headers_to_store(request(), resp, options)
    assert ("x-secret" in stored) is kept
    assert stored.get("x-public") == "p"


def test_headers_to_store_unchanged_when_nothing_to_drop_rfc9111_3_1() -> None:
    resp = response(200, [("Cache-Control", "max-age=60"), ("ETag", '"a"'), ("Vary", "Accept")])
    assert policy.headers_to_store(request(), resp, SHARED) == resp.headers

"""The user's opt-in overrides as pure rules, with a fixed clock: ``expire_after``,
``urls_expire_after`` (lifetimes, ``Force``, ``DO_NOT_CACHE``), ``max_ttl``, the modes of
``policy.decide_in_mode``, and what ``ignored_parameters`` leaves of a request. Each table
row also says what the RFC alone decides, so the departure is visible."""

from __future__ import annotations

import re
from typing import Optional

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import DO_NOT_CACHE, Force, policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, ResponseView, StoredResponse


def request(headers: Items = (), url: str = URL) -> RequestView:
    return RequestView("GET", url, Headers(headers))


def stored(headers: Items = (), status: int = 200, url: str = URL) -> StoredResponse:
    return StoredResponse(
        url=url,
        method="GET",
        status=status,
        reason="",
        headers=Headers([("Date", http_date(NOW)), *headers]),
        body_length=1,
        request_time=NOW,
        response_time=NOW,
    )


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


EXPIRE = CacheOptions(expire_after=600)
RULES = CacheOptions(
    urls_expire_after={
        "example.com/never*": DO_NOT_CACHE,
        "example.com/forced": Force(300),
        re.compile(r"/ten$"): 10,
    }
)


@pytest.mark.parametrize(
    ("headers", "status", "url", "options", "rfc", "overridden"),
    [
        pytest.param((), 200, URL, EXPIRE, 0.0, 600.0, id="expire_after-no-explicit-freshness"),
        pytest.param([cc("max-age=5")], 200, URL, EXPIRE, 5.0, 5.0, id="expire_after-explicit-kept"),
        pytest.param([("Expires", http_date(NOW + 7))], 200, URL, EXPIRE, 7.0, 7.0, id="expire_after-expires-kept"),
        pytest.param((), 500, URL, EXPIRE, 0.0, 0.0, id="expire_after-not-heuristic-status"),
        pytest.param((), 404, URL, EXPIRE, 0.0, 600.0, id="expire_after-heuristic-status-404"),
        pytest.param([cc("max-age=1000")], 200, URL, CacheOptions(max_ttl=60), 1000.0, 60.0, id="max_ttl-caps"),
        pytest.param((), 200, URL, CacheOptions(expire_after=600, max_ttl=60), 0.0, 60.0, id="max_ttl-caps-expire"),
        pytest.param([cc("no-store")], 200, "http://example.com/forced", RULES, 0.0, 300.0, id="force-no-store"),
        pytest.param([cc("max-age=9")], 200, "http://example.com/forced", RULES, 9.0, 300.0, id="force-max-age"),
        pytest.param([cc("max-age=9")], 200, "http://example.com/never/x", RULES, 9.0, 0.0, id="do-not-cache"),
        pytest.param((), 200, "http://example.com/a/ten", RULES, 0.0, 10.0, id="regex-lifetime"),
        pytest.param([cc("max-age=99")], 200, "http://example.com/a/ten", RULES, 99.0, 99.0, id="regex-explicit-kept"),
        pytest.param((), 200, "http://example.com/other", RULES, 0.0, 0.0, id="no-rule-matches"),
    ],
)
def test_freshness_lifetime_with_overrides(
    headers: Items, status: int, url: str, options: CacheOptions, rfc: float, overridden: float
) -> None:
    s = stored(headers, status, url)
    assert policy.freshness_lifetime(s, PRIVATE) == rfc
    assert policy.freshness_lifetime(s, options) == overridden


@pytest.mark.parametrize(
    ("req_headers", "resp_headers", "url", "options", "storable"),
    [
        pytest.param((), (), URL, PRIVATE, False, id="rfc-nothing-to-reuse-it-by"),
        pytest.param((), (), URL, EXPIRE, True, id="expire_after-makes-it-storable"),
        pytest.param((), [cc("no-store")], URL, EXPIRE, False, id="expire_after-obeys-no-store"),
        pytest.param((), [cc("no-store, private")], "http://example.com/forced", RULES, True, id="force-no-store"),
        pytest.param([cc("no-store")], (), "http://example.com/forced", RULES, False, id="force-request-no-store"),
        pytest.param((), [("Vary", "*")], "http://example.com/forced", RULES, False, id="force-vary-star"),
        pytest.param((), [cc("max-age=60")], "http://example.com/never", RULES, False, id="do-not-cache"),
        pytest.param(
            [("Authorization", "Bearer a")],
            [cc("private")],
            "http://example.com/forced",
            RULES.replace(shared=True),
            False,
            id="force-shared-authorization",
        ),
        pytest.param(
            [("Authorization", "Bearer a")],
            [cc("no-store")],
            "http://example.com/forced",
            RULES,
            True,
            id="force-private",
        ),
    ],
)
def test_storing_with_overrides(
    req_headers: Items, resp_headers: Items, url: str, options: CacheOptions, storable: bool
) -> None:
    reason = policy.not_storable_reason(request(req_headers, url), ResponseView(200, Headers(resp_headers)), options)
    assert (reason is None) is storable, reason


def test_forced_responses_keep_credentials_apart_in_a_private_cache() -> None:
    url = "http://example.com/forced"
    alice = RequestView("GET", url, Headers([("Authorization", "Bearer alice")]))
    bob = RequestView("GET", url, Headers([("Authorization", "Bearer bob")]))
    s = stored([cc("no-store")], url=url).replace(auth=policy.request_auth_digest(alice, RULES))
    assert policy.variant_matches(alice, s, RULES)
    assert not policy.variant_matches(bob, s, RULES)
    assert not policy.variant_matches(request(url=url), s, RULES)


def test_forced_responses_are_served_despite_their_no_cache() -> None:
    url = "http://example.com/forced"
    s = stored([cc("no-cache"), ("ETag", '"e"')], url=url)
    assert isinstance(policy.decide(request(url=url), s, NOW + 10, PRIVATE), policy.Validate)
    assert isinstance(policy.decide(request(url=url), s, NOW + 10, RULES), policy.Fresh)
    assert isinstance(policy.decide(request(url=url), s, NOW + 301, RULES), policy.Validate)
    # the caller's own no-cache still counts
    assert isinstance(policy.decide(request([cc("no-cache")], url), s, NOW + 10, RULES), policy.Validate)


MODE_CASES = [
    # mode, stored headers (None: nothing stored), age, decision
    ("refresh", [cc("max-age=60"), ("ETag", '"e"')], 10, "Validate"),
    ("refresh", None, 0, "Miss"),
    ("only-if-cached", [cc("max-age=60")], 10, "Fresh"),
    ("only-if-cached", [cc("max-age=60")], 100, "GatewayTimeout"),
    ("only-if-cached", None, 0, "GatewayTimeout"),
    ("only-if-cached", [cc("max-age=60, stale-while-revalidate=100")], 100, "StaleAllowed"),
    ("offline", [cc("max-age=60")], 100, "StaleAllowed"),
    ("offline", [cc("max-age=60")], 10, "Fresh"),
    ("offline", None, 0, "GatewayTimeout"),
    ("offline", [cc("max-age=60, must-revalidate")], 100, "GatewayTimeout"),
    ("offline", [cc("no-cache")], 0, "GatewayTimeout"),
    ("read-only", [cc("max-age=60")], 100, "Validate"),
    ("default", [cc("max-age=60")], 100, "Validate"),
]


@pytest.mark.parametrize(("mode", "headers", "age", "expected"), MODE_CASES)
def test_decide_in_mode(mode: str, headers: Optional[Items], age: float, expected: str) -> None:
    s = None if headers is None else stored(headers)
    decision = policy.decide_in_mode(mode, request(), s, NOW + age, PRIVATE)
    assert type(decision).__name__ == expected, decision


def test_refresh_sends_the_stored_validators() -> None:
    decision = policy.decide_in_mode("refresh", request(), stored([cc("max-age=60"), ("ETag", '"e"')]), NOW, SHARED)
    assert isinstance(decision, policy.Validate)
    assert ("If-None-Match", '"e"') in decision.headers


@pytest.mark.parametrize(
    ("url", "headers", "expected_url", "expected_headers"),
    [
        ("http://h/p?a=1&api_key=s&b=2", (), "http://h/p?a=1&b=2", []),
        ("http://h/p?api_key=s", (), "http://h/p", []),
        ("http://h/p?a=%20x&api_key=s#f", (), "http://h/p?a=%20x#f", []),
        ("http://h/p?api%5Fkey=s&a", (), "http://h/p?a", []),  # the name as decoded
        ("http://h/p?a=1", [("X-Token", "t"), ("Accept", "x")], "http://h/p?a=1", [("Accept", "x")]),
    ],
)
def test_cache_view_leaves_out_ignored_parameters(
    url: str, headers: Items, expected_url: str, expected_headers: Items
) -> None:
    options = CacheOptions(ignored_parameters=("api_key", "x-token"))
    view = policy.cache_view(RequestView("GET", url, Headers(headers)), options)
    assert view.url == expected_url and view.headers.items() == tuple(expected_headers)


def test_cache_view_of_a_request_without_them_is_the_request() -> None:
    view = request([("Accept", "x")])
    assert policy.cache_view(view, CacheOptions(ignored_parameters=("api_key",))) == view

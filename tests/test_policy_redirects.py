"""Permanent redirects (RFC 9110 §15.4.2 301, §15.4.9 308) are heuristically cacheable:
without explicit freshness or Last-Modified they get ``permanent_redirect_lifetime``
(RFC 9111 §4.2.2), bounded by ``heuristic_max``. Policy tables with a fixed ``now``,
then one end-to-end check against the stdlib origin."""

from __future__ import annotations

import pytest
import requests
from _e2e_helpers import from_cache
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date
from origin import Origin, Reply

from httpcache import CacheControl, DictCache, HTTPCacheError, policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, ResponseView, StoredResponse

GET = RequestView("GET", URL, Headers())
LOCATION = ("Location", "http://example.com/elsewhere")


def stored(status: int, headers: Items) -> StoredResponse:
    return StoredResponse(URL, "GET", status, "", Headers(headers), 0, NOW, NOW)


def dated(*items: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Date", http_date(NOW)), LOCATION, *items]


# (status, headers, options, expected lifetime)
LIFETIME_CASES = [
    pytest.param(301, dated(), PRIVATE, 3600.0, id="15.4.2-301-default-lifetime"),
    pytest.param(308, dated(), PRIVATE, 3600.0, id="15.4.9-308-default-lifetime"),
    pytest.param(301, dated(), SHARED, 3600.0, id="15.4.2-301-shared"),
    pytest.param(301, [LOCATION], PRIVATE, 3600.0, id="15.4.2-301-without-date"),
    pytest.param(301, dated(), CacheOptions(permanent_redirect_lifetime=600.0), 600.0, id="4.2.2-configured-lifetime"),
    pytest.param(301, dated(), CacheOptions(heuristic_max=60.0), 60.0, id="4.2.2-never-above-heuristic-max"),
    pytest.param(301, dated(), CacheOptions(permanent_redirect_lifetime=0.0), 0.0, id="4.2.2-0-turns-it-off"),
    pytest.param(301, dated(), CacheOptions(heuristic_fraction=0.0), 0.0, id="4.2.2-heuristics-off-redirects-too"),
    # Last-Modified: the usual fraction of its age (§4.2.2), not the redirect lifetime
    pytest.param(
        301, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-last-modified-fraction"
    ),
    pytest.param(301, dated(("Last-Modified", "garbage")), PRIVATE, 3600.0, id="4.2.2-invalid-last-modified-absent"),
    # explicit freshness always wins (§4.2.1; §4.2.2 "MUST NOT use heuristics" then)
    pytest.param(301, dated(("Cache-Control", "max-age=10")), PRIVATE, 10.0, id="4.2.1-explicit-max-age"),
    pytest.param(308, dated(("Cache-Control", "max-age=0")), PRIVATE, 0.0, id="4.2.1-explicit-max-age-0"),
    pytest.param(301, dated(("Expires", http_date(NOW + 30))), PRIVATE, 30.0, id="4.2.1-explicit-expires"),
    pytest.param(301, dated(("Expires", "0")), PRIVATE, 0.0, id="4.2.1-invalid-expires-is-stale"),
    # the other redirects are not heuristically cacheable (RFC 9110 §15.4.3, §15.4.4, §15.4.8)
    pytest.param(302, dated(), PRIVATE, 0.0, id="15.4.3-302-no-heuristic"),
    pytest.param(303, dated(), PRIVATE, 0.0, id="15.4.4-303-no-heuristic"),
    pytest.param(307, dated(), PRIVATE, 0.0, id="15.4.8-307-no-heuristic"),
]


@pytest.mark.parametrize(("status", "headers", "options", "expected"), LIFETIME_CASES)
def test_permanent_redirect_freshness_lifetime_rfc9111_4_2_2(
    status: int, headers: Items, options: CacheOptions, expected: float
) -> None:
    assert policy.freshness_lifetime(stored(status, headers), options) == expected


# (status, headers, options, storable)
STORABLE_CASES = [
    pytest.param(301, dated(), PRIVATE, True, id="3-301-heuristic-storable"),
    pytest.param(308, dated(), SHARED, True, id="3-308-heuristic-storable-shared"),
    pytest.param(301, dated(), CacheOptions(permanent_redirect_lifetime=0.0), False, id="3-301-off-nothing-to-reuse"),
    pytest.param(
        301, dated(("ETag", '"r"')), CacheOptions(permanent_redirect_lifetime=0.0), True, id="3-301-off-validator"
    ),
    pytest.param(302, dated(), PRIVATE, False, id="3-302-not-heuristically-cacheable"),
    pytest.param(307, dated(), SHARED, False, id="3-307-not-heuristically-cacheable"),
    pytest.param(301, dated(("Cache-Control", "no-store")), PRIVATE, False, id="5.2.2.5-no-store-still-wins"),
    pytest.param(301, dated(("Cache-Control", "private")), SHARED, False, id="5.2.2.7-private-shared-still-wins"),
]


@pytest.mark.parametrize(("status", "headers", "options", "storable"), STORABLE_CASES)
def test_permanent_redirect_storable_rfc9111_3(
    status: int, headers: Items, options: CacheOptions, storable: bool
) -> None:
    reason = policy.not_storable_reason(GET, ResponseView(status, Headers(headers)), options)
    assert (reason is None) is storable, reason


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(0.0, policy.Fresh, id="4.2-fresh-at-once"),
        pytest.param(3599.0, policy.Fresh, id="4.2-fresh-just-before-lifetime"),
        pytest.param(3600.0, policy.Validate, id="4.2-stale-at-lifetime"),
    ],
)
def test_permanent_redirect_reused_while_fresh_rfc9111_4_2(offset: float, expected: type) -> None:
    assert isinstance(policy.decide(GET, stored(301, dated()), NOW + offset, PRIVATE), expected)


def test_permanent_redirect_no_cache_still_validates_rfc9111_5_2_2_4() -> None:
    s = stored(308, dated(("Cache-Control", "no-cache")))
    assert isinstance(policy.decide(GET, s, NOW, PRIVATE), policy.Validate)


@pytest.mark.parametrize("value", [-1.0, float("nan")])
def test_permanent_redirect_lifetime_validated(value: float) -> None:
    with pytest.raises(HTTPCacheError):
        CacheOptions(permanent_redirect_lifetime=value)


def test_cache_control_passes_permanent_redirect_lifetime() -> None:
    sess = CacheControl(requests.Session(), permanent_redirect_lifetime=5.0)
    adapter = sess.get_adapter("http://example.com/")
    assert adapter.controller.options.permanent_redirect_lifetime == 5.0  # type: ignore[attr-defined]
    sess.close()


# ---------------------------------------------------------------------------
# End to end: a 301 without freshness information is followed from the cache


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_without_freshness_is_reused_e2e(origin: Origin, status: int) -> None:
    origin.route("/old", Reply(status, [("Location", "/new"), ("Content-Length", "0")]))
    origin.route("/new", Reply(200, [("Cache-Control", "no-store")], b"target"))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=DictCache())
    try:
        first = sess.get(origin.url("/old"))
        second = sess.get(origin.url("/old"))
        unfollowed = sess.get(origin.url("/old"), allow_redirects=False)
    finally:
        sess.close()
    assert first.content == second.content == b"target"
    assert [r.status_code for r in second.history] == [status]
    assert from_cache(second.history[0]) is True
    assert unfollowed.status_code == status and from_cache(unfollowed) is True
    assert origin.count("/old") == 1  # the redirect reached the origin once
    assert origin.count("/new") == 2  # its no-store target every time

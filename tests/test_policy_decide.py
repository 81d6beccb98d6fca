"""``policy.decide``: RFC 9111 §4 reuse of a stored response under the request
directives of §5.2.1 (and Pragma, §5.4), the response directives of §5.2.2,
RFC 8246 immutable, RFC 5861 stale-if-error and the conditional fields of §4.3.1."""

from __future__ import annotations

from email.utils import formatdate
from typing import Optional

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, StoredResponse

LAST_MODIFIED = formatdate(NOW - 86400, usegmt=True)


def request(headers: Items = ()) -> RequestView:
    return RequestView("GET", URL, Headers(headers))


def stored(headers: Items = ()) -> StoredResponse:
    """A 200 received at NOW, with ``Date: NOW``."""
    return StoredResponse(
        url=URL,
        method="GET",
        status=200,
        reason="OK",
        headers=Headers([("Date", http_date(NOW)), *headers]),
        body_length=4,
        request_time=NOW,
        response_time=NOW,
    )


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


def decide(req_items: Items, resp_items: Items, age: float, options: CacheOptions = PRIVATE) -> policy.Decision:
    return policy.decide(request(req_items), stored(resp_items), NOW + age, options)


FRESH = "Fresh"
STALE_OK = "StaleAllowed"
VALIDATE = "Validate"
TIMEOUT = "GatewayTimeout"

# A stored max-age=100 response, 50 s old (fresh, 50 s left) or 150 s old (50 s stale).
FRESH_100 = [cc("max-age=100")]

DECIDE_CASES = [
    # §4.2 baseline
    pytest.param((), FRESH_100, 50, PRIVATE, FRESH, id="4.2-fresh-served"),
    pytest.param((), FRESH_100, 150, PRIVATE, VALIDATE, id="4.2-stale-validated"),
    pytest.param((), [cc("max-age=0")], 0, PRIVATE, VALIDATE, id="4.2-max-age-0-always-validated"),
    # §5.2.1.4 request no-cache, §5.4 Pragma
    pytest.param([cc("no-cache")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.2.1.4-request-no-cache"),
    pytest.param([cc("No-Cache")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.2.1.4-case-insensitive"),
    pytest.param([("Pragma", "no-cache")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.4-pragma-no-cache-without-cc"),
    pytest.param(
        [("Pragma", "no-cache"), cc("max-age=1000")], FRESH_100, 50, PRIVATE, FRESH, id="5.4-pragma-ignored-with-cc"
    ),
    pytest.param(
        [("Pragma", "no-cache"), cc("max-stale")], FRESH_100, 50, PRIVATE, FRESH, id="5.4-pragma-ignored-with-max-stale"
    ),
    pytest.param([("Pragma", "x-other")], FRESH_100, 50, PRIVATE, FRESH, id="5.4-other-pragma-ignored"),
    # §5.2.1.5 request no-store does not forbid using what is already stored
    pytest.param([cc("no-store")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.5-no-store-may-use-stored"),
    # §5.2.1.1 request max-age limits the acceptable age, never extends a lifetime
    pytest.param([cc("max-age=60")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.1-age-below-max-age"),
    pytest.param([cc("max-age=50")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.1-age-equals-max-age"),
    pytest.param([cc("max-age=49")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.2.1.1-age-above-max-age"),
    pytest.param([cc("max-age=0")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.2.1.1-max-age-0"),
    pytest.param([cc("max-age=1000000")], FRESH_100, 150, PRIVATE, VALIDATE, id="5.2.1.1-never-extends-lifetime"),
    pytest.param([cc("max-age=1000000")], [("Expires", "0")], 0, PRIVATE, VALIDATE, id="5.2.1.1-not-over-expires-0"),
    # §5.2.1.2 max-stale
    pytest.param([cc("max-stale")], FRESH_100, 150, PRIVATE, STALE_OK, id="5.2.1.2-no-value-any-staleness"),
    pytest.param([cc("max-stale")], FRESH_100, 1e9, PRIVATE, STALE_OK, id="5.2.1.2-no-value-huge-staleness"),
    pytest.param([cc("max-stale=50")], FRESH_100, 150, PRIVATE, STALE_OK, id="5.2.1.2-staleness-equals-value"),
    pytest.param([cc("max-stale=49")], FRESH_100, 150, PRIVATE, VALIDATE, id="5.2.1.2-staleness-above-value"),
    pytest.param([cc('max-stale="60"')], FRESH_100, 150, PRIVATE, STALE_OK, id="5.2.1.2-quoted-value"),
    pytest.param([cc("max-stale=abc")], FRESH_100, 150, PRIVATE, VALIDATE, id="5.2.1.2-invalid-value-not-stale"),
    pytest.param([cc("max-stale")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.2-fresh-stays-fresh"),
    pytest.param(
        [cc("max-stale, max-age=120")], FRESH_100, 150, PRIVATE, VALIDATE, id="5.2.1.2-5.2.1.1-max-age-still-limits"
    ),
    pytest.param(
        [cc("max-stale, max-age=200")], FRESH_100, 150, PRIVATE, STALE_OK, id="5.2.1.2-5.2.1.1-within-max-age"
    ),
    # §4.2.4: max-stale blocked by response directives
    pytest.param(
        [cc("max-stale")], [cc("max-age=100, must-revalidate")], 150, PRIVATE, VALIDATE, id="5.2.2.2-blocks-max-stale"
    ),
    pytest.param(
        [cc("max-stale")],
        [cc("max-age=100, must-revalidate")],
        150,
        SHARED,
        VALIDATE,
        id="5.2.2.2-blocks-max-stale-shared",
    ),
    pytest.param(
        [cc("max-stale")],
        [cc("max-age=100, proxy-revalidate")],
        150,
        SHARED,
        VALIDATE,
        id="5.2.2.8-proxy-revalidate-blocks-shared",
    ),
    pytest.param(
        [cc("max-stale")],
        [cc("max-age=100, proxy-revalidate")],
        150,
        PRIVATE,
        STALE_OK,
        id="5.2.2.8-proxy-revalidate-ignored-private",
    ),
    pytest.param([cc("max-stale")], [cc("s-maxage=100")], 150, SHARED, VALIDATE, id="5.2.2.10-s-maxage-blocks-shared"),
    pytest.param(
        [cc("max-stale")],
        [cc("max-age=100, s-maxage=100")],
        150,
        PRIVATE,
        STALE_OK,
        id="5.2.2.10-s-maxage-ignored-private",
    ),
    pytest.param(
        [cc("max-stale")], [cc("max-age=100, no-cache")], 150, PRIVATE, VALIDATE, id="5.2.2.4-no-cache-blocks-max-stale"
    ),
    # §5.2.1.3 min-fresh: 50 s of freshness left
    pytest.param([cc("min-fresh=49")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.3-enough-freshness-left"),
    pytest.param([cc("min-fresh=50")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.3-exactly-enough"),
    pytest.param([cc("min-fresh=51")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.2.1.3-not-enough-freshness-left"),
    pytest.param([cc("min-fresh=abc")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.3-invalid-ignored"),
    # §5.2.1.7 only-if-cached
    pytest.param([cc("only-if-cached")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.1.7-fresh-served"),
    pytest.param([cc("only-if-cached")], FRESH_100, 150, PRIVATE, TIMEOUT, id="5.2.1.7-stale-gateway-timeout"),
    pytest.param(
        [cc("only-if-cached, max-stale")], FRESH_100, 150, PRIVATE, STALE_OK, id="5.2.1.7-5.2.1.2-stale-allowed"
    ),
    pytest.param(
        [cc("only-if-cached, no-cache")], FRESH_100, 50, PRIVATE, TIMEOUT, id="5.2.1.7-5.2.1.4-needs-validation"
    ),
    pytest.param(
        [cc("only-if-cached")], [cc("no-cache, max-age=100")], 50, PRIVATE, TIMEOUT, id="5.2.1.7-5.2.2.4-no-cache"
    ),
    # §5.2.2.4 response no-cache
    pytest.param((), [cc("no-cache")], 0, PRIVATE, VALIDATE, id="5.2.2.4-no-cache"),
    pytest.param((), [cc("no-cache, max-age=100")], 50, PRIVATE, VALIDATE, id="5.2.2.4-no-cache-with-max-age"),
    pytest.param((), [cc("max-age=100"), cc("no-cache")], 50, PRIVATE, VALIDATE, id="5.2.2.4-no-cache-second-line"),
    pytest.param(
        (), [cc('no-cache="Set-Cookie", max-age=100')], 50, PRIVATE, FRESH, id="5.2.2.4-qualified-not-whole-response"
    ),
    # §5.2.2.2 must-revalidate only matters once stale
    pytest.param((), [cc("max-age=100, must-revalidate")], 50, PRIVATE, FRESH, id="5.2.2.2-fresh-served"),
    pytest.param((), [cc("max-age=100, must-revalidate")], 150, PRIVATE, VALIDATE, id="5.2.2.2-stale-validated"),
    # RFC 8246 immutable
    pytest.param([cc("max-age=0")], [cc("max-age=100, immutable")], 50, PRIVATE, FRESH, id="8246-immutable-reload"),
    pytest.param([cc("no-cache")], [cc("max-age=100, immutable")], 50, PRIVATE, VALIDATE, id="8246-force-reload"),
    pytest.param((), [cc("max-age=100, immutable")], 150, PRIVATE, VALIDATE, id="8246-immutable-stale-validated"),
    pytest.param(
        [cc("min-fresh=60")], [cc("max-age=100, immutable")], 50, PRIVATE, VALIDATE, id="8246-5.2.1.3-min-fresh-holds"
    ),
    # §5.2.1 directives on later lines and garbage
    pytest.param([cc("foo"), cc("no-cache")], FRESH_100, 50, PRIVATE, VALIDATE, id="5.2.1-second-line-counts"),
    pytest.param([cc("x-unknown=1, ,,")], FRESH_100, 50, PRIVATE, FRESH, id="5.2.3-unknown-directive-ignored"),
]


@pytest.mark.parametrize(("req_items", "resp_items", "age", "options", "expected"), DECIDE_CASES)
def test_decide_rfc9111_4_and_5_2(
    req_items: Items, resp_items: Items, age: float, options: CacheOptions, expected: str
) -> None:
    decision = decide(req_items, resp_items, age, options)
    assert type(decision).__name__ == expected
    if isinstance(decision, (policy.Fresh, policy.StaleAllowed)):
        assert decision.age == age


def test_nothing_stored_is_a_miss_rfc9111_4() -> None:
    decision = policy.decide(request(), None, NOW, PRIVATE)
    assert isinstance(decision, policy.Miss)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("only-if-cached", id="5.2.1.7-plain"),
        pytest.param("ONLY-IF-CACHED, max-stale", id="5.2.1.7-with-max-stale"),
    ],
)
def test_only_if_cached_nothing_stored_is_gateway_timeout_rfc9111_5_2_1_7(value: str) -> None:
    decision = policy.decide(request([cc(value)]), None, NOW, PRIVATE)
    assert isinstance(decision, policy.GatewayTimeout)
    assert "§5.2.1.7" in decision.reason


@pytest.mark.parametrize(
    ("req_items", "section"),
    [
        pytest.param([cc("no-cache")], "§5.2.1.4", id="5.2.1.4-reason"),
        pytest.param([cc("max-age=10")], "§5.2.1.1", id="5.2.1.1-reason"),
        pytest.param([cc("min-fresh=90")], "§5.2.1.3", id="5.2.1.3-reason"),
    ],
)
def test_validate_reason_cites_the_request_directive_rfc9111_5_2_1(req_items: Items, section: str) -> None:
    decision = decide(req_items, FRESH_100, 50)
    assert isinstance(decision, policy.Validate)
    assert section in decision.reason


# ---------------------------------------------------------------------------
# RFC 5861 §4 stale-if-error windows, from the response and from the request

# A max-age=100 response at age 150 is 50 s stale.
STALE_IF_ERROR_CASES = [
    pytest.param((), [cc("max-age=100, stale-if-error=60")], 150, True, id="5861-response-window-open"),
    pytest.param((), [cc("max-age=100, stale-if-error=50")], 150, True, id="5861-response-window-boundary"),
    pytest.param((), [cc("max-age=100, stale-if-error=49")], 150, False, id="5861-response-window-closed"),
    pytest.param([cc("stale-if-error=60")], FRESH_100, 150, True, id="5861-request-window-open"),
    pytest.param([cc("stale-if-error=10")], FRESH_100, 150, False, id="5861-request-window-closed"),
    pytest.param(
        [cc("stale-if-error=60")], [cc("max-age=100, stale-if-error=10")], 150, True, id="5861-widest-window-request"
    ),
    pytest.param(
        [cc("stale-if-error=10")], [cc("max-age=100, stale-if-error=60")], 150, True, id="5861-widest-window-response"
    ),
    pytest.param((), FRESH_100, 150, False, id="5861-no-window"),
    pytest.param([cc("stale-if-error=abc")], FRESH_100, 150, False, id="5861-invalid-window"),
    pytest.param(
        (), [cc("max-age=100, stale-if-error=60, must-revalidate")], 150, False, id="5861-4.2.4-must-revalidate-wins"
    ),
    pytest.param(
        [cc("stale-if-error=60")],
        [cc("max-age=100, must-revalidate")],
        150,
        False,
        id="5861-4.2.4-must-revalidate-wins-over-request",
    ),
    pytest.param((), [cc("max-age=100, stale-if-error=60, no-cache")], 150, False, id="5861-4.2.4-no-cache-wins"),
    pytest.param((), [cc("max-age=100, stale-if-error=60")], 0, True, id="5861-fresh-but-revalidating"),
]


@pytest.mark.parametrize(("req_items", "resp_items", "age", "allowed"), STALE_IF_ERROR_CASES)
def test_stale_if_error_rfc5861_4(req_items: Items, resp_items: Items, age: float, allowed: bool) -> None:
    req_items = [*req_items, cc("no-cache")] if age == 0 else req_items  # force a Validate when fresh
    decision = decide(req_items, resp_items, age)
    assert isinstance(decision, policy.Validate)
    assert decision.stale_if_error is allowed


@pytest.mark.parametrize(
    ("options", "allowed"),
    [
        pytest.param(PRIVATE, True, id="5861-5.2.2.8-proxy-revalidate-private"),
        pytest.param(SHARED, False, id="5861-5.2.2.8-proxy-revalidate-shared"),
    ],
)
def test_stale_if_error_and_proxy_revalidate_rfc5861_4(options: CacheOptions, allowed: bool) -> None:
    decision = decide((), [cc("max-age=100, stale-if-error=60, proxy-revalidate")], 150, options)
    assert isinstance(decision, policy.Validate)
    assert decision.stale_if_error is allowed


# ---------------------------------------------------------------------------
# §4.3.1 the conditional request sent to validate

CONDITIONAL_CASES = [
    pytest.param([("ETag", '"v1"')], (("If-None-Match", '"v1"'),), id="4.3.1-etag"),
    pytest.param([("ETag", 'W/"v1"')], (("If-None-Match", 'W/"v1"'),), id="4.3.1-weak-etag"),
    pytest.param([("Last-Modified", LAST_MODIFIED)], (("If-Modified-Since", LAST_MODIFIED),), id="4.3.1-last-modified"),
    pytest.param(
        [("Last-Modified", LAST_MODIFIED), ("ETag", '"v1"')],
        (("If-None-Match", '"v1"'), ("If-Modified-Since", LAST_MODIFIED)),
        id="4.3.1-both",
    ),
    pytest.param([("Last-Modified", "yesterday")], (), id="4.3.1-invalid-last-modified-not-sent"),
    pytest.param([], (), id="4.3.1-no-validator"),
]


@pytest.mark.parametrize(("validators", "expected"), CONDITIONAL_CASES)
def test_validate_carries_conditional_fields_rfc9111_4_3_1(
    validators: Items, expected: tuple[tuple[str, str], ...]
) -> None:
    decision = decide((), [cc("max-age=100"), *validators], 150)
    assert isinstance(decision, policy.Validate)
    assert decision.headers == expected
    assert policy.conditional_headers(stored([cc("max-age=100"), *validators])) == expected


@pytest.mark.parametrize(
    ("req_items", "expected"),
    [
        pytest.param([("If-None-Match", '"a"')], True, id="4.3.2-if-none-match"),
        pytest.param([("If-Modified-Since", LAST_MODIFIED)], True, id="4.3.2-if-modified-since"),
        pytest.param([("if-none-match", '"a"')], True, id="4.3.2-name-case-insensitive"),
        pytest.param([("If-Match", '"a"')], False, id="4.3.2-if-match-is-not-cache-evaluated"),
        pytest.param([], False, id="4.3.2-plain-request"),
    ],
)
def test_is_conditional_rfc9111_4_3_2(req_items: Items, expected: bool) -> None:
    assert policy.is_conditional(request(req_items)) is expected


@pytest.mark.parametrize(
    ("req_items", "expected"),
    [
        pytest.param([("If-Match", '"a"')], True, id="rfc9110-13.1.1-if-match"),
        pytest.param([("If-Unmodified-Since", LAST_MODIFIED)], True, id="rfc9110-13.1.4-if-unmodified-since"),
        pytest.param([("If-Range", '"a"')], True, id="rfc9110-13.1.5-if-range"),
        pytest.param([("If-None-Match", '"a"')], False, id="rfc9110-13.1.2-if-none-match-not-precondition"),
    ],
)
def test_has_preconditions_rfc9110_13_1(req_items: Items, expected: bool) -> None:
    assert policy.has_preconditions(request(req_items)) is expected


def test_request_directives_parse_rfc9111_5_2_1() -> None:
    rq = policy.request_directives(
        Headers([cc("no-cache, no-store, max-age=5, max-stale=7, min-fresh=9, only-if-cached, stale-if-error=11")])
    )
    assert rq == policy.RequestDirectives(
        no_cache=True, no_store=True, max_age=5, max_stale=7, min_fresh=9, only_if_cached=True, stale_if_error=11
    )


@pytest.mark.parametrize(
    ("value", "max_stale"),
    [
        pytest.param("max-stale", float("inf"), id="5.2.1.2-no-value-unlimited"),
        pytest.param("max-stale=0", 0.0, id="5.2.1.2-zero"),
        pytest.param("max-stale=abc", None, id="5.2.1.2-invalid"),
        pytest.param(None, None, id="5.2.1.2-absent"),
    ],
)
def test_request_max_stale_value_rfc9111_5_2_1_2(value: Optional[str], max_stale: Optional[float]) -> None:
    headers = Headers([cc(value)] if value is not None else [])
    assert policy.request_directives(headers).max_stale == max_stale


# RFC 5861 §3 stale-while-revalidate
SWR_CASES = [
    pytest.param([], [cc("max-age=100, stale-while-revalidate=60")], 150, "StaleWhileRevalidate", id="5861-3-within"),
    pytest.param([], [cc("max-age=100, stale-while-revalidate=60")], 170, VALIDATE, id="5861-3-beyond-window"),
    pytest.param([], [cc("max-age=100, stale-while-revalidate=60")], 50, FRESH, id="5861-3-fresh-is-fresh"),
    pytest.param(
        [], [cc("max-age=100, stale-while-revalidate=60, must-revalidate")], 150, VALIDATE, id="5861-3-must-revalidate"
    ),
    pytest.param([], [cc("no-cache, stale-while-revalidate=60")], 10, VALIDATE, id="5861-3-no-cache"),
    pytest.param(
        [cc("no-cache")], [cc("max-age=100, stale-while-revalidate=60")], 150, VALIDATE, id="5861-3-request-no-cache"
    ),
    pytest.param(
        [cc("max-age=10")], [cc("max-age=100, stale-while-revalidate=60")], 150, VALIDATE, id="5861-3-request-max-age"
    ),
    pytest.param(
        [], [cc("s-maxage=100, stale-while-revalidate=60")], 150, VALIDATE, id="5861-3-shared-s-maxage", marks=()
    ),
]


@pytest.mark.parametrize(("req_items", "resp_items", "age", "expected"), SWR_CASES)
def test_stale_while_revalidate_rfc5861_3(req_items: Items, resp_items: Items, age: float, expected: str) -> None:
    options = SHARED if "s-maxage" in resp_items[0][1] else PRIVATE
    decision = decide(req_items, resp_items, age, options)
    assert type(decision).__name__ == expected
    if isinstance(decision, policy.StaleWhileRevalidate):
        assert decision.age == age


def test_stale_while_revalidate_carries_validators_rfc5861_3() -> None:
    decision = decide([], [cc("max-age=1, stale-while-revalidate=60"), ("ETag", '"v"')], 5)
    assert isinstance(decision, policy.StaleWhileRevalidate)
    assert decision.headers == (("If-None-Match", '"v"'),)


@pytest.mark.parametrize(
    ("fields", "only", "for_itself"),
    [
        ([], False, False),
        ([("Cache-Control", "only-if-cached")], True, False),
        ([("Cache-Control", "max-age=0, only-if-cached"), ("Range", "bytes=0-1")], True, False),
        ([("If-None-Match", '"a"')], False, True),
        ([("If-Modified-Since", "Sat, 05 Dec 2026 00:00:00 GMT")], False, True),
        ([("Cache-Control", "no-store")], False, True),
        ([("If-Match", '"a"')], False, False),  # a precondition: for the origin, not a 304 to our copy
    ],
)
def test_only_if_cached_and_answers_for_one_request(
    fields: list[tuple[str, str]], only: bool, for_itself: bool
) -> None:
    """RFC 9111 §5.2.1.7 (only-if-cached); RFC 9110 §13.1 and RFC 9111 §5.2.1.5 (an answer
    that is the request's own)."""
    req = RequestView("GET", "http://example.com/r", Headers(fields))
    assert policy.only_if_cached(req) is only
    assert policy.answered_for_itself(req) is for_itself

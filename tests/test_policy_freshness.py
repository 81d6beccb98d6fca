"""RFC 9111 §4.2: freshness lifetime (§4.2.1), heuristic freshness (§4.2.2) and the
age calculation (§4.2.3), including clock skew and invalid or duplicated fields."""

from __future__ import annotations

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import policy
from httpcache._headers import DELTA_SECONDS_MAX, Headers
from httpcache.models import CacheOptions, RequestView, StoredResponse

DAY = 86400.0


def stored(
    headers: Items = (),
    *,
    status: int = 200,
    request_time: float = NOW,
    response_time: float = NOW,
) -> StoredResponse:
    return StoredResponse(
        url=URL,
        method="GET",
        status=status,
        reason="",
        headers=Headers(headers),
        body_length=4,
        request_time=request_time,
        response_time=response_time,
    )


def dated(*items: tuple[str, str], date: float = NOW) -> list[tuple[str, str]]:
    return [("Date", http_date(date)), *items]


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


# ---------------------------------------------------------------------------
# §4.2.1 explicit lifetime: s-maxage (shared only) > max-age > Expires - Date

LIFETIME_CASES = [
    pytest.param(dated(cc("s-maxage=10, max-age=100")), SHARED, 10.0, id="4.2.1-s-maxage-first-in-shared"),
    pytest.param(dated(cc("max-age=100, s-maxage=10")), SHARED, 10.0, id="4.2.1-s-maxage-first-any-order"),
    pytest.param(dated(cc("s-maxage=10, max-age=100")), PRIVATE, 100.0, id="4.2.1-s-maxage-ignored-in-private"),
    pytest.param(dated(cc("s-maxage=10")), PRIVATE, 0.0, id="4.2.1-only-s-maxage-private-no-lifetime"),
    pytest.param(
        dated(cc("s-maxage=10"), ("Expires", http_date(NOW + 500))), SHARED, 10.0, id="4.2.1-s-maxage-over-expires"
    ),
    pytest.param(
        dated(cc("max-age=100"), ("Expires", http_date(NOW + 500))), PRIVATE, 100.0, id="4.2.1-max-age-over-expires"
    ),
    pytest.param(
        dated(cc("max-age=0"), ("Expires", http_date(NOW + 500))), PRIVATE, 0.0, id="4.2.1-max-age-0-over-expires"
    ),
    pytest.param(dated(cc("max-age=100")), SHARED, 100.0, id="4.2.1-max-age-in-shared"),
    pytest.param(dated(cc('max-age="100"')), PRIVATE, 100.0, id="4.2.1-quoted-max-age-5.2"),
    pytest.param(dated(cc("MAX-AGE=100")), PRIVATE, 100.0, id="4.2.1-directive-case-insensitive"),
    pytest.param(dated(cc("max-age=99999999999")), PRIVATE, float(DELTA_SECONDS_MAX), id="4.2.1-1.2.2-clamped"),
    pytest.param(dated(cc("max-age=abc")), PRIVATE, 0.0, id="4.2.1-invalid-max-age-is-stale"),
    pytest.param(dated(cc("max-age=-1")), PRIVATE, 0.0, id="4.2.1-negative-max-age-is-stale"),
    pytest.param(dated(cc("max-age")), PRIVATE, 0.0, id="4.2.1-max-age-without-value-is-stale"),
    pytest.param(
        dated(cc("max-age=abc"), ("Last-Modified", http_date(NOW - 10 * DAY))),
        PRIVATE,
        0.0,
        id="4.2.1-invalid-max-age-no-heuristic",
    ),
    # Expires - Date
    pytest.param(dated(("Expires", http_date(NOW + 300))), PRIVATE, 300.0, id="4.2.1-expires-minus-date"),
    pytest.param(
        dated(("Expires", http_date(NOW + 300)), date=NOW - 100), PRIVATE, 400.0, id="4.2.1-expires-minus-date-not-now"
    ),
    pytest.param([("Expires", http_date(NOW + 300))], PRIVATE, 300.0, id="4.2.1-expires-no-date-uses-receipt"),
    pytest.param(
        dated(("Expires", http_date(NOW + 300).replace("GMT", "gMT"))),
        PRIVATE,
        300.0,
        id="4.2-expires-zone-case-insensitive",
    ),
    pytest.param(
        dated(("Expires", http_date(NOW + 300).replace("GMT", "UTC"))), PRIVATE, 0.0, id="4.2-expires-utc-zone-invalid"
    ),
    pytest.param(
        [("Date", "garbage"), ("Expires", http_date(NOW + 300))], PRIVATE, 300.0, id="4.2.1-invalid-date-uses-receipt"
    ),
    pytest.param(dated(("Expires", http_date(NOW - 300))), PRIVATE, 0.0, id="4.2.1-expires-in-past"),
    pytest.param(dated(("Expires", http_date(NOW))), PRIVATE, 0.0, id="4.2.1-expires-equals-date"),
    pytest.param(dated(("Expires", "0")), PRIVATE, 0.0, id="5.3-expires-0-is-stale"),
    pytest.param(dated(("Expires", "-1")), PRIVATE, 0.0, id="5.3-expires-minus-1-is-stale"),
    pytest.param(dated(("Expires", "")), PRIVATE, 0.0, id="5.3-expires-empty-is-stale"),
    pytest.param(dated(("Expires", "next week")), PRIVATE, 0.0, id="5.3-expires-garbage-is-stale"),
    pytest.param(
        dated(("Expires", "0"), ("Last-Modified", http_date(NOW - 10 * DAY))),
        PRIVATE,
        0.0,
        id="5.3-invalid-expires-no-heuristic",
    ),
    pytest.param(dated(("Expires", "Sunday, 06-Nov-94 08:49:37 GMT")), PRIVATE, 0.0, id="5.3-rfc850-expires-in-past"),
    pytest.param(
        dated(("Expires", "Sun Nov  6 08:49:37 2050")), PRIVATE, 2551337377.0 - NOW, id="4.2.1-asctime-expires"
    ),
]


@pytest.mark.parametrize(("headers", "options", "expected"), LIFETIME_CASES)
def test_freshness_lifetime_rfc9111_4_2_1(headers: Items, options: CacheOptions, expected: float) -> None:
    assert policy.freshness_lifetime(stored(headers), options) == expected


DUPLICATE_CASES = [
    pytest.param(dated(cc("max-age=60, max-age=3600")), 60.0, id="4.2.1-duplicate-max-age-one-line"),
    pytest.param(dated(cc("max-age=60"), cc("max-age=3600")), 60.0, id="4.2.1-duplicate-max-age-two-lines"),
    pytest.param(
        dated(("Expires", http_date(NOW + 60)), ("Expires", http_date(NOW + 3600))),
        60.0,
        id="4.2.1-duplicate-expires",
    ),
    pytest.param(dated(cc("s-maxage=60, s-maxage=3600")), 60.0, id="4.2.1-duplicate-s-maxage"),
]


@pytest.mark.parametrize(("headers", "first"), DUPLICATE_CASES)
def test_duplicates_use_first_or_are_stale_rfc9111_4_2_1(headers: Items, first: float) -> None:
    # "either the first occurrence should be used or the response should be considered stale"
    assert policy.freshness_lifetime(stored(headers), SHARED) in (first, 0.0)


# ---------------------------------------------------------------------------
# §4.2.2 heuristic freshness

HEURISTIC_CASES = [
    pytest.param(200, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-ten-percent"),
    pytest.param(200, [("Last-Modified", http_date(NOW - 10_000))], PRIVATE, 1000.0, id="4.2.2-no-date-uses-receipt"),
    pytest.param(
        200, dated(("Last-Modified", http_date(NOW - 10_000)), date=NOW - 2000), PRIVATE, 800.0, id="4.2.2-uses-date"
    ),
    pytest.param(200, dated(("Last-Modified", http_date(NOW - 100 * DAY))), PRIVATE, DAY, id="4.2.2-capped-one-day"),
    pytest.param(
        200,
        dated(("Last-Modified", http_date(NOW - 10_000))),
        CacheOptions(heuristic_max=500.0),
        500.0,
        id="4.2.2-heuristic-max-configurable",
    ),
    pytest.param(
        200,
        dated(("Last-Modified", http_date(NOW - 10_000))),
        CacheOptions(heuristic_fraction=0.5),
        5000.0,
        id="4.2.2-fraction-configurable",
    ),
    pytest.param(
        200,
        dated(("Last-Modified", http_date(NOW - 10_000))),
        CacheOptions(heuristic_fraction=0.0),
        0.0,
        id="4.2.2-fraction-0-disables",
    ),
    pytest.param(
        200,
        dated(("Last-Modified", http_date(NOW - 10_000))),
        CacheOptions(heuristic_max=0.0),
        0.0,
        id="4.2.2-max-0-disables",
    ),
    pytest.param(200, dated(("Last-Modified", http_date(NOW))), PRIVATE, 0.0, id="4.2.2-modified-at-date"),
    pytest.param(200, dated(("Last-Modified", http_date(NOW + 100))), PRIVATE, 0.0, id="4.2.2-modified-after-date"),
    pytest.param(200, dated(("Last-Modified", "yesterday")), PRIVATE, 0.0, id="4.2.2-invalid-last-modified"),
    pytest.param(200, dated(), PRIVATE, 0.0, id="4.2.2-no-last-modified"),
    pytest.param(200, dated(("ETag", '"x"')), PRIVATE, 0.0, id="4.2.2-etag-is-no-heuristic"),
    # only heuristically cacheable statuses (RFC 9110 §15.1)
    pytest.param(203, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-203"),
    pytest.param(204, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-204"),
    pytest.param(301, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-301"),
    pytest.param(308, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-308"),
    pytest.param(404, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-404"),
    pytest.param(410, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-410"),
    pytest.param(501, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 1000.0, id="4.2.2-501"),
    pytest.param(302, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 0.0, id="4.2.2-302-not-heuristic"),
    pytest.param(303, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 0.0, id="4.2.2-303-not-heuristic"),
    pytest.param(307, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 0.0, id="4.2.2-307-not-heuristic"),
    pytest.param(403, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 0.0, id="4.2.2-403-not-heuristic"),
    pytest.param(500, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 0.0, id="4.2.2-500-not-heuristic"),
    pytest.param(503, dated(("Last-Modified", http_date(NOW - 10_000))), PRIVATE, 0.0, id="4.2.2-503-not-heuristic"),
    pytest.param(
        302,
        dated(cc("public"), ("Last-Modified", http_date(NOW - 10_000))),
        PRIVATE,
        1000.0,
        id="4.2.2-public-marks-explicitly-cacheable",
    ),
    # never a heuristic when an explicit lifetime is present
    pytest.param(
        200,
        dated(cc("max-age=5"), ("Last-Modified", http_date(NOW - 10_000))),
        PRIVATE,
        5.0,
        id="4.2.2-not-over-max-age",
    ),
    pytest.param(
        200,
        dated(("Expires", http_date(NOW + 7)), ("Last-Modified", http_date(NOW - 10_000))),
        PRIVATE,
        7.0,
        id="4.2.2-not-over-expires",
    ),
]


@pytest.mark.parametrize(("status", "headers", "options", "expected"), HEURISTIC_CASES)
def test_heuristic_freshness_rfc9111_4_2_2(status: int, headers: Items, options: CacheOptions, expected: float) -> None:
    assert policy.freshness_lifetime(stored(headers, status=status), options) == pytest.approx(expected)


# ---------------------------------------------------------------------------
# §4.2.3 current age

# (headers, request_time, response_time, now, expected age)
AGE_CASES = [
    pytest.param([], NOW, NOW, NOW, 0.0, id="4.2.3-just-received"),
    pytest.param([], NOW, NOW, NOW + 10, 10.0, id="4.2.3-resident-time"),
    pytest.param(dated(date=NOW - 30), NOW, NOW, NOW, 30.0, id="4.2.3-apparent-age"),
    pytest.param(dated(date=NOW - 30), NOW, NOW, NOW + 10, 40.0, id="4.2.3-apparent-age-plus-resident"),
    pytest.param(dated(("Age", "100")), NOW, NOW, NOW, 100.0, id="4.2.3-age-header"),
    pytest.param(dated(("Age", "100")), NOW, NOW, NOW + 5, 105.0, id="4.2.3-age-header-plus-resident"),
    pytest.param(dated(("Age", "100")), NOW - 5, NOW, NOW, 105.0, id="4.2.3-corrected-age-adds-response-delay"),
    pytest.param([], NOW - 5, NOW, NOW, 5.0, id="4.2.3-response-delay-without-age"),
    pytest.param(
        dated(("Age", "100"), date=NOW - 200), NOW - 5, NOW, NOW, 200.0, id="4.2.3-apparent-age-wins-when-larger"
    ),
    pytest.param(
        dated(("Age", "300"), date=NOW - 200), NOW - 5, NOW, NOW, 305.0, id="4.2.3-corrected-age-wins-when-larger"
    ),
    pytest.param(dated(("Age", "100")), NOW + 5, NOW, NOW, 100.0, id="4.2.3-request-after-response-no-negative-delay"),
    pytest.param(dated(), NOW, NOW, NOW - 50, 0.0, id="4.2.3-clock-went-back-no-negative-resident-time"),
    # §5.1: "A cache encountering a message with a list-based Age field value SHOULD use the
    # first member ... If the field value (after discarding additional members ...) is
    # invalid ..., a cache SHOULD ignore the field": first member, or as if absent.
    pytest.param(dated(("Age", "abc")), NOW, NOW, NOW, 0.0, id="5.1-invalid-age-ignored"),
    pytest.param(dated(("Age", "abc")), NOW - 5, NOW, NOW + 3, 8.0, id="5.1-invalid-age-ignored-delay-still-counts"),
    pytest.param(dated(("Age", "-5")), NOW, NOW, NOW, 0.0, id="5.1-negative-age-ignored"),
    pytest.param(dated(("Age", "-7200")), NOW, NOW, NOW, 0.0, id="5.1-negative-large-age-ignored"),
    pytest.param(dated(("Age", "1.5")), NOW, NOW, NOW, 0.0, id="5.1-fractional-age-ignored"),
    pytest.param(dated(("Age", "7200.0")), NOW, NOW, NOW, 0.0, id="5.1-decimal-age-ignored"),
    pytest.param(dated(("Age", "7;foo=1")), NOW, NOW, NOW, 0.0, id="5.1-age-parameter-ignored"),
    pytest.param(dated(("Age", "")), NOW, NOW, NOW, 0.0, id="5.1-empty-age-ignored"),
    pytest.param(dated(("Age", "abc"), date=NOW - 30), NOW, NOW, NOW, 30.0, id="5.1-invalid-age-apparent-age-stays"),
    pytest.param(dated(("Age", " 7 ")), NOW, NOW, NOW, 7.0, id="4.2.3-age-with-ows"),
    pytest.param(dated(("Age", "10, 20")), NOW, NOW, NOW, 10.0, id="5.1-age-list-first-member"),
    pytest.param(dated(("Age", "0,7200")), NOW, NOW, NOW, 0.0, id="5.1-age-list-first-member-young"),
    pytest.param(dated(("Age", "7200,0")), NOW, NOW, NOW, 7200.0, id="5.1-age-list-first-member-old"),
    pytest.param(dated(("Age", "0, 0")), NOW, NOW, NOW, 0.0, id="5.1-age-duplicate-zero"),
    pytest.param(dated(("Age", ", 30")), NOW, NOW, NOW, 30.0, id="5.1-9110-5.6.1-empty-member-skipped"),
    pytest.param(dated(("Age", "abc, 30")), NOW, NOW, NOW, 0.0, id="5.1-invalid-first-member-ignored-not-second"),
    pytest.param(dated(("Age", "10"), ("Age", "20")), NOW, NOW, NOW, 10.0, id="5.1-age-two-lines-first"),
    pytest.param(dated(("Age", "7200"), ("Age", "0")), NOW, NOW, NOW, 7200.0, id="5.1-age-two-lines-old-first"),
    pytest.param(dated(("Age", "x"), ("Age", "20")), NOW, NOW, NOW, 0.0, id="5.1-age-two-lines-invalid-first"),
    pytest.param(
        dated(("Age", "99999999999")), NOW, NOW, NOW, float(DELTA_SECONDS_MAX), id="4.2.3-1.2.2-huge-age-clamped"
    ),
    # invalid Date: the time of receipt stands in for it
    pytest.param([("Date", "garbage")], NOW, NOW, NOW + 3, 3.0, id="4.2.3-invalid-date-no-apparent-age"),
    pytest.param(
        [("Date", http_date(NOW - 30)), ("Date", http_date(NOW - 60))],
        NOW,
        NOW,
        NOW,
        0.0,
        id="4.2.3-duplicate-date-invalid",
    ),
    # clock skew: a Date ahead of us never gives a negative apparent age
    pytest.param(dated(date=NOW + 3600), NOW, NOW, NOW + 10, 10.0, id="4.2.3-future-date-apparent-age-zero"),
    pytest.param(dated(date=NOW + 10 * 365 * DAY), NOW, NOW, NOW, 0.0, id="4.2.3-far-future-date-age-zero"),
    pytest.param(
        dated(("Age", "50"), date=NOW + 3600), NOW, NOW, NOW + 10, 60.0, id="4.2.3-future-date-age-header-counts"
    ),
]


@pytest.mark.parametrize(("headers", "request_time", "response_time", "now", "expected"), AGE_CASES)
def test_current_age_rfc9111_4_2_3(
    headers: Items, request_time: float, response_time: float, now: float, expected: float
) -> None:
    s = stored(headers, request_time=request_time, response_time=response_time)
    assert policy.current_age(s, now) == expected


def _fresh_until(s: StoredResponse, options: CacheOptions) -> float:
    """The last whole second after receipt at which ``decide`` serves ``s`` as fresh
    (-1 when never); freshness only ever ends, so a bisection finds it."""
    req = RequestView("GET", URL, Headers())

    def fresh(offset: int) -> bool:
        return isinstance(policy.decide(req, s, s.response_time + offset, options), policy.Fresh)

    if not fresh(0):
        return -1.0
    lo, hi = 0, 100 * 365 * 86400  # fresh at lo; assume stale at hi
    assert not fresh(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fresh(mid):
            lo = mid
        else:
            hi = mid
    return float(lo)


SKEW = 10 * 365 * DAY  # a Date ten years ahead of the cache's clock

SKEW_CASES = [
    pytest.param([cc("max-age=100")], id="4.2.3-skew-max-age"),
    pytest.param([cc("max-age=100"), ("Age", "20")], id="4.2.3-skew-max-age-with-age"),
    pytest.param([("Expires", http_date(NOW + 100))], id="4.2.3-skew-absolute-expires"),
    pytest.param([("Last-Modified", http_date(NOW - 1000))], id="4.2.3-4.2.2-skew-heuristic"),
]


@pytest.mark.parametrize("items", SKEW_CASES)
def test_date_far_in_future_never_makes_a_response_fresh_longer_rfc9111_4_2_3(items: Items) -> None:
    honest = stored(dated(*items, date=NOW))
    skewed = stored(dated(*items, date=NOW + SKEW))
    honest_until = _fresh_until(honest, PRIVATE)
    assert honest_until >= 0.0  # the honest response is fresh at first
    assert _fresh_until(skewed, PRIVATE) <= honest_until


@pytest.mark.parametrize(
    ("items", "fresh_for"),
    [
        pytest.param([cc("max-age=100")], 99.0, id="4.2.3-skew-max-age-counts-from-receipt"),
        pytest.param([cc("max-age=100"), ("Age", "20")], 79.0, id="4.2.3-skew-age-header-still-counts"),
        pytest.param([("Expires", http_date(NOW + SKEW + 100))], 99.0, id="4.2.3-skew-expires-relative-to-date"),
        pytest.param([("Expires", http_date(NOW + 100))], -1.0, id="4.2.3-skew-expires-before-date-is-stale"),
    ],
)
def test_date_in_future_exact_freshness_rfc9111_4_2_3(items: Items, fresh_for: float) -> None:
    assert _fresh_until(stored(dated(*items, date=NOW + SKEW)), PRIVATE) == fresh_for


# ---------------------------------------------------------------------------
# §4.2 fresh iff lifetime > age, and §5.1 Age values


@pytest.mark.parametrize(
    ("offset", "fresh"),
    [
        pytest.param(0.0, True, id="4.2-age-0"),
        pytest.param(99.999, True, id="4.2-just-before-lifetime"),
        pytest.param(100.0, False, id="4.2-age-equals-lifetime-is-stale"),
        pytest.param(100.001, False, id="4.2-after-lifetime"),
    ],
)
def test_fresh_iff_lifetime_greater_than_age_rfc9111_4_2(offset: float, fresh: bool) -> None:
    s = stored(dated(cc("max-age=100")))
    decision = policy.decide(RequestView("GET", URL, Headers()), s, NOW + offset, PRIVATE)
    assert isinstance(decision, policy.Fresh) is fresh


@pytest.mark.parametrize(
    ("age_lines", "fresh"),
    [
        pytest.param(["0,7200"], True, id="5.1-list-first-member-0-fresh"),
        pytest.param(["7200,0"], False, id="5.1-list-first-member-old-stale"),
        pytest.param(["0", "7200"], True, id="5.1-two-lines-first-0-fresh"),
        pytest.param(["7200", "0"], False, id="5.1-two-lines-first-old-stale"),
        pytest.param(["abc"], True, id="5.1-invalid-ignored-fresh"),
        pytest.param(["-7200"], True, id="5.1-negative-ignored-fresh"),
        pytest.param(["7200.0"], True, id="5.1-decimal-ignored-fresh"),
        pytest.param(["7200;foo=bar"], True, id="5.1-parameter-ignored-fresh"),
        pytest.param(["3599"], True, id="5.1-valid-young-fresh"),
        pytest.param(["3600"], False, id="5.1-valid-old-stale"),
    ],
)
def test_age_field_first_member_or_ignored_rfc9111_5_1(age_lines: list[str], fresh: bool) -> None:
    """RFC 9111 §5.1: the first member of a list-based Age; an invalid one is ignored."""
    s = stored(dated(cc("max-age=3600"), *(("Age", line) for line in age_lines)))
    decision = policy.decide(RequestView("GET", URL, Headers()), s, NOW, PRIVATE)
    assert isinstance(decision, policy.Fresh) is fresh


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        pytest.param(0.0, "0", id="5.1-zero"),
        pytest.param(59.99, "59", id="5.1-truncated"),
        pytest.param(-5.0, "0", id="5.1-never-negative"),
        pytest.param(1e12, "2147483648", id="5.1-clamped-2-31"),
    ],
)
def test_age_header_rfc9111_5_1(age: float, expected: str) -> None:
    assert policy.age_header(age) == expected


def test_heuristic_lifetime_needs_no_response_time_rfc9111_4_2_2() -> None:
    headers = Headers(dated(("Last-Modified", http_date(NOW - 10_000))))
    assert policy.heuristic_lifetime(headers, 200, None, PRIVATE) == pytest.approx(1000.0)
    assert policy.heuristic_lifetime(Headers([("Last-Modified", http_date(NOW))]), 200, None, PRIVATE) == 0.0


def test_explicit_freshness_lifetime_beats_options_heuristic_off_rfc9111_4_2_1() -> None:
    s = stored(dated(cc("max-age=30")))
    assert policy.freshness_lifetime(s, CacheOptions(heuristic_fraction=0.0)) == 30.0


def test_ttl_hint_covers_freshness_and_stale_if_error() -> None:
    s = stored(dated(cc("max-age=100, stale-if-error=50")))
    # freshness left + stale-if-error + the grace a stale response is kept for max-stale
    assert policy.ttl_hint(s, NOW + 10, PRIVATE) == 140.0 + policy.STALE_GRACE
    assert policy.ttl_hint(s, NOW + 1000 + policy.STALE_GRACE, PRIVATE) == 1.0
    assert policy.ttl_hint(stored(dated(cc("max-age=100"), ("ETag", '"a"'))), NOW, PRIVATE) is None


def test_lifetime_unchanged_by_unrelated_fields_rfc9111_4_2_1() -> None:
    base = dated(cc("max-age=100"))
    extra = [*base, ("Pragma", "no-cache"), ("Vary", "Accept"), ("Last-Modified", http_date(NOW - 10_000))]
    assert policy.freshness_lifetime(stored(extra), PRIVATE) == 100.0

"""``policy.after_response``, ``after_failure``, ``after_head``: the response side of RFC 9111
as a pure decision. What a 304 selects and freshens (§4.3.4), a 304 that contradicts our
validator, stale-if-error on an origin error or an unreachable origin (RFC 5861 §4),
storing (§3) or passing through, and HEAD responses against stored GETs (§4.3.5)."""

from __future__ import annotations

import re
from typing import Optional

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, ResponseView, StoredResponse

#: The stored response was received 100 s before NOW, 1 s after it was asked for: its
#: corrected initial age is 1 s (§4.2.3), so at NOW it is 101 s old.
RECEIVED = NOW - 100
AGE_AT_NOW = 101.0
T_MODIFIED = http_date(NOW - 10_000)
T_OTHER = http_date(NOW - 5_000)
STORED_FIELDS: Items = (
    ("Date", http_date(RECEIVED)),
    ("Cache-Control", "max-age=10, stale-if-error=3600"),
    ("ETag", '"v1"'),
    ("Last-Modified", T_MODIFIED),
    ("Content-Length", "4"),
    ("X-Old", "kept"),
)
# the times of the exchange after_response judges
SENT, GOT = NOW - 1, NOW


def request(headers: Items = (), method: str = "GET") -> RequestView:
    return RequestView(method, URL, Headers(headers))


def stored(headers: Items = STORED_FIELDS, vary: Optional[dict[str, Optional[str]]] = None) -> StoredResponse:
    return StoredResponse(
        url=URL,
        method="GET",
        status=200,
        reason="OK",
        headers=Headers(headers),
        body_length=4,
        request_time=RECEIVED - 1,
        response_time=RECEIVED,
        vary=vary or {},
    )


def response(status: int, headers: Items = ()) -> ResponseView:
    return ResponseView(status, Headers(headers))


def cites_its_section(reason: str) -> bool:
    return re.search(r"(RFC \d+ )?§\d", reason) is not None


def describe(outcome: policy.ResponseOutcome, kept: Optional[StoredResponse]) -> tuple[object, ...]:
    """The outcome's kind and what it carries, with ``kept`` (the stored response passed
    in) compared by value; also checks that every outcome names its stored response right."""
    assert cites_its_section(outcome.reason), outcome.reason
    if isinstance(outcome, policy.Freshen):
        assert outcome.stored == kept
        return ("Freshen", outcome.pass_through)
    if isinstance(outcome, policy.Unselected):
        assert outcome.stored == kept
        return ("Unselected", outcome.age)
    if isinstance(outcome, policy.ServeStale):
        assert outcome.stored == kept
        return ("ServeStale", outcome.age)
    if isinstance(outcome, policy.Store):
        return ("Store",)
    if isinstance(outcome, policy.PassThrough):
        assert outcome.remove is None or outcome.remove == kept
        return ("PassThrough", outcome.remove is not None)
    raise AssertionError(outcome)


ETAG_304 = [("ETag", '"v1"'), ("Cache-Control", "max-age=600")]
INM = [("If-None-Match", '"v1"')]
IMS = [("If-Modified-Since", T_MODIFIED)]
STORABLE_200 = [("Cache-Control", "max-age=60")]
STALE = ("ServeStale", AGE_AT_NOW)
REMOVES, KEEPS = ("PassThrough", True), ("PassThrough", False)

# (stored?, request fields, status, response fields, stale_if_error) -> outcome
AFTER_RESPONSE_CASES = [
    # §4.3.4: a 304 selects the stored response we asked about and freshens it
    pytest.param(True, (), 304, ETAG_304, False, ("Freshen", False), id="4.3.4-304-selects-served-fresh"),
    pytest.param(True, INM, 304, ETAG_304, False, ("Freshen", True), id="4.3.4-caller-inm-gets-the-304"),
    pytest.param(True, IMS, 304, ETAG_304, False, ("Freshen", True), id="4.3.4-caller-ims-gets-the-304"),
    pytest.param(True, (), 304, [("ETag", 'W/"v1"')], False, ("Freshen", False), id="4.3.4-weak-etag-selects"),
    pytest.param(True, (), 304, [], False, ("Freshen", False), id="4.3.4-304-without-validator-answers-ours"),
    pytest.param(
        True, (), 304, [("Last-Modified", T_MODIFIED)], False, ("Freshen", False), id="4.3.4-same-last-modified"
    ),
    pytest.param(True, (), 304, ETAG_304, True, ("Freshen", False), id="4.3.4-304-is-no-error-for-stale-if-error"),
    # §4.3.4: a 304 whose validator contradicts ours selects nothing
    pytest.param(True, (), 304, [("ETag", '"v2"')], False, ("Unselected", AGE_AT_NOW), id="4.3.4-other-etag"),
    pytest.param(True, (), 304, [("Last-Modified", T_OTHER)], False, ("Unselected", AGE_AT_NOW), id="4.3.4-other-lm"),
    pytest.param(True, INM, 304, [("ETag", '"v2"')], False, KEEPS, id="4.3.4-caller-conditional-gets-the-304"),
    # RFC 5861 §4: stale-if-error on 500, 502, 503, 504 only, and only when the decision allowed it
    pytest.param(True, (), 500, (), True, STALE, id="5861-4-500"),
    pytest.param(True, (), 502, (), True, STALE, id="5861-4-502"),
    pytest.param(True, (), 503, (), True, STALE, id="5861-4-503"),
    pytest.param(True, (), 504, (), True, STALE, id="5861-4-504"),
    pytest.param(True, (), 501, (), True, KEEPS, id="5861-4-not-501"),
    pytest.param(True, (), 503, (), False, KEEPS, id="5861-4-not-allowed-error-passes-through-keeps-stored"),
    pytest.param(True, (), 200, STORABLE_200, True, ("Store",), id="5861-4-a-success-is-no-error"),
    pytest.param(False, (), 503, (), True, KEEPS, id="5861-4-nothing-stored-nothing-to-serve"),
    # §3: the answer is stored, or passed through; an answer other than an error or a 304 replaces the stored one
    pytest.param(False, (), 200, STORABLE_200, False, ("Store",), id="3-miss-stored"),
    pytest.param(True, (), 200, STORABLE_200, False, ("Store",), id="3-new-response-stored"),
    pytest.param(False, (), 200, [("Cache-Control", "no-store")], False, KEEPS, id="3-miss-not-storable"),
    pytest.param(True, (), 200, [("Cache-Control", "no-store")], False, REMOVES, id="3-no-store-makes-stored-obsolete"),
    pytest.param(True, (), 403, (), False, REMOVES, id="3-403-makes-stored-obsolete"),
    pytest.param(True, (), 499, (), False, REMOVES, id="3-4xx-makes-stored-obsolete"),
    pytest.param(True, (), 500, (), False, KEEPS, id="3-server-error-keeps-stored"),
    pytest.param(True, (), 599, (), False, KEEPS, id="3-5xx-keeps-stored"),
    pytest.param(False, INM, 304, ETAG_304, False, KEEPS, id="4.3.4-304-to-a-miss-passes-through"),
]


@pytest.mark.parametrize(("has_stored", "req_items", "status", "resp_items", "sie", "expected"), AFTER_RESPONSE_CASES)
def test_after_response(
    has_stored: bool, req_items: Items, status: int, resp_items: Items, sie: bool, expected: tuple[object, ...]
) -> None:
    kept = stored() if has_stored else None
    outcome = policy.after_response(
        request(req_items), kept, response(status, resp_items), SENT, GOT, NOW, PRIVATE, stale_if_error=sie
    )
    assert describe(outcome, kept) == expected


@pytest.mark.parametrize(
    ("status", "resp_items", "sie"),
    [
        pytest.param(304, [("ETag", '"v2"')], False, id="unselected"),
        pytest.param(503, (), True, id="serve-stale"),
    ],
)
def test_the_age_served_is_the_current_age_at_now_rfc9111_4_2_3(status: int, resp_items: Items, sie: bool) -> None:
    outcome = policy.after_response(
        request(), stored(), response(status, resp_items), SENT, GOT, NOW + 10, PRIVATE, stale_if_error=sie
    )
    assert isinstance(outcome, (policy.Unselected, policy.ServeStale))
    assert outcome.age == AGE_AT_NOW + 10


def test_stale_if_error_statuses_rfc5861_4() -> None:
    assert frozenset({500, 502, 503, 504}) == policy.STALE_IF_ERROR_STATUSES


def test_freshen_carries_the_304s_fields_and_times_rfc9111_4_3_4() -> None:
    not_modified = response(304, [*ETAG_304, ("Date", http_date(GOT))])
    outcome = policy.after_response(request(), stored(), not_modified, SENT, GOT, NOW, PRIVATE)
    assert isinstance(outcome, policy.Freshen)
    fresh = outcome.fresh
    assert fresh.headers.get("cache-control") == "max-age=600"  # the 304's field replaced the stored one
    assert fresh.headers.get("x-old") == "kept"
    assert fresh.body_length == 4
    assert (fresh.request_time, fresh.response_time) == (SENT, GOT)
    assert outcome.stored.headers.get("cache-control") == "max-age=10, stale-if-error=3600"  # untouched
    assert policy.decide(request(), fresh, NOW, PRIVATE) == policy.Fresh(1.0)  # the 304's Date; 1 s response delay


def test_freshen_takes_a_new_vary_from_the_request_rfc9111_4_1() -> None:
    req = request([("Accept-Language", "de")])
    outcome = policy.after_response(
        req, stored(), response(304, [("ETag", '"v1"'), ("Vary", "Accept-Language")]), SENT, GOT, NOW, PRIVATE
    )
    assert isinstance(outcome, policy.Freshen)
    assert dict(outcome.fresh.vary) == {"accept-language": "de"}


@pytest.mark.parametrize(
    ("options", "kept"),
    [pytest.param(PRIVATE, ["alice"], id="private-keeps-it"), pytest.param(SHARED, [], id="shared-drops-it")],
)
def test_freshen_judges_fields_by_the_options_rfc9111_5_2_2_7(options: CacheOptions, kept: list[str]) -> None:
    fields = [("ETag", '"v1"'), ("Cache-Control", 'max-age=60, private="X-User"'), ("X-User", "alice")]
    outcome = policy.after_response(request(), stored(), response(304, fields), SENT, GOT, NOW, options)
    assert isinstance(outcome, policy.Freshen)
    assert outcome.fresh.headers.get_all("x-user") == kept


def test_store_judges_by_the_options_rfc9111_5_2_2_7() -> None:
    private = response(200, [("Cache-Control", "private, max-age=60")])
    assert isinstance(policy.after_response(request(), None, private, SENT, GOT, NOW, PRIVATE), policy.Store)
    outcome = policy.after_response(request(), None, private, SENT, GOT, NOW, SHARED)
    assert isinstance(outcome, policy.PassThrough)
    assert "§5.2.2.7" in outcome.reason


def test_pass_through_gives_the_not_storable_reason_rfc9111_3() -> None:
    req, resp = request(), response(200, [("Cache-Control", "no-store")])
    outcome = policy.after_response(req, stored(), resp, SENT, GOT, NOW, PRIVATE)
    assert outcome == policy.PassThrough(policy.not_storable_reason(req, resp, PRIVATE) or "", stored())


def test_after_response_on_a_put_stores_nothing_rfc9111_3() -> None:
    outcome = policy.after_response(request(method="PUT"), None, response(200, STORABLE_200), SENT, GOT, NOW, PRIVATE)
    assert outcome == policy.PassThrough("method PUT is not cacheable (RFC 9111 §3)", None)


# ---------------------------------------------------------------------------
# RFC 5861 §4: the origin could not be reached


@pytest.mark.parametrize(
    ("has_stored", "sie", "serves"),
    [
        pytest.param(True, True, True, id="5861-4-allowed-serves-stale"),
        pytest.param(True, False, False, id="5861-4-not-allowed-error-stands"),
        pytest.param(False, True, False, id="5861-4-nothing-stored"),
    ],
)
def test_after_failure_rfc5861_4(has_stored: bool, sie: bool, serves: bool) -> None:
    kept = stored() if has_stored else None
    outcome = policy.after_failure(request(), kept, NOW + 5, PRIVATE, stale_if_error=sie)
    if not serves:
        assert outcome is None
        return
    assert isinstance(outcome, policy.ServeStale)
    assert outcome.stored == kept
    assert outcome.age == AGE_AT_NOW + 5
    assert cites_its_section(outcome.reason)


# ---------------------------------------------------------------------------
# §4.3.5: HEAD responses and the stored GET responses


@pytest.mark.parametrize(
    ("method", "status", "checked"),
    [
        pytest.param("HEAD", 200, True, id="4.3.5-head-200"),
        pytest.param("HEAD", 304, False, id="4.3.5-head-304"),
        pytest.param("HEAD", 404, False, id="4.3.5-head-404"),
        pytest.param("HEAD", 206, False, id="4.3.5-head-206"),
        pytest.param("GET", 200, False, id="4.3.5-get"),
    ],
)
def test_updates_stored_get_rfc9111_4_3_5(method: str, status: int, checked: bool) -> None:
    assert policy.updates_stored_get(request(method=method), response(status)) is checked


HEAD_CASES = [
    pytest.param([("ETag", '"v2"')], "Remove", id="4.3.5-other-etag-removes"),
    pytest.param([("Last-Modified", T_OTHER)], "Remove", id="4.3.5-other-lm-removes"),
    pytest.param([("ETag", '"v1"'), ("Content-Length", "5")], "Remove", id="4.3.5-other-length-removes"),
    pytest.param([("ETag", '"v1"'), ("Cache-Control", "max-age=600")], "Freshen", id="4.3.5-same-etag-freshens"),
    pytest.param([("Last-Modified", T_MODIFIED)], "Freshen", id="4.3.5-same-lm-freshens"),
    pytest.param([("Content-Length", "4")], None, id="4.3.5-no-validator-says-nothing"),
    pytest.param([], None, id="4.3.5-no-fields-says-nothing"),
]


@pytest.mark.parametrize(("head_items", "expected"), HEAD_CASES)
def test_after_head_rfc9111_4_3_5(head_items: Items, expected: Optional[str]) -> None:
    kept = stored()
    outcome = policy.after_head(request(method="HEAD"), response(200, head_items), kept, SENT, GOT, PRIVATE)
    if expected is None:
        assert outcome is None
        return
    assert type(outcome).__name__ == expected
    assert outcome is not None and outcome.stored == kept
    assert cites_its_section(outcome.reason)
    if isinstance(outcome, policy.Freshen):
        assert outcome.pass_through is False
        assert (outcome.fresh.request_time, outcome.fresh.response_time) == (SENT, GOT)
        assert outcome.fresh.headers.get_all("content-length") == ["4"]  # §3.2: never updated


def test_after_head_freshens_with_the_head_fields_rfc9111_4_3_5() -> None:
    head = response(200, [("ETag", '"v1"'), ("Cache-Control", "max-age=600"), ("X-New", "1")])
    outcome = policy.after_head(request(method="HEAD"), head, stored(), SENT, GOT, PRIVATE)
    assert isinstance(outcome, policy.Freshen)
    assert outcome.fresh.headers.get("cache-control") == "max-age=600"
    assert outcome.fresh.headers.get("x-new") == "1"
    assert outcome.fresh.body_length == 4

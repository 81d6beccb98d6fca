"""RFC 9111 §4.3: answering conditional requests from the cache (§4.3.2), selecting the
stored response a 304 updates and freshening it (§4.3.4, §3.2), HEAD responses (§4.3.5)."""

from __future__ import annotations

import pytest
from _policy_helpers import NOW, PRIVATE, URL, Items, http_date

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import RequestView, ResponseView, StoredResponse

T_MODIFIED = http_date(NOW - 1000)
T_BEFORE = http_date(NOW - 2000)
T_AFTER = http_date(NOW - 500)
T_DATE = http_date(NOW)


def request(headers: Items = ()) -> RequestView:
    return RequestView("GET", URL, Headers(headers))


def stored(headers: Items = (), *, response_time: float = NOW) -> StoredResponse:
    return StoredResponse(
        url=URL,
        method="GET",
        status=200,
        reason="OK",
        headers=Headers(headers),
        body_length=len(b"the stored body"),
        request_time=response_time - 1,
        response_time=response_time,
        vary={"accept": "text/html"},
        auth=None,
    )


def not_modified(headers: Items = ()) -> ResponseView:
    return ResponseView(304, Headers(headers), "Not Modified")


# ---------------------------------------------------------------------------
# §4.3.2 handling a received validation request

EVALUATE_CASES = [
    # If-None-Match: weak comparison (RFC 9110 §13.1.2)
    pytest.param([("If-None-Match", '"a"')], [("ETag", '"a"')], True, id="4.3.2-inm-strong-match"),
    pytest.param([("If-None-Match", 'W/"a"')], [("ETag", '"a"')], True, id="4.3.2-inm-weak-comparison"),
    pytest.param([("If-None-Match", '"a"')], [("ETag", 'W/"a"')], True, id="4.3.2-inm-weak-stored"),
    pytest.param([("If-None-Match", '"x", "a"')], [("ETag", '"a"')], True, id="4.3.2-inm-list"),
    pytest.param([("If-None-Match", '"x"'), ("If-None-Match", '"a"')], [("ETag", '"a"')], True, id="4.3.2-inm-lines"),
    pytest.param([("If-None-Match", '"b"')], [("ETag", '"a"')], False, id="4.3.2-inm-no-match"),
    pytest.param([("If-None-Match", '"a"')], [], False, id="4.3.2-inm-stored-without-etag"),
    pytest.param([("If-None-Match", "*")], [("ETag", '"a"')], True, id="4.3.2-inm-star"),
    pytest.param([("If-None-Match", "*")], [], True, id="4.3.2-inm-star-any-representation"),
    pytest.param([("If-None-Match", "a")], [("ETag", '"a"')], False, id="4.3.2-inm-unquoted-invalid"),
    # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present
    pytest.param(
        [("If-None-Match", '"b"'), ("If-Modified-Since", T_AFTER)],
        [("ETag", '"a"'), ("Last-Modified", T_MODIFIED)],
        False,
        id="4.3.2-ims-ignored-with-inm",
    ),
    pytest.param(
        [("If-None-Match", "garbage"), ("If-Modified-Since", T_AFTER)],
        [("ETag", '"a"'), ("Last-Modified", T_MODIFIED)],
        False,
        id="4.3.2-ims-ignored-with-garbage-inm",
    ),
    # If-Modified-Since: Last-Modified, else Date, else time of receipt
    pytest.param([("If-Modified-Since", T_AFTER)], [("Last-Modified", T_MODIFIED)], True, id="4.3.2-lm-before-ims"),
    pytest.param([("If-Modified-Since", T_MODIFIED)], [("Last-Modified", T_MODIFIED)], True, id="4.3.2-lm-equal-ims"),
    pytest.param([("If-Modified-Since", T_BEFORE)], [("Last-Modified", T_MODIFIED)], False, id="4.3.2-lm-after-ims"),
    pytest.param(
        [("If-Modified-Since", T_AFTER)],
        [("Last-Modified", T_MODIFIED), ("Date", T_DATE)],
        True,
        id="4.3.2-lm-wins-over-date",
    ),
    pytest.param([("If-Modified-Since", T_DATE)], [("Date", T_DATE)], True, id="4.3.2-no-lm-date-equal-ims"),
    pytest.param([("If-Modified-Since", T_AFTER)], [("Date", T_DATE)], False, id="4.3.2-no-lm-date-after-ims"),
    pytest.param([("If-Modified-Since", "garbage")], [("Last-Modified", T_MODIFIED)], False, id="4.3.2-invalid-ims"),
    pytest.param([], [("Last-Modified", T_MODIFIED), ("ETag", '"a"')], False, id="4.3.2-unconditional"),
]


@pytest.mark.parametrize(("req_items", "stored_items", "not_modified_answer"), EVALUATE_CASES)
def test_evaluate_conditional_rfc9111_4_3_2(req_items: Items, stored_items: Items, not_modified_answer: bool) -> None:
    assert policy.evaluate_conditional(request(req_items), stored(stored_items)) is not_modified_answer


@pytest.mark.parametrize(
    ("ims", "expected"),
    [
        pytest.param(http_date(NOW), True, id="4.3.2-received-before-ims"),
        pytest.param(http_date(NOW - 10), False, id="4.3.2-received-after-ims"),
    ],
)
def test_evaluate_conditional_no_lm_no_date_uses_receipt_time_rfc9111_4_3_2(ims: str, expected: bool) -> None:
    # §4.3.2: "neither Last-Modified nor Date is present in the selected stored response,
    # but the cache recorded it as having been received at a time earlier than or equal to
    # the conditional timestamp"
    assert policy.evaluate_conditional(request([("If-Modified-Since", ims)]), stored([])) is expected


def test_not_modified_headers_rfc9110_15_4_5() -> None:
    s = stored(
        [
            ("Date", T_DATE),
            ("ETag", '"a"'),
            ("Cache-Control", "max-age=60"),
            ("Content-Type", "text/html"),
            ("Content-Length", "15"),
            ("Vary", "Accept"),
            ("Expires", T_AFTER),
            ("Content-Location", "/r.html"),
            ("Set-Cookie", "a=1"),
            ("Last-Modified", T_MODIFIED),
        ]
    )
    assert policy.not_modified_headers(s).items() == (
        ("Date", T_DATE),
        ("ETag", '"a"'),
        ("Cache-Control", "max-age=60"),
        ("Vary", "Accept"),
        ("Expires", T_AFTER),
        ("Content-Location", "/r.html"),
        ("Last-Modified", T_MODIFIED),
    )


# ---------------------------------------------------------------------------
# §4.3.4 which stored response a 304 selects

VALIDATOR_CASES = [
    pytest.param([("ETag", '"a"')], [("ETag", '"a"')], True, id="4.3.4-same-strong-etag"),
    pytest.param([("ETag", '"a"')], [("ETag", '"b"')], False, id="4.3.4-other-strong-etag"),
    pytest.param([], [("ETag", '"a"')], False, id="4.3.4-stored-without-etag"),
    pytest.param([("ETag", 'W/"a"')], [("ETag", 'W/"a"')], True, id="4.3.4-same-weak-etag"),
    pytest.param([("ETag", '"a"')], [("ETag", 'W/"a"')], True, id="4.3.4-weak-304-corresponds"),
    # RFC 9110 §13.1.2: the origin compared our If-None-Match weakly (nginx, gzip: W/"a" -> "a")
    pytest.param([("ETag", 'W/"a"')], [("ETag", '"a"')], True, id="4.3.4-strong-304-answers-our-weak-etag"),
    pytest.param(
        [("ETag", '"a"'), ("Last-Modified", T_MODIFIED)],
        [("ETag", '"a"'), ("Last-Modified", T_AFTER)],
        True,
        id="4.3.4-etag-decides-over-last-modified",
    ),
    pytest.param([("Last-Modified", T_MODIFIED)], [("Last-Modified", T_MODIFIED)], True, id="4.3.4-same-lm"),
    pytest.param([("Last-Modified", T_MODIFIED)], [("Last-Modified", T_AFTER)], False, id="4.3.4-other-lm"),
    pytest.param([("ETag", '"a"')], [("Last-Modified", T_MODIFIED)], True, id="4.3.4-lm-in-304-contradicts-nothing"),
    pytest.param([], [], True, id="4.3.4-no-validators-anywhere"),
    # deliberate (policy.validator_matches): the 304 answers a conditional built from this response
    pytest.param([("ETag", '"a"')], [], True, id="4.3.4-no-validator-in-304-answers-our-conditional"),
]


@pytest.mark.parametrize(("stored_items", "resp_items", "selected"), VALIDATOR_CASES)
def test_validator_matches_rfc9111_4_3_4(stored_items: Items, resp_items: Items, selected: bool) -> None:
    assert policy.validator_matches(stored(stored_items), not_modified(resp_items)) is selected


# ---------------------------------------------------------------------------
# §4.3.4 + §3.2 freshening a stored response with a 304

STORED_FIELDS = [
    ("Date", http_date(NOW - 3600)),
    ("Cache-Control", "max-age=10"),
    ("ETag", '"a"'),
    ("Content-Type", "text/html"),
    ("Content-Length", "15"),
    ("Content-Encoding", "gzip"),
    ("Content-Range", "bytes 0-14/15"),
    ("X-Old", "kept"),
    ("Set-Cookie", "a=1"),
    ("Set-Cookie", "b=2"),
]
NOT_MODIFIED_FIELDS = [
    ("Date", http_date(NOW)),
    ("Cache-Control", "max-age=100"),
    ("ETag", '"a"'),
    ("Content-Length", "0"),
    ("Content-Encoding", "br"),
    ("Content-Range", "bytes 0-0/1"),
    ("X-New", "added"),
    ("Set-Cookie", "c=3"),
    ("Connection", "close, X-Hop"),
    ("Keep-Alive", "timeout=5"),
    ("Transfer-Encoding", "chunked"),
    ("X-Hop", "hop"),
]


def _freshened() -> StoredResponse:
    return policy.freshen(
        stored(STORED_FIELDS, response_time=NOW - 3600), not_modified(NOT_MODIFIED_FIELDS), NOW - 1, NOW
    )


@pytest.mark.parametrize(
    ("name", "values"),
    [
        pytest.param("content-length", ["15"], id="3.2-content-length-never-updated"),
        pytest.param("content-encoding", ["gzip"], id="3.2-content-encoding-never-updated"),
        pytest.param("content-range", ["bytes 0-14/15"], id="3.2-content-range-never-updated"),
        pytest.param("cache-control", ["max-age=100"], id="4.3.4-cache-control-replaced"),
        pytest.param("date", [http_date(NOW)], id="4.3.4-date-replaced"),
        pytest.param("etag", ['"a"'], id="4.3.4-etag-once"),
        pytest.param("set-cookie", ["c=3"], id="4.3.4-all-lines-of-a-field-replaced"),
        pytest.param("x-new", ["added"], id="4.3.4-new-field-added"),
        pytest.param("x-old", ["kept"], id="4.3.4-other-stored-field-kept"),
        pytest.param("content-type", ["text/html"], id="4.3.4-absent-in-304-kept"),
        pytest.param("connection", [], id="3.1-connection-not-stored"),
        pytest.param("keep-alive", [], id="3.1-keep-alive-not-stored"),
        pytest.param("transfer-encoding", [], id="3.1-transfer-encoding-not-stored"),
        pytest.param("x-hop", [], id="3.1-connection-listed-not-stored"),
    ],
)
def test_freshen_fields_rfc9111_4_3_4(name: str, values: list[str]) -> None:
    assert _freshened().headers.get_all(name) == values


def test_freshen_keeps_body_and_identity_updates_times_rfc9111_4_3_4() -> None:
    before = stored(STORED_FIELDS, response_time=NOW - 3600)
    after = _freshened()
    assert after.body_length == len(b"the stored body")
    assert (after.url, after.method, after.status, after.reason) == (URL, "GET", 200, "OK")
    assert dict(after.vary) == {"accept": "text/html"}
    assert after.auth is None
    assert (after.request_time, after.response_time) == (NOW - 1, NOW)
    assert before.headers.get("cache-control") == "max-age=10"  # frozen: the original is untouched


def test_freshened_response_is_fresh_again_rfc9111_4_3_4() -> None:
    before = stored(STORED_FIELDS, response_time=NOW - 3600)
    req = request()
    assert isinstance(policy.decide(req, before, NOW, PRIVATE), policy.Validate)
    decision = policy.decide(req, _freshened(), NOW + 5, PRIVATE)
    assert decision == policy.Fresh(6.0)  # 1 s response delay + 5 s resident


# ---------------------------------------------------------------------------
# §4.3.5 HEAD responses

HEAD_CASES = [
    pytest.param([("ETag", '"a"')], [("ETag", '"a"')], False, id="4.3.5-same-etag"),
    pytest.param([("ETag", '"a"')], [("ETag", '"b"')], True, id="4.3.5-other-etag"),
    pytest.param([("Last-Modified", T_MODIFIED)], [("Last-Modified", T_MODIFIED)], False, id="4.3.5-same-lm"),
    pytest.param([("Last-Modified", T_MODIFIED)], [("Last-Modified", T_AFTER)], True, id="4.3.5-other-lm"),
    pytest.param([("Content-Length", "15")], [("Content-Length", "15")], False, id="4.3.5-same-length"),
    pytest.param([("Content-Length", "15")], [("Content-Length", "16")], True, id="4.3.5-other-length"),
    pytest.param(
        [("ETag", '"a"'), ("Content-Length", "15")], [("ETag", '"a"'), ("Content-Length", "99")], True, id="4.3.5-any"
    ),
    pytest.param([("ETag", '"a"'), ("Content-Length", "15")], [], False, id="4.3.5-head-without-validators"),
    pytest.param([("ETag", '"a"')], [("Content-Type", "x/y")], False, id="4.3.5-other-fields-irrelevant"),
    pytest.param([], [("ETag", '"a"')], True, id="4.3.5-received-etag-stored-has-none"),
]


@pytest.mark.parametrize(("stored_items", "head_items", "invalidates"), HEAD_CASES)
def test_head_invalidates_rfc9111_4_3_5(stored_items: Items, head_items: Items, invalidates: bool) -> None:
    head = ResponseView(200, Headers(head_items))
    assert policy.head_invalidates(stored(stored_items), head) is invalidates

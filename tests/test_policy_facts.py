"""The facts of a stored response and of a request view: parsed once when they are built,
from their own fields, and never written later (DESIGN.md rule 4: no write into a frozen
value). Behaviour only: what the facts say, that they follow ``replace``, copies and
pickling, and that the policy reading them changes nothing."""

from __future__ import annotations

import copy
import hashlib
import math
import pickle
from typing import Optional

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, StoredResponse

CDN = CacheOptions(shared=True, surrogate="edge")

FIELDS: Items = (
    ("Date", http_date(NOW - 10)),
    ("Content-Type", "text/html; charset=latin-1"),
    ("Cache-Control", "max-age=60"),
    ("Set-Cookie", "a=1"),
    ("Age", "3"),
    ("ETag", '"v1"'),
    ("set-cookie", "b=2"),
    ("Last-Modified", http_date(NOW - 1000)),
    ("Expires", http_date(NOW + 50)),
    ("Vary", "Accept-Encoding, Accept-Language"),
)


def stored(headers: Items = FIELDS, *, request_time: float = NOW - 2, response_time: float = NOW) -> StoredResponse:
    return StoredResponse(URL, "GET", 200, "OK", Headers(headers), 4, request_time, response_time)


def test_stored_facts_for_the_policy() -> None:
    facts = stored().facts
    assert facts.directives == policy.ResponseDirectives(max_age=60)
    assert facts.date == NOW - 10
    assert (facts.expires, facts.has_expires) == (NOW + 50, True)
    assert facts.last_modified == NOW - 1000
    assert facts.age == 3
    # §4.2.3: max(apparent age 10, Age 3 + response delay 2)
    assert facts.corrected_initial_age == 10.0
    assert facts.etag == '"v1"'
    assert facts.vary_names == ("accept-encoding", "accept-language")


def test_stored_facts_for_building_responses_rfc9110_5_3() -> None:
    facts = stored().facts
    assert facts.lines_without_age == tuple(line for line in FIELDS if line[0] != "Age")
    assert list(facts.combined) == [
        "date",
        "content-type",
        "cache-control",
        "set-cookie",
        "etag",
        "last-modified",
        "expires",
        "vary",
    ]
    assert facts.combined["set-cookie"] == ("Set-Cookie", "a=1, b=2")  # first name, values joined
    assert facts.combined["etag"] == ("ETag", '"v1"')
    assert "age" not in facts.combined
    assert facts.content_type == "text/html; charset=latin-1"
    assert facts.identity_coded is True


def test_combined_is_read_only() -> None:
    combined = stored().facts.combined
    with pytest.raises(TypeError):
        combined["x"] = ("X", "1")  # type: ignore[index]


@pytest.mark.parametrize(
    ("coding", "identity"),
    [
        pytest.param(None, True, id="none"),
        pytest.param("identity", True, id="identity"),
        pytest.param(" Identity ", True, id="identity-any-case"),
        pytest.param("", True, id="empty"),
        pytest.param("gzip", False, id="gzip"),
        pytest.param("gzip, identity", False, id="list"),
    ],
)
def test_identity_coded_rfc9110_8_4_1(coding: Optional[str], identity: bool) -> None:
    fields = [("Content-Type", "text/plain")] + ([] if coding is None else [("Content-Encoding", coding)])
    assert stored(fields).facts.identity_coded is identity


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param([("Age", "5, 10")], 5, id="5.1-first-member-of-a-list"),
        pytest.param([("Age", "5"), ("Age", "10")], 5, id="5.1-first-of-several-lines"),
        pytest.param([("Age", "-5")], None, id="5.1-invalid-ignored"),
        pytest.param([], None, id="5.1-absent"),
    ],
)
def test_age_fact_rfc9111_5_1(fields: Items, expected: Optional[int]) -> None:
    facts = stored(fields, request_time=NOW, response_time=NOW).facts
    assert facts.age == expected
    assert facts.corrected_initial_age == float(expected or 0)
    assert facts.lines_without_age == ()


def test_an_absent_or_invalid_date_and_expires() -> None:
    facts = stored([("Expires", "0"), ("Date", "yesterday")]).facts
    assert (facts.expires, facts.has_expires, facts.date) == (None, True, None)
    assert policy.freshness_lifetime(stored([("Expires", "0")]), PRIVATE) == 0.0  # §5.3: in the past
    nothing = stored([]).facts
    assert (nothing.expires, nothing.has_expires, nothing.last_modified, nothing.etag) == (None, False, None, None)
    assert nothing.vary_names == () and nothing.content_type is None


def test_replace_works_out_new_facts() -> None:
    before = stored()
    after = before.replace(headers=Headers([("Cache-Control", "max-age=5"), ("ETag", '"v2"')]), response_time=NOW + 1)
    assert after.facts.directives.max_age == 5
    assert after.facts.etag == '"v2"'
    assert after.facts.corrected_initial_age == 3.0  # no Date: the response delay, NOW + 1 - (NOW - 2)
    assert before.facts.etag == '"v1"'  # the original is untouched


def test_facts_take_no_part_in_equality_or_repr() -> None:
    assert stored() == stored()
    assert "facts" not in repr(stored())
    assert "facts" not in repr(RequestView("GET", URL, Headers([])))


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
def test_copies_and_pickles_carry_the_same_facts(clone: object) -> None:
    original = stored()
    twin = clone(original)  # type: ignore[operator]
    assert twin == original
    assert twin.facts == original.facts
    assert dict(twin.facts.combined) == dict(original.facts.combined)


@pytest.mark.parametrize("options", [PRIVATE, SHARED, CDN], ids=["private", "shared", "cdn"])
def test_reading_a_stored_response_writes_nothing_into_it(options: CacheOptions) -> None:
    """DESIGN.md rule 4: the policy computes from the facts; it keeps nothing in the value."""
    s = stored([*FIELDS, ("CDN-Cache-Control", "max-age=600"), ("Surrogate-Control", "max-age=30")])
    req = RequestView("GET", URL, Headers([("Accept-Encoding", "gzip")]))
    before = dict(vars(s))
    for now in (NOW, NOW + 1000):
        policy.decide(req, s, now, options)
        policy.freshness_lifetime(s, options)
        policy.current_age(s, now)
        policy.ttl_hint(s, now, options)
        policy.variant_matches(req, s, options)
        policy.conditional_headers(s)
        policy.evaluate_conditional(req, s)
    policy.most_recent([s, stored()])
    assert vars(s) == before


@pytest.mark.parametrize(
    ("options", "lifetime"),
    [
        pytest.param(PRIVATE, 60.0, id="private-cache-control"),
        pytest.param(CDN, 30.0, id="cdn-surrogate-control"),
        pytest.param(CDN.replace(surrogate="other"), 600.0, id="cdn-targeted-field"),
    ],
)
def test_one_stored_response_under_several_options(options: CacheOptions, lifetime: float) -> None:
    """Facts are options-independent: each set of options reads its own directives from them."""
    s = stored([*FIELDS, ("CDN-Cache-Control", "max-age=600"), ("Surrogate-Control", "max-age=30;edge")])
    for _ in range(2):
        assert policy.freshness_lifetime(s, options) == lifetime


# ---------------------------------------------------------------------------
# Request views


REQUEST_CASES = [
    pytest.param([], policy.RequestDirectives(), False, False, id="plain"),
    pytest.param([("Pragma", "no-cache")], policy.RequestDirectives(no_cache=True), False, False, id="5.4-pragma"),
    pytest.param(
        [("Pragma", "no-cache"), ("Cache-Control", "max-stale")],
        policy.RequestDirectives(max_stale=math.inf),
        False,
        False,
        id="5.4-pragma-ignored-with-cache-control",
    ),
    pytest.param([("If-None-Match", '"a"')], policy.RequestDirectives(), True, False, id="13.1-if-none-match"),
    pytest.param([("IF-MODIFIED-SINCE", http_date(NOW))], policy.RequestDirectives(), True, False, id="13.1-ims"),
    pytest.param([("If-Match", '"a"')], policy.RequestDirectives(), False, True, id="13.1-if-match"),
    pytest.param([("If-Range", '"a"')], policy.RequestDirectives(), False, True, id="13.1-if-range"),
    pytest.param([("If-Unmodified-Since", http_date(NOW))], policy.RequestDirectives(), False, True, id="13.1-ius"),
]


@pytest.mark.parametrize(("fields", "directives", "conditional", "preconditions"), REQUEST_CASES)
def test_request_facts(
    fields: Items, directives: policy.RequestDirectives, conditional: bool, preconditions: bool
) -> None:
    req = RequestView("GET", URL, Headers(fields))
    assert req.facts.directives == directives == policy.request_directives(req.headers)
    assert policy.is_conditional(req) is req.facts.is_conditional is conditional
    assert policy.has_preconditions(req) is req.facts.has_preconditions is preconditions


def test_request_auth_digest_is_a_digest_never_the_credential() -> None:
    secret = "Bearer s3cr3t-token"
    req = RequestView("GET", URL, Headers([("Authorization", secret)]))
    digest = req.facts.auth_digest
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(req.facts)
    assert policy.request_auth_digest(req, PRIVATE) == digest == policy.auth_digest(req.headers, PRIVATE)
    assert policy.request_auth_digest(req, SHARED) is None
    other = RequestView("GET", URL, Headers([("Authorization", "Bearer other")]))
    assert other.facts.auth_digest != digest
    assert RequestView("GET", URL, Headers([])).facts.auth_digest is None

"""RFC 9111 §4.1: selecting a stored response by the request fields its Vary names
(normalisation, absent versus empty, ``Vary: *``), the credentials a response was
obtained with (private mode), and the most recent of several matches."""

from __future__ import annotations

from typing import Mapping, Optional

import pytest
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, StoredResponse


def request(headers: Items = ()) -> RequestView:
    return RequestView("GET", URL, Headers(headers))


def stored(
    headers: Items = (),
    vary: Optional[Mapping[str, Optional[str]]] = None,
    auth: Optional[str] = None,
    response_time: float = NOW,
) -> StoredResponse:
    return StoredResponse(
        url=URL,
        method="GET",
        status=200,
        reason="OK",
        headers=Headers([("Cache-Control", "max-age=60"), *headers]),
        body_length=4,
        request_time=response_time,
        response_time=response_time,
        vary=vary or {},
        auth=auth,
    )


def stored_for(original: Items, vary: str, options: CacheOptions = PRIVATE) -> StoredResponse:
    """A response with ``Vary: vary`` obtained by a request with fields ``original``, recorded
    the way the controller records it."""
    req_headers = Headers(original)
    headers = Headers([("Vary", vary)])
    return stored(
        [("Vary", vary)],
        vary=policy.vary_values(req_headers, policy.vary_names(headers)),
        auth=policy.auth_digest(req_headers, options),
    )


# ---------------------------------------------------------------------------
# §4.1 normalisation


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], None, id="4.1-absent-is-none"),
        pytest.param([""], "", id="4.1-empty-is-not-absent"),
        pytest.param(["gzip"], "gzip", id="4.1-single"),
        pytest.param(["gzip, deflate"], "gzip,deflate", id="4.1-list-ows-removed"),
        pytest.param(["gzip ,\tdeflate "], "gzip,deflate", id="4.1-list-tabs-removed"),
        pytest.param(["gzip", "deflate"], "gzip,deflate", id="4.1-lines-combined"),
        pytest.param(["gzip,, deflate,"], "gzip,deflate", id="4.1-empty-members-dropped"),
        pytest.param(["text/html;  q=0.9"], "text/html; q=0.9", id="4.1-inner-whitespace-collapsed"),
        pytest.param([" , "], "", id="4.1-only-separators"),
    ],
)
def test_normalize_field_rfc9111_4_1(values: list[str], expected: Optional[str]) -> None:
    assert policy.normalize_field(values) == expected


def test_vary_values_skips_star_and_lowercases_rfc9111_4_1() -> None:
    req = Headers([("Accept-Encoding", "gzip"), ("ACCEPT", "text/html")])
    names = policy.vary_names(Headers([("Vary", "Accept-Encoding, accept, X-Absent, *")]))
    assert names == ("accept-encoding", "accept", "x-absent", "*")
    assert policy.vary_values(req, names) == {"accept-encoding": "gzip", "accept": "text/html", "x-absent": None}


# ---------------------------------------------------------------------------
# §4.1 variant_matches

VARY_CASES = [
    pytest.param([("Accept-Encoding", "gzip")], "Accept-Encoding", [("Accept-Encoding", "gzip")], True, id="4.1-same"),
    pytest.param([("Accept-Encoding", "gzip")], "Accept-Encoding", [("Accept-Encoding", "br")], False, id="4.1-other"),
    pytest.param([("Accept-Encoding", "gzip")], "Accept-Encoding", [], False, id="4.1-present-vs-absent"),
    pytest.param([], "Accept-Encoding", [("Accept-Encoding", "gzip")], False, id="4.1-absent-vs-present"),
    pytest.param([], "Accept-Encoding", [], True, id="4.1-absent-matches-absent"),
    pytest.param([], "Accept-Encoding", [("Accept-Encoding", "")], False, id="4.1-absent-vs-empty"),
    pytest.param([("Accept-Encoding", "")], "Accept-Encoding", [], False, id="4.1-empty-vs-absent"),
    pytest.param([("Accept-Encoding", "")], "Accept-Encoding", [("Accept-Encoding", "")], True, id="4.1-empty-empty"),
    pytest.param(
        [("Accept-Encoding", "gzip, deflate")],
        "Accept-Encoding",
        [("Accept-Encoding", "gzip,deflate")],
        True,
        id="4.1-whitespace-normalised",
    ),
    pytest.param(
        [("Accept-Encoding", "gzip,deflate")],
        "Accept-Encoding",
        [("Accept-Encoding", "gzip"), ("Accept-Encoding", "deflate")],
        True,
        id="4.1-combined-lines-normalised",
    ),
    pytest.param(
        [("Accept-Encoding", "gzip"), ("Accept-Encoding", "deflate")],
        "Accept-Encoding",
        [("Accept-Encoding", "  gzip ,  deflate  ")],
        True,
        id="4.1-lines-vs-one-line",
    ),
    pytest.param(
        [("Accept-Encoding", "gzip")], "ACCEPT-ENCODING", [("accept-encoding", "gzip")], True, id="4.1-names-any-case"
    ),
    pytest.param(
        [("accept-encoding", "gzip")], "accept-encoding", [("Accept-Encoding", "br")], False, id="4.1-any-case-other"
    ),
    pytest.param(
        [("Accept", "a"), ("Accept-Language", "en")],
        "Accept, Accept-Language",
        [("Accept", "a"), ("Accept-Language", "en")],
        True,
        id="4.1-all-fields-match",
    ),
    pytest.param(
        [("Accept", "a"), ("Accept-Language", "en")],
        "Accept, Accept-Language",
        [("Accept", "a"), ("Accept-Language", "de")],
        False,
        id="4.1-one-field-differs",
    ),
    pytest.param(
        [("Accept", "a"), ("Cookie", "x")], "Accept", [("Accept", "a"), ("Cookie", "y")], True, id="4.1-unnamed-ignored"
    ),
    pytest.param([("Accept", "a")], "*", [("Accept", "a")], False, id="4.1-vary-star-never-matches"),
    pytest.param([("Accept", "a")], "Accept, *", [("Accept", "a")], False, id="4.1-vary-list-with-star"),
]


@pytest.mark.parametrize(("original", "vary", "new", "matches"), VARY_CASES)
def test_variant_matches_rfc9111_4_1(original: Items, vary: str, new: Items, matches: bool) -> None:
    for options in (PRIVATE, SHARED):
        assert policy.variant_matches(request(new), stored_for(original, vary, options), options) is matches


def test_vary_on_two_lines_rfc9111_4_1() -> None:
    s = stored([("Vary", "Accept"), ("Vary", "Accept-Language")], vary={"accept": "a", "accept-language": "en"})
    assert policy.variant_matches(request([("Accept", "a"), ("Accept-Language", "en")]), s, PRIVATE) is True
    assert policy.variant_matches(request([("Accept", "a"), ("Accept-Language", "fr")]), s, PRIVATE) is False


def test_no_vary_matches_any_request_rfc9111_4_1() -> None:
    s = stored()
    assert policy.variant_matches(request([("Accept", "x"), ("Cookie", "y")]), s, PRIVATE) is True
    assert policy.variant_matches(request(), s, PRIVATE) is True


def test_vary_name_missing_from_recorded_values_means_absent_rfc9111_4_1() -> None:
    s = stored([("Vary", "Accept")], vary={})
    assert policy.variant_matches(request(), s, PRIVATE) is True
    assert policy.variant_matches(request([("Accept", "a")]), s, PRIVATE) is False


# ---------------------------------------------------------------------------
# Credentials (private mode): a response obtained with Authorization A is for A only,
# and one obtained without credentials is for requests without credentials

AUTH_A = [("Authorization", "Bearer token-a")]
AUTH_B = [("Authorization", "Bearer token-b")]

AUTH_CASES = [
    pytest.param(AUTH_A, AUTH_A, PRIVATE, True, id="3.5-private-same-credentials"),
    pytest.param(AUTH_A, [("authorization", "Bearer token-a")], PRIVATE, True, id="3.5-private-name-any-case"),
    pytest.param(AUTH_A, AUTH_B, PRIVATE, False, id="3.5-private-other-credentials"),
    pytest.param(AUTH_A, [], PRIVATE, False, id="3.5-private-no-credentials"),
    # Authorization is an implicit Vary in private mode: an anonymous response is for anonymous requests
    pytest.param([], AUTH_A, PRIVATE, False, id="3.5-private-anonymous-response-not-for-a"),
    pytest.param([], AUTH_B, PRIVATE, False, id="3.5-private-anonymous-response-not-for-b"),
    pytest.param([], [], PRIVATE, True, id="3.5-private-anonymous-anonymous"),
    pytest.param(AUTH_A, AUTH_B, SHARED, True, id="3.5-shared-ignores-credentials"),
    pytest.param(AUTH_A, [], SHARED, True, id="3.5-shared-ignores-missing-credentials"),
    pytest.param([], AUTH_A, SHARED, True, id="3.5-shared-anonymous"),
]


@pytest.mark.parametrize(("original", "new", "options", "matches"), AUTH_CASES)
def test_variant_matches_credentials(original: Items, new: Items, options: CacheOptions, matches: bool) -> None:
    s = stored_for(original, "Accept", options)
    assert policy.variant_matches(request(new), s, options) is matches


def test_credentials_and_vary_must_both_match_rfc9111_4_1() -> None:
    s = stored_for([*AUTH_A, ("Accept", "a")], "Accept")
    assert policy.variant_matches(request([*AUTH_A, ("Accept", "a")]), s, PRIVATE) is True
    assert policy.variant_matches(request([*AUTH_A, ("Accept", "b")]), s, PRIVATE) is False
    assert policy.variant_matches(request([*AUTH_B, ("Accept", "a")]), s, PRIVATE) is False


def test_auth_digest_is_a_stable_digest_never_the_credentials() -> None:
    a = policy.auth_digest(Headers(AUTH_A), PRIVATE)
    b = policy.auth_digest(Headers(AUTH_B), PRIVATE)
    assert a is not None
    assert b is not None
    assert len(a) == 64
    assert int(a, 16) >= 0  # hexadecimal
    assert "token-a" not in a
    assert a == policy.auth_digest(Headers(AUTH_A), PRIVATE)
    assert a != b
    assert policy.auth_digest(Headers(), PRIVATE) is None
    assert policy.auth_digest(Headers(AUTH_A), SHARED) is None


# ---------------------------------------------------------------------------
# §4.1 most recent of several matches


def test_most_recent_by_date_rfc9111_4_1() -> None:
    old = stored([("Date", http_date(NOW - 100))], response_time=NOW)
    new = stored([("Date", http_date(NOW - 10))], response_time=NOW - 50)
    assert policy.most_recent([old, new]) is new
    assert policy.most_recent([new, old]) is new
    assert policy.most_recent([old]) is old
    assert policy.most_recent([]) is None


def test_most_recent_without_date_uses_receipt_time_rfc9111_4_1() -> None:
    old = stored(response_time=NOW - 100)
    new = stored(response_time=NOW)
    assert policy.most_recent([new, old]) is new
    assert policy.most_recent([old, new]) is new


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        pytest.param("en, de", "de, en", True, id="4.1-accept-language-order-ignored"),
        pytest.param("en, de", "eN, De", True, id="4.1-accept-language-case-ignored"),
        pytest.param("en, de", " en ,   de", True, id="4.1-accept-language-whitespace-ignored"),
        pytest.param("en;q=0.5, de", "de, en;q=0.5", True, id="4.1-accept-language-same-weights"),
        pytest.param("en;q=0.5, de", "en, de;q=0.5", False, id="4.1-accept-language-weights-differ"),
        pytest.param("en", "en;q=1", True, id="4.1-accept-language-default-weight"),
        pytest.param("en", "de", False, id="4.1-accept-language-other-language"),
        pytest.param("en;q=abc", "en", True, id="4.1-accept-language-bad-weight-is-default"),
    ],
)
def test_weighted_fields_normalised_rfc9111_4_1(first: str, second: str, same: bool) -> None:
    for name in ("Accept-Language", "Accept-Encoding"):
        a = policy.normalize_field([first], name)
        b = policy.normalize_field([second], name)
        assert (a == b) is same, (name, a, b)


def test_other_fields_keep_order_and_case_rfc9111_4_1() -> None:
    assert policy.normalize_field(["en, de"], "X-Custom") != policy.normalize_field(["de, en"], "X-Custom")
    assert policy.normalize_field(["A"], "Accept") != policy.normalize_field(["a"], "Accept")

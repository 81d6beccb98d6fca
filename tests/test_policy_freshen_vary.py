"""RFC 9111 §4.3.4 with §4.1: a 304 that changes Vary re-keys the stored response."""

from __future__ import annotations

from typing import Optional

import pytest
from _policy_helpers import NOW, PRIVATE, URL, Items

from httpcache import policy
from httpcache._headers import Headers
from httpcache.models import RequestView, ResponseView, StoredResponse


def _stored(headers: Items, vary: dict[str, Optional[str]]) -> StoredResponse:
    return StoredResponse(URL, "GET", 200, "OK", Headers(headers), 4, NOW - 61, NOW - 60, vary=vary)


CASES = [
    pytest.param(
        [],
        {},
        [("Vary", "Accept-Language")],
        [("Accept-Language", "EN")],
        {"accept-language": "en"},
        id="vary-added-takes-the-answered-requests-value",
    ),
    pytest.param(
        [], {}, [("Vary", "Accept-Language")], [], {"accept-language": None}, id="vary-added-request-without-the-field"
    ),
    pytest.param(
        [("Vary", "Accept")],
        {"accept": "text/html"},
        [("Vary", "Accept, Accept-Language")],
        [("Accept", "*/*"), ("Accept-Language", "de")],
        {"accept": "text/html", "accept-language": "de"},
        id="field-already-named-keeps-its-stored-value",
    ),
    pytest.param(
        [("Vary", "Accept")],
        {"accept": "text/html"},
        [],
        [("Accept", "*/*")],
        {"accept": "text/html"},
        id="304-without-vary-changes-nothing",
    ),
    pytest.param(
        [("Vary", "Accept, Accept-Language")],
        {"accept": "a", "accept-language": "en"},
        [("Vary", "Accept")],
        [("Accept", "b")],
        {"accept": "a"},
        id="field-no-longer-named-is-dropped",
    ),
]


@pytest.mark.parametrize(("stored_items", "stored_vary", "resp_items", "req_items", "expected"), CASES)
def test_freshen_rekeys_by_the_new_vary(
    stored_items: Items,
    stored_vary: dict[str, Optional[str]],
    resp_items: Items,
    req_items: Items,
    expected: dict[str, Optional[str]],
) -> None:
    req = RequestView("GET", URL, Headers(req_items))
    fresh = policy.freshen(
        _stored(stored_items, stored_vary), ResponseView(304, Headers(resp_items)), NOW - 1, NOW, req
    )
    assert dict(fresh.vary) == expected


def test_rekeyed_response_is_selected_for_the_answered_request_only() -> None:
    answered = RequestView("GET", URL, Headers([("Accept-Language", "en")]))
    fresh = policy.freshen(
        _stored([], {}), ResponseView(304, Headers([("Vary", "Accept-Language")])), NOW, NOW, answered
    )
    assert policy.variant_matches(answered, fresh, PRIVATE)
    assert not policy.variant_matches(RequestView("GET", URL, Headers([])), fresh, PRIVATE)
    assert not policy.variant_matches(RequestView("GET", URL, Headers([("Accept-Language", "de")])), fresh, PRIVATE)

"""RFC 9213 targeted cache control: a cache configured as a gateway/CDN (``shared=True``
with ``surrogate=``) takes its response directives from the first valid, non-empty field
of ``targeted_fields`` (``CDN-Cache-Control``), ignoring Cache-Control and Expires; any
other cache ignores those fields. Tables with a fixed ``now``."""

from __future__ import annotations

from typing import Optional

import pytest
import requests
from _policy_helpers import NOW, PRIVATE, SHARED, URL, Items, http_date
from origin import Origin, Reply

from httpcache import CacheControl, DictCache, HTTPCacheError, policy
from httpcache._headers import Headers
from httpcache.models import CacheOptions, RequestView, ResponseView, StoredResponse

CDN = CacheOptions(shared=True, surrogate="edge")
#: a CDN of its own with a more specific field first (RFC 9213 §2.2's example)
EXAMPLE_CDN = CDN.replace(targeted_fields=("ExampleCDN-Cache-Control", "CDN-Cache-Control"))
OFF = CDN.replace(targeted_fields=())
GET = RequestView("GET", URL, Headers())
LM_10000 = ("Last-Modified", http_date(NOW - 10_000))  # heuristic lifetime 1000 s


def stored(headers: Items, status: int = 200) -> StoredResponse:
    return StoredResponse(URL, "GET", status, "", Headers([("Date", http_date(NOW)), *headers]), 1, NOW, NOW)


def cc(value: str) -> tuple[str, str]:
    return ("Cache-Control", value)


def cdn(value: str) -> tuple[str, str]:
    return ("CDN-Cache-Control", value)


# (headers, options, expected lifetime)
LIFETIME_CASES = [
    pytest.param([cc("max-age=60"), cdn("max-age=600")], CDN, 600.0, id="9213-2.2-targeted-instead-of-cc"),
    pytest.param([cc("max-age=60"), cdn("max-age=600")], SHARED, 60.0, id="9213-2.2-no-surrogate-ignores-it"),
    pytest.param([cc("max-age=60"), cdn("max-age=600")], PRIVATE, 60.0, id="9213-2.2-private-cache-ignores-it"),
    pytest.param([cc("max-age=60"), cdn("max-age=600")], OFF, 60.0, id="9213-2.2-empty-target-list"),
    pytest.param([cc("max-age=60, s-maxage=120"), cdn("max-age=600")], CDN, 600.0, id="9213-3.1-example-cdn-600"),
    pytest.param([cc("max-age=60, s-maxage=120"), cdn("max-age=600")], SHARED, 120.0, id="9213-3.1-example-shared-120"),
    pytest.param([cdn("max-age=600"), cc("max-age=60")], CDN, 600.0, id="9213-2.2-field-order-irrelevant"),
    pytest.param([cdn("s-maxage=30, max-age=600")], CDN, 30.0, id="9213-2.2-s-maxage-honoured-shared"),
    pytest.param([cdn("max-age=1.5"), cc("max-age=60")], CDN, 0.0, id="9213-2.1-decimal-max-age-stale"),
    pytest.param([cdn("max-age=-1"), cc("max-age=60")], CDN, 0.0, id="9213-2.1-negative-max-age-stale"),
    pytest.param([cdn('max-age="600"'), cc("max-age=60")], CDN, 0.0, id="9213-2.1-string-max-age-stale"),
    # empty or invalid: ignored as a whole, Cache-Control (and Expires) apply
    pytest.param([cdn("max-age=600,"), cc("max-age=60")], CDN, 60.0, id="9213-2.1-invalid-falls-back"),
    pytest.param([cdn("Max-Age=600"), cc("max-age=60")], CDN, 60.0, id="9213-2.1-upper-case-key-invalid"),
    pytest.param([cdn(""), cc("max-age=60")], CDN, 60.0, id="9213-2.1-empty-falls-back"),
    pytest.param(
        [cdn("max-age=600,"), ("Expires", http_date(NOW + 300))], CDN, 300.0, id="9213-2.1-invalid-expires-applies"
    ),
    # Expires is ignored too; with no freshness of its own the targeted field leaves §4.2.2
    pytest.param(
        [cdn("max-age=600"), ("Expires", http_date(NOW + 30))], CDN, 600.0, id="9213-2.2-max-age-over-expires"
    ),
    pytest.param(
        [cdn("none"), cc("max-age=60"), ("Expires", http_date(NOW + 30)), LM_10000],
        CDN,
        1000.0,
        id="9213-2.2-cc-and-expires-ignored-heuristic",
    ),
    pytest.param(
        [cdn("public"), ("Expires", http_date(NOW + 30))], CDN, 0.0, id="9213-2.2-expires-ignored-no-lifetime"
    ),
    pytest.param([cdn("none"), cc("max-age=60")], SHARED, 60.0, id="9213-2.2-none-ignored-without-surrogate"),
    # the target list: the first present and valid field, most specific first
    pytest.param(
        [cdn("max-age=600"), ("ExampleCDN-Cache-Control", "max-age=900")],
        EXAMPLE_CDN,
        900.0,
        id="9213-2.2-first-in-target-list",
    ),
    pytest.param(
        [cdn("max-age=600"), ("ExampleCDN-Cache-Control", "max-age=900,")],
        EXAMPLE_CDN,
        600.0,
        id="9213-2.2-invalid-first-next-one",
    ),
    pytest.param(
        [cdn("max-age=600"), ("ExampleCDN-Cache-Control", "max-age=900")],
        CDN,
        600.0,
        id="9213-2.2-field-not-on-list-no-effect",
    ),
    # Surrogate-Control addressed to this surrogate keeps precedence (Edge Architecture §3)
    pytest.param(
        [cdn("max-age=600"), ("Surrogate-Control", "max-age=5")], CDN, 5.0, id="edge-3-surrogate-control-first"
    ),
    pytest.param(
        [cdn("max-age=600"), ("Surrogate-Control", "max-age=5;other")], CDN, 600.0, id="edge-3-other-device-targeted"
    ),
]


@pytest.mark.parametrize(("headers", "options", "expected"), LIFETIME_CASES)
def test_targeted_freshness_lifetime_rfc9213_2_2(headers: Items, options: CacheOptions, expected: float) -> None:
    assert policy.freshness_lifetime(stored(headers), options) == expected


AUTH = Headers([("Authorization", "Bearer t")])

# (request headers, response headers, options, storable)
STORABLE_CASES = [
    pytest.param((), [cc("no-store"), cdn("max-age=600")], CDN, True, id="9213-3.1-example-only-cdn-stores"),
    pytest.param((), [cc("no-store"), cdn("max-age=600")], SHARED, False, id="9213-3.1-example-others-do-not"),
    pytest.param((), [cc("no-store"), cdn("none"), ("ETag", '"e"')], CDN, True, id="9213-3.1-none-example"),
    pytest.param((), [cc("max-age=600"), cdn("no-store")], CDN, False, id="9213-2.2-no-store"),
    pytest.param((), [cc("max-age=600"), cdn("no-store")], SHARED, True, id="9213-2.2-no-store-not-ours"),
    pytest.param((), [cc("max-age=600"), cdn("no-store")], PRIVATE, True, id="9213-2.2-private-cache-ignores"),
    pytest.param((), [cc("max-age=600"), cdn("private")], CDN, False, id="9213-2.2-private"),
    pytest.param((), [cc("private"), cdn("max-age=60")], CDN, True, id="9213-2.2-cc-private-ignored"),
    pytest.param((), [cc("max-age=60"), cdn("no-store,")], CDN, True, id="9213-2.1-invalid-no-store-ignored"),
    pytest.param((), [cc("no-store"), cdn("max-age=60, no-store=?0")], CDN, True, id="9213-2.1-false-not-set"),
    pytest.param(AUTH.items(), [cdn("public, max-age=60")], CDN, True, id="3.5-public-in-targeted"),
    pytest.param(AUTH.items(), [cc("public"), cdn("max-age=60")], CDN, False, id="3.5-cc-public-ignored"),
    pytest.param(AUTH.items(), [cdn("s-maxage=60")], CDN, True, id="3.5-s-maxage-in-targeted"),
    pytest.param((), [cdn("max-age=60, must-understand")], CDN, True, id="5.2.2.3-must-understand-understood-status"),
]


@pytest.mark.parametrize(("req_items", "resp_items", "options", "storable"), STORABLE_CASES)
def test_targeted_storable_rfc9213_2_2(
    req_items: Items, resp_items: Items, options: CacheOptions, storable: bool
) -> None:
    req = RequestView("GET", URL, Headers(req_items))
    reason = policy.not_storable_reason(req, ResponseView(200, Headers(resp_items)), options)
    assert (reason is None) is storable, reason


def test_targeted_must_understand_unknown_status_rfc9111_5_2_2_3() -> None:
    resp = ResponseView(599, Headers([cc("max-age=60"), cdn("max-age=60, must-understand")]))
    assert policy.not_storable_reason(GET, resp, CDN) is not None
    assert policy.not_storable_reason(GET, resp, SHARED) is None


# (request headers, response headers, age, options, decision type)
DECIDE_CASES = [
    pytest.param((), [cc("max-age=600"), cdn("no-cache")], 0, CDN, policy.Validate, id="9213-2.2-no-cache"),
    pytest.param((), [cc("max-age=600"), cdn("no-cache")], 0, SHARED, policy.Fresh, id="9213-2.2-no-cache-not-ours"),
    pytest.param((), [cc("no-cache"), cdn("max-age=600")], 0, CDN, policy.Fresh, id="9213-2.2-cc-no-cache-ignored"),
    pytest.param(
        (("Cache-Control", "max-stale=600"),),
        [cdn("max-age=10, must-revalidate"), cc("max-age=10")],
        20,
        CDN,
        policy.Validate,
        id="9213-2.2-must-revalidate",
    ),
    pytest.param(
        (("Cache-Control", "max-stale=600"),),
        [cdn("max-age=10"), cc("max-age=10, must-revalidate")],
        20,
        CDN,
        policy.StaleAllowed,
        id="9213-2.2-cc-must-revalidate-ignored",
    ),
    pytest.param(
        (("Cache-Control", "max-stale=600"),),
        [cdn("s-maxage=10")],
        20,
        CDN,
        policy.Validate,
        id="5.2.2.10-s-maxage-in-targeted-forbids-stale",
    ),
    pytest.param(
        (),
        [cdn("max-age=10, stale-while-revalidate=60"), ("ETag", '"e"')],
        20,
        CDN,
        policy.StaleWhileRevalidate,
        id="5861-3-swr-in-targeted",
    ),
    pytest.param(
        (),
        [cdn("max-age=10"), cc("max-age=10, stale-while-revalidate=60"), ("ETag", '"e"')],
        20,
        CDN,
        policy.Validate,
        id="5861-3-swr-in-cc-ignored",
    ),
]


@pytest.mark.parametrize(("req_items", "resp_items", "age", "options", "expected"), DECIDE_CASES)
def test_targeted_decide_rfc9213_2_2(
    req_items: Items, resp_items: Items, age: float, options: CacheOptions, expected: type
) -> None:
    req = RequestView("GET", URL, Headers(req_items))
    decision = policy.decide(req, stored(resp_items), NOW + age, options)
    assert type(decision) is expected, decision


def test_targeted_stale_if_error_rfc5861_4() -> None:
    s = stored([cdn("max-age=10, stale-if-error=60"), cc("max-age=10")])
    assert policy.stale_if_error_allowed(GET, s, 20.0, 10.0, CDN) is True
    assert policy.stale_if_error_allowed(GET, s, 20.0, 10.0, SHARED) is False


def test_targeted_qualified_no_cache_drops_field_on_store_rfc9213_2_2() -> None:
    resp = ResponseView(200, Headers([cdn('max-age=60, no-cache="X-Auth"'), ("X-Auth", "secret")]))
    assert "x-auth" not in policy.headers_to_store(GET, resp, CDN)
    assert "x-auth" in policy.headers_to_store(GET, resp, SHARED)


def test_same_headers_under_other_target_lists_are_read_again() -> None:
    """The directives derived for one target list are never served for another."""
    headers = [cdn("max-age=600"), ("ExampleCDN-Cache-Control", "max-age=900"), cc("max-age=60")]
    s = stored(headers)
    assert policy.effective_directives(s.headers, EXAMPLE_CDN).max_age == 900
    assert policy.effective_directives(s.headers, CDN).max_age == 600
    assert policy.effective_directives(s.headers, OFF).max_age == 60
    assert policy.effective_directives(s.headers, SHARED).max_age == 60
    assert policy.effective_directives(s.headers, EXAMPLE_CDN).max_age == 900


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(("CDN Cache Control",), id="not-a-token"),
        pytest.param(("",), id="empty-name"),
        pytest.param(("Cache-Control",), id="cache-control-is-not-targeted"),
        pytest.param("CDN-Cache-Control", id="a-string-not-a-tuple"),
        pytest.param(["CDN-Cache-Control"], id="a-list-not-a-tuple"),
    ],
)
def test_targeted_fields_validated(fields: object) -> None:
    with pytest.raises(HTTPCacheError):
        CacheOptions(shared=True, surrogate="edge", targeted_fields=fields)  # type: ignore[arg-type]


def test_targeted_fields_default_is_cdn_cache_control() -> None:
    assert CacheOptions().targeted_fields == ("CDN-Cache-Control",)


def test_cache_control_passes_targeted_fields() -> None:
    sess = CacheControl(requests.Session(), shared=True, surrogate="edge", targeted_fields=("Edge-Cache-Control",))
    adapter = sess.get_adapter("http://example.com/")
    assert adapter.controller.options.targeted_fields == ("Edge-Cache-Control",)  # type: ignore[attr-defined]
    sess.close()


@pytest.mark.parametrize(("surrogate", "origin_requests"), [("edge", 1), (None, 3)])
def test_cdn_cache_control_end_to_end(origin: Origin, surrogate: Optional[str], origin_requests: int) -> None:
    """RFC 9213 §3.1's example: only a CDN cache stores this response."""
    origin.route("/t", Reply(200, [cc("no-store"), cdn("max-age=600")], b"body"))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=DictCache(), shared=True, surrogate=surrogate)
    try:
        bodies = [sess.get(origin.url("/t")).content for _ in range(3)]
    finally:
        sess.close()
    assert bodies == [b"body"] * 3
    assert origin.count("/t") == origin_requests

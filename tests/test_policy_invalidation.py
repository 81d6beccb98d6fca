"""RFC 9111 §4.4: which URIs a response to an unsafe request invalidates."""

from __future__ import annotations

from typing import Sequence

import pytest

from httpcache import policy
from httpcache._headers import Headers
from httpcache.keys import normalize_url
from httpcache.models import RequestView, ResponseView

URL = "http://example.com/dir/a"

Items = Sequence[tuple[str, str]]


def invalidated(method: str, status: int, headers: Items = (), url: str = URL) -> list[str]:
    return policy.invalidation_urls(RequestView(method, url, Headers()), ResponseView(status, Headers(headers)))


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        # unsafe methods, and methods whose safety is unknown, invalidate on a non-error status
        pytest.param("POST", 200, [URL], id="4.4-post-200"),
        pytest.param("POST", 201, [URL], id="4.4-post-201"),
        pytest.param("PUT", 204, [URL], id="4.4-put-204"),
        pytest.param("DELETE", 200, [URL], id="4.4-delete-200"),
        pytest.param("PATCH", 200, [URL], id="4.4-patch-200"),
        pytest.param("POST", 303, [URL], id="4.4-post-303"),
        pytest.param("POST", 399, [URL], id="4.4-post-399"),
        pytest.param("PURGE", 200, [URL], id="4.4-unknown-method"),
        pytest.param("BREW", 302, [URL], id="4.4-unknown-method-3xx"),
        pytest.param("get", 200, [URL], id="4.4-method-case-sensitive-get-is-unknown"),
        # safe methods never invalidate
        pytest.param("GET", 200, [], id="4.4-get-safe"),
        pytest.param("HEAD", 200, [], id="4.4-head-safe"),
        pytest.param("OPTIONS", 200, [], id="4.4-options-safe"),
        pytest.param("TRACE", 200, [], id="4.4-trace-safe"),
        # error (or non-final) statuses never invalidate
        pytest.param("POST", 100, [], id="4.4-post-1xx"),
        pytest.param("POST", 199, [], id="4.4-post-199"),
        pytest.param("POST", 400, [], id="4.4-post-400"),
        pytest.param("DELETE", 404, [], id="4.4-delete-404"),
        pytest.param("PUT", 500, [], id="4.4-put-500"),
        pytest.param("POST", 503, [], id="4.4-post-503"),
    ],
)
def test_invalidation_by_method_and_status_rfc9111_4_4(method: str, status: int, expected: list[str]) -> None:
    assert invalidated(method, status) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([("Location", "http://example.com/b")], [URL, "http://example.com/b"], id="4.4-location-absolute"),
        pytest.param([("Location", "/b")], [URL, "http://example.com/b"], id="4.4-location-absolute-path"),
        pytest.param([("Location", "b")], [URL, "http://example.com/dir/b"], id="4.4-location-relative"),
        pytest.param([("Location", "../c?x=1")], [URL, "http://example.com/c?x=1"], id="4.4-location-dot-dot"),
        pytest.param([("Location", "  /b  ")], [URL, "http://example.com/b"], id="4.4-location-ows"),
        pytest.param(
            [("Content-Location", "/dir/a.json")],
            [URL, "http://example.com/dir/a.json"],
            id="4.4-content-location",
        ),
        pytest.param(
            [("Content-Location", "/cl"), ("Location", "/loc")],
            [URL, "http://example.com/loc", "http://example.com/cl"],
            id="4.4-both-location-first",
        ),
        pytest.param([("Location", "/x"), ("Content-Location", "/x")], [URL, "http://example.com/x"], id="4.4-deduped"),
        pytest.param([("Location", URL)], [URL], id="4.4-location-is-target"),
        pytest.param(
            [("Location", "http://example.com:80/b")], [URL, "http://example.com/b"], id="4.4-default-port-same-origin"
        ),
        pytest.param(
            [("Location", "HTTP://EXAMPLE.COM/b")], [URL, "http://example.com/b"], id="4.4-case-insensitive-origin"
        ),
        # other origins are never invalidated
        pytest.param([("Location", "http://other.example/b")], [URL], id="4.4-other-host"),
        pytest.param([("Location", "//other.example/b")], [URL], id="4.4-scheme-relative-other-host"),
        pytest.param([("Location", "https://example.com/b")], [URL], id="4.4-other-scheme"),
        pytest.param([("Location", "http://example.com:8080/b")], [URL], id="4.4-other-port"),
        pytest.param([("Content-Location", "http://evil.example/")], [URL], id="4.4-content-location-other-host"),
        pytest.param([("Location", "http://sub.example.com/b")], [URL], id="4.4-subdomain-other-origin"),
        pytest.param([("Location", "http://user@other.example/b")], [URL], id="4.4-userinfo-other-host"),
        # garbage never raises
        pytest.param([("Location", "")], [URL], id="4.4-empty-location"),
        pytest.param([("Location", "http://[::1")], [URL], id="4.4-broken-ipv6-location"),
        pytest.param([("Location", "http://example.com:99999/b")], [URL], id="4.4-invalid-port"),
        pytest.param([("Location", "http://example.com:abc/b")], [URL], id="4.4-non-numeric-port"),
    ],
)
def test_invalidation_location_and_content_location_rfc9111_4_4(headers: Items, expected: list[str]) -> None:
    # compared as cache keys: the controller invalidates cache_key(method, url) of each
    assert [normalize_url(u) for u in invalidated("POST", 201, headers)] == [normalize_url(u) for u in expected]


def test_location_ignored_on_safe_method_rfc9111_4_4() -> None:
    assert invalidated("GET", 200, [("Location", "/b")]) == []


def test_location_ignored_on_error_rfc9111_4_4() -> None:
    assert invalidated("POST", 404, [("Location", "/b"), ("Content-Location", "/c")]) == []


@pytest.mark.parametrize(
    ("url", "location", "expected"),
    [
        pytest.param("https://example.com/a", "https://example.com:443/b", True, id="4.4-https-default-port-443"),
        pytest.param("https://example.com:443/a", "https://example.com/b", True, id="4.4-https-explicit-443-base"),
        pytest.param("https://example.com/a", "https://example.com:80/b", False, id="4.4-https-port-80-other"),
        pytest.param("http://example.com:8080/a", "/b", True, id="4.4-relative-keeps-port"),
        pytest.param("http://example.com:8080/a", "http://example.com/b", False, id="4.4-port-8080-vs-default"),
        pytest.param("http://[::1]:8080/a", "http://[::1]:8080/b", True, id="4.4-ipv6-same-origin"),
    ],
)
def test_invalidation_same_origin_ports_rfc9111_4_4(url: str, location: str, expected: bool) -> None:
    urls = invalidated("DELETE", 200, [("Location", location)], url=url)
    assert urls[0] == url
    assert (len(urls) == 2) is expected

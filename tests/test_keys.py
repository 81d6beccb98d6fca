"""Cache keys (RFC 9111 §2 primary key, §4.1 secondary key): ``normalize_url``,
``cache_key`` and ``variant_key``."""

from __future__ import annotations

import hashlib
from typing import Mapping, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from httpcache.keys import _normalize_parsed, cache_key, normalize_url, variant_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://example.com/a", "http://example.com/a", id="2-already-normal"),
        pytest.param("http://example.com/a#frag", "http://example.com/a", id="2-fragment-dropped"),
        pytest.param("http://example.com/a?q=1#frag", "http://example.com/a?q=1", id="2-fragment-dropped-query-kept"),
        pytest.param("http://example.com/a#", "http://example.com/a", id="2-empty-fragment-dropped"),
        pytest.param("HTTP://Example.COM/Path", "http://example.com/Path", id="2-scheme-host-lowercased-path-kept"),
        pytest.param("http://example.com/a?Q=A", "http://example.com/a?Q=A", id="2-query-case-kept"),
        pytest.param("http://example.com:80/a", "http://example.com/a", id="2-http-default-port-dropped"),
        pytest.param("https://example.com:443/a", "https://example.com/a", id="2-https-default-port-dropped"),
        pytest.param("http://example.com:443/a", "http://example.com:443/a", id="2-443-on-http-kept"),
        pytest.param("https://example.com:80/a", "https://example.com:80/a", id="2-80-on-https-kept"),
        pytest.param("http://example.com:8080/a", "http://example.com:8080/a", id="2-other-port-kept"),
        pytest.param("http://example.com", "http://example.com/", id="2-empty-path-is-slash"),
        pytest.param("http://example.com:80", "http://example.com/", id="2-empty-path-default-port"),
        pytest.param("http://example.com?q=1", "http://example.com/?q=1", id="2-empty-path-with-query"),
        pytest.param("http://example.com#f", "http://example.com/", id="2-empty-path-with-fragment"),
        pytest.param("http://[::1]:8080/x", "http://[::1]:8080/x", id="2-ipv6-with-port"),
        pytest.param("http://[::1]:80/x", "http://[::1]/x", id="2-ipv6-default-port"),
        pytest.param("http://user:pw@Example.com:80/", "http://user:pw@example.com/", id="2-userinfo-kept"),
    ],
)
def test_normalize_url_rfc9111_2(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
    assert normalize_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://[::1/x#f", id="2-broken-ipv6"),
        pytest.param("http://example.com:99999/x#f", id="2-port-out-of-range"),
        pytest.param("http://example.com:abc/x#f", id="2-non-numeric-port"),
    ],
)
def test_normalize_url_unparseable_keeps_url_without_fragment_rfc9111_2(url: str) -> None:
    assert normalize_url(url) == url[: -len("#f")]


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        pytest.param("GET", "http://example.com/a", "http://example.com/a", id="2-get-no-prefix"),
        pytest.param("get", "http://example.com/a", "http://example.com/a", id="2-get-any-case"),
        pytest.param("HEAD", "http://example.com/a", "HEAD http://example.com/a", id="2-head-prefixed"),
        pytest.param("head", "http://example.com/a", "HEAD http://example.com/a", id="2-head-any-case"),
        pytest.param("POST", "http://example.com/a", "POST http://example.com/a", id="2-post-prefixed"),
        pytest.param("GET", "HTTP://EXAMPLE.com:80/a#x", "http://example.com/a", id="2-get-normalised"),
        pytest.param("HEAD", "http://Example.com:80#x", "HEAD http://example.com/", id="2-head-normalised"),
    ],
)
def test_cache_key_rfc9111_2(method: str, url: str, expected: str) -> None:
    assert cache_key(method, url) == expected


def test_equivalent_urls_share_a_key_rfc9111_2() -> None:
    keys = {
        cache_key("GET", url)
        for url in ("http://example.com/p", "http://EXAMPLE.com/p#x", "http://example.com:80/p", "HTTP://example.com/p")
    }
    assert keys == {"http://example.com/p"}


def test_get_and_head_keys_differ_rfc9111_2() -> None:
    assert cache_key("GET", "http://example.com/") != cache_key("HEAD", "http://example.com/")


PRIMARY = "http://example.com/r"


@pytest.mark.parametrize(
    ("vary_a", "auth_a", "vary_b", "auth_b"),
    [
        pytest.param({"accept": "a"}, None, {"accept": "b"}, None, id="4.1-vary-value"),
        pytest.param({"accept": "a"}, None, {"accept": None}, None, id="4.1-value-vs-absent"),
        pytest.param({"accept": ""}, None, {"accept": None}, None, id="4.1-empty-vs-absent"),
        pytest.param({"accept": "a"}, None, {"accept-language": "a"}, None, id="4.1-vary-name"),
        pytest.param({"accept": "a"}, None, {"accept": "a", "x": None}, None, id="4.1-extra-name"),
        pytest.param({}, None, {}, "digest-a", id="3.5-auth-vs-none"),
        pytest.param({}, "digest-a", {}, "digest-b", id="3.5-auth-a-vs-b"),
        pytest.param({"accept": "a"}, "digest-a", {"accept": "a"}, "digest-b", id="3.5-same-vary-other-auth"),
    ],
)
def test_variant_keys_differ_rfc9111_4_1(
    vary_a: Mapping[str, Optional[str]],
    auth_a: Optional[str],
    vary_b: Mapping[str, Optional[str]],
    auth_b: Optional[str],
) -> None:
    assert variant_key(PRIMARY, vary_a, auth_a) != variant_key(PRIMARY, vary_b, auth_b)


def test_variant_key_is_stable_rfc9111_4_1() -> None:
    one = variant_key(PRIMARY, {"accept": "a", "accept-language": "en"}, "d")
    again = variant_key(PRIMARY, {"accept-language": "en", "accept": "a"}, "d")  # other dict order
    assert one == again
    assert one.startswith(PRIMARY + "#variant=")
    digest = one[len(PRIMARY + "#variant=") :]
    assert len(digest) == 32
    assert int(digest, 16) >= 0


def test_variant_key_is_per_primary_key_rfc9111_4_1() -> None:
    vary = {"accept": "a"}
    assert variant_key(PRIMARY, vary, None) != variant_key("HEAD " + PRIMARY, vary, None)


def test_variant_key_known_value() -> None:
    # pins the format: a change would orphan every stored variant
    assert variant_key(PRIMARY, {"accept": "a"}, None) == (
        PRIMARY + "#variant=" + hashlib.sha256(b'[[["accept","a"]],null]').hexdigest()[:32]
    )


def test_variant_key_non_ascii_values() -> None:
    a = variant_key(PRIMARY, {"accept-language": "fr-ç"}, None)
    b = variant_key(PRIMARY, {"accept-language": "fr-c"}, None)
    assert a != b
    assert a.isascii()


_URL_PARTS = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    st.sampled_from(["", "u:p@", "user@"]),
    st.sampled_from(["a.com", "A.Com", "x-1.example.org", "127.0.0.1", "[::1]", "b..c"]),
    st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":08", ":x"]),
    st.sampled_from(["", "/", "/p", "/p/q", "/%7Ex", "/a b", "/ä"]),
    st.sampled_from(["", "?", "?q=1", "?a=b&c=d"]),
    st.sampled_from(["", "#", "#frag"]),
    st.sampled_from(["", " ", "\t"]),
)


@given(_URL_PARTS)
def test_the_fast_path_agrees_with_parsing(parts: tuple[str, ...]) -> None:
    """A URL taken as already normal (no parsing) normalises to what parsing gives."""
    scheme, userinfo, host, port, path, query, fragment, space = parts
    url = f"{space}{scheme}://{userinfo}{host}{port}{path}{query}{fragment}{space}"
    assert normalize_url(url) == _normalize_parsed(url)

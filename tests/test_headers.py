"""Unit tests for the total header parsers in ``httpcache._headers``, and the house rule
that nothing reading header fields from the network ever raises (parsers and the policy
functions fed with garbage). Table-driven; a hypothesis property test complements the
tables."""

from __future__ import annotations

import math
import re
import time
from email.utils import formatdate
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpcache import policy
from httpcache._headers import (
    DELTA_SECONDS_MAX,
    Headers,
    SFToken,
    etag_strong_match,
    etag_weak_match,
    parse_cache_control,
    parse_delta_seconds,
    parse_etags,
    parse_field_names,
    parse_http_date,
    parse_sf_dictionary,
    parse_targeted_cache_control,
)
from httpcache.models import CacheOptions, RequestView, ResponseView, StoredResponse

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
URL = "http://example.com/r"
PRIVATE = CacheOptions()
SHARED = CacheOptions(shared=True)
CDN = CacheOptions(shared=True, surrogate="edge")
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")
ETAG = re.compile(r'^(?:W/)?"[^"]*"$')

# 06 Nov 1994 08:49:37 GMT, the RFC 9110 §5.6.7 example
EXAMPLE_TS = 784111777.0

# ---------------------------------------------------------------------------
# Headers container


def test_headers_get_is_case_insensitive_and_joins_duplicates_rfc9110_5_3() -> None:
    h = Headers([("Accept", "a"), ("X-One", "1"), ("accept", "b")])
    assert h.get("ACCEPT") == "a, b"
    assert h.get_all("accept") == ["a", "b"]
    assert h.get("x-one") == "1"
    assert h.get("missing") is None
    assert h.get_all("missing") == []
    assert "x-ONE" in h
    assert "missing" not in h
    assert 3 not in h


def test_headers_items_keep_order_and_duplicates_rfc9110_5_3() -> None:
    items = [("Set-Cookie", "a=1"), ("Date", "d"), ("Set-Cookie", "b=2")]
    assert Headers(items).items() == tuple(items)


def test_headers_without_drops_names_case_insensitively() -> None:
    h = Headers([("Connection", "close"), ("A", "1"), ("connection", "x"), ("B", "2")])
    assert h.without(["CONNECTION"]).items() == (("A", "1"), ("B", "2"))
    assert h.without(["absent"]) == h


def test_headers_replaced_replaces_every_line_of_a_name_and_honours_keep() -> None:
    old = Headers([("Set-Cookie", "a"), ("Set-Cookie", "b"), ("X-Old", "o"), ("Content-Length", "5")])
    new = Headers([("set-cookie", "c"), ("X-New", "n"), ("Content-Length", "0")])
    merged = old.replaced(new, keep=["content-length"])
    assert merged.get_all("set-cookie") == ["c"]
    assert merged.get("x-old") == "o"
    assert merged.get("x-new") == "n"
    assert merged.get_all("content-length") == ["5"]


def test_headers_equality_and_hash() -> None:
    a = Headers([("A", "1")])
    assert a == Headers([("A", "1")])
    assert hash(a) == hash(Headers([("A", "1")]))
    assert a != Headers([("a", "1")])
    assert a != {"A": "1"}


# ---------------------------------------------------------------------------
# Cache-Control (RFC 9111 §5.2)

CACHE_CONTROL_CASES = [
    pytest.param(None, {}, id="5.2-absent"),
    pytest.param("", {}, id="5.2-empty"),
    pytest.param(" , ,, ", {}, id="5.2-only-commas"),
    pytest.param("max-age=60", {"max-age": "60"}, id="5.2-token-argument"),
    pytest.param('max-age="60"', {"max-age": "60"}, id="5.2-quoted-argument-accepted"),
    pytest.param("Max-Age=60, NO-CACHE", {"max-age": "60", "no-cache": None}, id="5.2-names-case-insensitive"),
    pytest.param("no-store,", {"no-store": None}, id="5.2-trailing-comma"),
    pytest.param(
        'no-cache="Set-Cookie, X-Foo", max-age=5',
        {"no-cache": "Set-Cookie, X-Foo", "max-age": "5"},
        id="5.2-comma-inside-quoted-string",
    ),
    pytest.param('private="a\\"b"', {"private": 'a"b'}, id="5.2-quoted-pair-unescaped"),
    pytest.param("max-age=10, max-age=20", {"max-age": "10"}, id="4.2.1-duplicate-first-wins"),
    pytest.param("max-age=10, Max-Age=20", {"max-age": "10"}, id="4.2.1-duplicate-other-case-first-wins"),
    pytest.param("é=1, max-age=5", {"max-age": "5"}, id="5.2-non-ascii-name-skipped"),
    pytest.param("\x00no-store, public", {"public": None}, id="5.2-control-char-name-skipped"),
    pytest.param("max-age=5\x00, no-store", {"max-age": "5\x00", "no-store": None}, id="5.2-control-char-in-argument"),
    pytest.param(
        'no-cache="unterminated, max-age=5',
        {"no-cache": '"unterminated, max-age=5'},
        id="5.2-unterminated-quote-swallows-rest",
    ),
    pytest.param("=5, public", {"public": None}, id="5.2-empty-name-skipped"),
    pytest.param("max-age=99999999999999999999", {"max-age": "99999999999999999999"}, id="5.2-huge-argument-raw"),
    pytest.param("a b, public", {"public": None}, id="5.2-space-in-name-skipped"),
    pytest.param('x-ext="v", immutable', {"x-ext": "v", "immutable": None}, id="5.2.3-extension-kept"),
]


@pytest.mark.parametrize(("value", "expected"), CACHE_CONTROL_CASES)
def test_parse_cache_control_rfc9111_5_2(value: Optional[str], expected: dict[str, Optional[str]]) -> None:
    assert parse_cache_control(value) == expected


# ---------------------------------------------------------------------------
# delta-seconds (RFC 9111 §1.2.2)

DELTA_CASES = [
    pytest.param(None, None, id="1.2.2-absent"),
    pytest.param("", None, id="1.2.2-empty"),
    pytest.param("   ", None, id="1.2.2-blank"),
    pytest.param("0", 0, id="1.2.2-zero"),
    pytest.param("60", 60, id="1.2.2-digits"),
    pytest.param(" 60 ", 60, id="1.2.2-ows-trimmed"),
    pytest.param("00060", 60, id="1.2.2-leading-zeros"),
    pytest.param("0000000000060", 60, id="1.2.2-many-leading-zeros-is-still-60"),
    pytest.param("00000000000", 0, id="1.2.2-eleven-zeros-is-zero"),
    pytest.param("2147483647", 2147483647, id="1.2.2-below-max"),
    pytest.param("2147483648", DELTA_SECONDS_MAX, id="1.2.2-max"),
    pytest.param("2147483649", DELTA_SECONDS_MAX, id="1.2.2-above-max-clamped"),
    pytest.param("9999999999", DELTA_SECONDS_MAX, id="1.2.2-ten-digits-clamped"),
    pytest.param("99999999999", DELTA_SECONDS_MAX, id="1.2.2-eleven-digits-clamped"),
    pytest.param("9" * 1000, DELTA_SECONDS_MAX, id="1.2.2-thousand-digits-clamped"),
    pytest.param("-1", None, id="1.2.2-negative"),
    pytest.param("+1", None, id="1.2.2-plus-sign"),
    pytest.param("1.5", None, id="1.2.2-fraction"),
    pytest.param("1e3", None, id="1.2.2-exponent"),
    pytest.param("0x10", None, id="1.2.2-hex"),
    pytest.param("1 2", None, id="1.2.2-inner-space"),
    pytest.param("12abc", None, id="1.2.2-trailing-garbage"),
    pytest.param("\x00", None, id="1.2.2-control-char"),
    pytest.param("5\x00", None, id="1.2.2-digit-and-control-char"),
    pytest.param("\u0663", None, id="1.2.2-arabic-indic-digit-not-DIGIT"),
    pytest.param("\uff11\uff12", None, id="1.2.2-fullwidth-digits-not-DIGIT"),
    pytest.param("\u00b2", None, id="1.2.2-superscript-not-DIGIT"),
    pytest.param('"60"', None, id="1.2.2-still-quoted"),
]


@pytest.mark.parametrize(("value", "expected"), DELTA_CASES)
def test_parse_delta_seconds_rfc9111_1_2_2(value: Optional[str], expected: Optional[int]) -> None:
    assert parse_delta_seconds(value) == expected


# ---------------------------------------------------------------------------
# HTTP-date (RFC 9110 §5.6.7)

VALID_DATES = [
    pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_TS, id="5.6.7-imf-fixdate"),
    pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE_TS, id="5.6.7-rfc850"),
    pytest.param("Sun Nov  6 08:49:37 1994", EXAMPLE_TS, id="5.6.7-asctime-one-digit-day"),
    pytest.param("Wed Nov 16 08:49:37 1994", EXAMPLE_TS + 10 * 86400, id="5.6.7-asctime-two-digit-day"),
    pytest.param("  Sun, 06 Nov 1994 08:49:37 GMT  ", EXAMPLE_TS, id="5.6.7-surrounding-ows"),
    pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0.0, id="5.6.7-epoch"),
    pytest.param("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000.0, id="5.6.7-leap-day"),
    pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799.0, id="5.6.7-year-9999"),
    # RFC 9111 §4.2: a cache recipient SHOULD match HTTP-date case-insensitively
    pytest.param("Sun, 06 Nov 1994 08:49:37 gMT", EXAMPLE_TS, id="9111-4.2-zone-case-gMT"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 gmt", EXAMPLE_TS, id="9111-4.2-zone-lower-case"),
    pytest.param("SUN, 06 NOV 1994 08:49:37 GMT", EXAMPLE_TS, id="9111-4.2-upper-case-names"),
    pytest.param("sun, 06 nov 1994 08:49:37 gmt", EXAMPLE_TS, id="9111-4.2-all-lower-case"),
    pytest.param("Sunday, 06-Nov-94 08:49:37 Gmt", EXAMPLE_TS, id="9111-4.2-rfc850-zone-case"),
    pytest.param("SUNDAY, 06-NOV-94 08:49:37 GMT", EXAMPLE_TS, id="9111-4.2-rfc850-upper-case-names"),
    pytest.param("SUN NOV  6 08:49:37 1994", EXAMPLE_TS, id="9111-4.2-asctime-upper-case"),
]


@pytest.mark.parametrize(("value", "expected"), VALID_DATES)
def test_parse_http_date_accepts_all_three_formats_rfc9110_5_6_7(value: str, expected: float) -> None:
    assert parse_http_date(value) == expected
    assert parse_http_date(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "year"),
    [
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", 1994, id="5.6.7-rfc850-94-past"),
        pytest.param("Monday, 06-Nov-23 08:49:37 GMT", 2023, id="5.6.7-rfc850-23-this-year"),
        pytest.param("Sunday, 06-Nov-73 08:49:37 GMT", 2073, id="5.6.7-rfc850-exactly-50-years-ahead"),
        pytest.param("Tuesday, 06-Nov-74 08:49:37 GMT", 1974, id="5.6.7-rfc850-over-50-years-ahead-is-past"),
    ],
)
def test_parse_http_date_rfc850_two_digit_year_window_rfc9110_5_6_7(value: str, year: int) -> None:
    ts = parse_http_date(value, NOW)
    assert ts is not None
    assert time.gmtime(ts).tm_year == year


@pytest.mark.parametrize(
    ("value", "year"),
    [
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", 1994, id="5.6.7-rfc850-94"),
        pytest.param("Thursday, 06-Nov-69 08:49:37 GMT", 1969, id="5.6.7-rfc850-69"),
        pytest.param("Monday, 06-Nov-23 08:49:37 GMT", 2023, id="5.6.7-rfc850-23"),
        pytest.param("Monday, 06-Nov-68 08:49:37 GMT", 2068, id="5.6.7-rfc850-68"),
    ],
)
def test_parse_http_date_rfc850_without_now_reads_no_clock(
    value: str, year: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_clock() -> float:
        raise AssertionError("parse_http_date read the clock")

    monkeypatch.setattr(time, "time", no_clock)
    ts = parse_http_date(value)
    assert ts is not None
    assert time.gmtime(ts).tm_year == year


INVALID_DATES = [
    pytest.param(None, id="absent"),
    pytest.param("", id="empty"),
    pytest.param("0", id="zero-as-in-expires-0"),
    pytest.param("-1", id="minus-one"),
    pytest.param("1700000000", id="epoch-seconds"),
    pytest.param("tomorrow", id="word"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", id="utc-not-gmt"),
    # RFC 9111 §4.2: a zone other than GMT is invalid, whatever its case
    pytest.param("Sun, 06 Nov 1994 08:49:37 utc", id="9111-4.2-utc-lower-case-not-gmt"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 AEST", id="9111-4.2-other-zone"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", id="9111-4.2-numeric-zone"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 Z", id="9111-4.2-zulu"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 GMT+1", id="9111-4.2-gmt-offset"),
    pytest.param("Sunday, 06-Nov-94 08:49:37 UTC", id="9111-4.2-rfc850-utc"),
    pytest.param("Sun Nov  6 08:49:37 1994 GMT", id="asctime-with-zone"),
    pytest.param("Sun, 06 Nov 1994 08:49:37", id="no-zone"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 GMT garbage", id="trailing-garbage"),
    pytest.param("Foo, 06 Nov 1994 08:49:37 GMT", id="bad-day-name"),
    pytest.param("Sun, 06 Foo 1994 08:49:37 GMT", id="bad-month"),
    pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", id="day-zero"),
    pytest.param("Sun, 32 Nov 1994 08:49:37 GMT", id="day-32"),
    pytest.param("Sat, 30 Feb 2019 00:00:00 GMT", id="february-30"),
    pytest.param("Wed, 29 Feb 2023 00:00:00 GMT", id="february-29-not-leap-year"),
    pytest.param("Sun, 31 Apr 1994 00:00:00 GMT", id="april-31"),
    pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", id="hour-24"),
    pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", id="minute-60"),
    pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", id="second-61"),
    pytest.param("Sunday, 06-Nov-94 08:49:37", id="rfc850-no-zone"),
    pytest.param("Sun Nov  6 08:49:37 94", id="asctime-two-digit-year"),
    pytest.param("Sun, 06 Nov 1994 \uff10\uff18:49:37 GMT", id="fullwidth-digits-not-DIGIT"),
    pytest.param("Sun, 06 Nov \uff11\uff19\uff19\uff14 08:49:37 GMT", id="fullwidth-year-not-DIGIT"),
    pytest.param("Sun, 06 Nov \u0661\u0669\u0669\u0664 08:49:37 GMT", id="arabic-indic-year-not-DIGIT"),
    pytest.param("Sun,\x0006 Nov 1994 08:49:37 GMT", id="control-char"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", id="duplicate-lines-joined"),
    pytest.param("S" * 10_000, id="huge"),
    pytest.param("Sun, 06 Nov 99999999999999999999 08:49:37 GMT", id="huge-year"),
]


@pytest.mark.parametrize("value", INVALID_DATES)
def test_parse_http_date_invalid_is_none_rfc9110_5_6_7(value: Optional[str]) -> None:
    assert parse_http_date(value) is None
    assert parse_http_date(value, NOW) is None


@pytest.mark.parametrize(
    "now",
    [pytest.param(math.nan, id="nan"), pytest.param(1e300, id="huge"), pytest.param(-1e300, id="huge-negative")],
)
def test_parse_http_date_rfc850_with_absurd_now_does_not_raise_rfc9110_5_6_7(now: float) -> None:
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now) == EXAMPLE_TS


# ---------------------------------------------------------------------------
# Field-name lists (Vary, Connection, qualified no-cache / private)

FIELD_NAME_CASES = [
    pytest.param(None, [], id="absent"),
    pytest.param("", [], id="empty"),
    pytest.param(",,, ,", [], id="only-commas"),
    pytest.param("Accept-Encoding, User-Agent", ["accept-encoding", "user-agent"], id="lower-cased-in-order"),
    pytest.param("accept,Accept ,  ACCEPT", ["accept"], id="duplicates-once"),
    pytest.param("*", ["*"], id="star"),
    pytest.param("Accept, *", ["accept", "*"], id="star-among-names"),
    pytest.param('"Set-Cookie"', ["set-cookie"], id="quoted-as-in-no-cache-argument"),
    pytest.param("Accept Encoding, Accept", ["accept"], id="space-inside-name-dropped"),
    pytest.param("é, accept", ["accept"], id="non-ascii-dropped"),
    pytest.param("accept\x00, te", ["te"], id="control-char-dropped"),
    pytest.param("x" * 5000, ["x" * 5000], id="long-token-kept"),
]


@pytest.mark.parametrize(("value", "expected"), FIELD_NAME_CASES)
def test_parse_field_names_rfc9110_5_6_1(value: Optional[str], expected: list[str]) -> None:
    assert parse_field_names(value) == expected


# ---------------------------------------------------------------------------
# Entity tags (RFC 9110 §8.8.3)

ETAG_CASES = [
    pytest.param(None, [], id="absent"),
    pytest.param("", [], id="empty"),
    pytest.param('"abc"', ['"abc"'], id="strong"),
    pytest.param('W/"abc"', ['W/"abc"'], id="weak"),
    pytest.param('"a", W/"b",  "c"', ['"a"', 'W/"b"', '"c"'], id="list"),
    pytest.param('"a,b"', ['"a,b"'], id="comma-inside-tag"),
    pytest.param('""', ['""'], id="empty-opaque-tag"),
    pytest.param("*", ["*"], id="star"),
    pytest.param("  *  ", ["*"], id="star-with-ows"),
    pytest.param("abc", [], id="unquoted-invalid"),
    pytest.param('"unterminated', [], id="unterminated-quote"),
    pytest.param(", , ,", [], id="only-commas"),
]


@pytest.mark.parametrize(("value", "expected"), ETAG_CASES)
def test_parse_etags_rfc9110_8_8_3(value: Optional[str], expected: list[str]) -> None:
    assert parse_etags(value) == expected


@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        # the comparison table of RFC 9110 §8.8.3.2
        pytest.param('W/"1"', 'W/"1"', False, True, id="8.8.3.2-weak-weak-same"),
        pytest.param('W/"1"', 'W/"2"', False, False, id="8.8.3.2-weak-weak-different"),
        pytest.param('W/"1"', '"1"', False, True, id="8.8.3.2-weak-strong-same"),
        pytest.param('"1"', '"1"', True, True, id="8.8.3.2-strong-strong-same"),
        pytest.param('"1"', '"2"', False, False, id="8.8.3.2-strong-strong-different"),
    ],
)
def test_etag_comparison_rfc9110_8_8_3_2(a: str, b: str, strong: bool, weak: bool) -> None:
    assert etag_strong_match(a, b) is strong
    assert etag_strong_match(b, a) is strong
    assert etag_weak_match(a, b) is weak
    assert etag_weak_match(b, a) is weak


# ---------------------------------------------------------------------------
# Structured Field Dictionaries (RFC 8941 §3.2, §4.2.2) and targeted fields (RFC 9213 §2.1)

SF_VALID = [
    pytest.param("a=1, b=2", {"a": (1, {}), "b": (2, {})}, id="8941-3.2-integers"),
    pytest.param("a=1,b=2", {"a": (1, {}), "b": (2, {})}, id="8941-4.2.2-no-space"),
    pytest.param("a=1 ,\tb=2", {"a": (1, {}), "b": (2, {})}, id="8941-4.2.2-ows-around-comma"),
    pytest.param("  a=1  ", {"a": (1, {})}, id="8941-4.2-surrounding-sp"),
    pytest.param("a, b=?0, c=?1", {"a": (True, {}), "b": (False, {}), "c": (True, {})}, id="8941-3.3.6-booleans"),
    pytest.param("a;x=1;y, b", {"a": (True, {"x": 1, "y": True}), "b": (True, {})}, id="8941-3.1.2-parameters"),
    pytest.param("a=1;  x=2", {"a": (1, {"x": 2})}, id="8941-4.2.3.2-sp-after-semicolon"),
    pytest.param("a=(1 2);p", {"a": (((1, {}), (2, {})), {"p": True})}, id="8941-3.1.1-inner-list"),
    pytest.param("a=( 1  2 )", {"a": (((1, {}), (2, {})), {})}, id="8941-4.2.1.2-inner-list-spaces"),
    pytest.param("a=()", {"a": ((), {})}, id="8941-3.1.1-empty-inner-list"),
    pytest.param("a=:aGVsbG8=:", {"a": (b"hello", {})}, id="8941-3.3.5-byte-sequence"),
    pytest.param("a=:aGVsbG8:", {"a": (b"hello", {})}, id="8941-4.2.7-padding-may-be-missing"),
    pytest.param('a="x\\"y\\\\z"', {"a": ('x"y\\z', {})}, id="8941-4.2.5-escapes"),
    pytest.param('a=""', {"a": ("", {})}, id="8941-3.3.3-empty-string"),
    pytest.param("a=-12.345", {"a": (-12.345, {})}, id="8941-3.3.2-decimal"),
    pytest.param("a=123456789012.123", {"a": (123456789012.123, {})}, id="8941-4.2.4-longest-decimal"),
    pytest.param("a=999999999999999", {"a": (999999999999999, {})}, id="8941-4.2.4-15-digits"),
    pytest.param("a=-0", {"a": (0, {})}, id="8941-4.2.4-minus-zero"),
    pytest.param("a=tok/en:x*", {"a": ("tok/en:x*", {})}, id="8941-3.3.4-token"),
    pytest.param("a=*b", {"a": ("*b", {})}, id="8941-3.3.4-token-star"),
    pytest.param("a=1, a=2", {"a": (2, {})}, id="8941-4.2.2-repeated-key-last-wins"),
    pytest.param("*a=1, b.c_d-e*=2", {"*a": (1, {}), "b.c_d-e*": (2, {})}, id="8941-3.2-key-chars"),
    pytest.param("", {}, id="8941-4.2-empty-is-empty-dictionary"),
]


@pytest.mark.parametrize(("value", "expected"), SF_VALID)
def test_parse_sf_dictionary_rfc8941_4_2_2(value: str, expected: dict[str, object]) -> None:
    assert parse_sf_dictionary(value) == expected


def test_parse_sf_dictionary_tells_token_from_string_rfc8941_3_3_4() -> None:
    parsed = parse_sf_dictionary('a=b, c="d"')
    assert parsed is not None
    assert isinstance(parsed["a"][0], SFToken) and not isinstance(parsed["c"][0], SFToken)


SF_INVALID = [
    pytest.param(None, id="absent"),
    pytest.param("A=1", id="4.2.3.3-upper-case-key"),
    pytest.param("Max-Age=60", id="4.2.3.3-cache-control-style-case"),
    pytest.param("1a=1", id="4.2.3.3-key-starts-with-digit"),
    pytest.param("a=1,", id="4.2.2-trailing-comma"),
    pytest.param(",a=1", id="4.2.2-leading-comma"),
    pytest.param("a=1,,b=2", id="4.2.2-empty-member"),
    pytest.param("a=1 b=2", id="4.2.2-no-comma"),
    pytest.param("a=1;", id="4.2.3.2-dangling-semicolon"),
    pytest.param("a=", id="4.2.3.1-missing-value"),
    pytest.param("a==1", id="4.2.3.1-double-equals"),
    pytest.param('a="open', id="4.2.5-unterminated-string"),
    pytest.param('a="\\x"', id="4.2.5-bad-escape"),
    pytest.param('a="tab\there"', id="4.2.5-control-char-in-string"),
    pytest.param("a=1.2345", id="4.2.4-four-fraction-digits"),
    pytest.param("a=1.", id="4.2.4-no-fraction-digit"),
    pytest.param("a=1234567890123456", id="4.2.4-16-digits"),
    pytest.param("a=1234567890123.1", id="4.2.4-13-digits-before-dot"),
    pytest.param("a=-", id="4.2.4-lone-minus"),
    pytest.param("a=1.2.3", id="4.2.4-two-dots"),
    pytest.param("a=?2", id="4.2.8-bad-boolean"),
    pytest.param("a=?", id="4.2.8-truncated-boolean"),
    pytest.param("a=:!!:", id="4.2.7-bad-base64"),
    pytest.param("a=:aGVsbG8=", id="4.2.7-unterminated-bytes"),
    pytest.param("a=(1 2", id="4.2.1.2-unclosed-inner-list"),
    pytest.param("a=(1,2)", id="4.2.1.2-comma-in-inner-list"),
    pytest.param("a=(1)x", id="4.2.1.2-garbage-after-inner-list"),
    pytest.param("a=\u00e9", id="4.2-non-ascii"),
    pytest.param("a=@1659578233", id="4.2.3.1-date-is-rfc9651-not-8941"),
    pytest.param('a=%"x"', id="4.2.3.1-display-string-is-rfc9651-not-8941"),
    pytest.param("a=1\x00", id="4.2-nul"),
]


@pytest.mark.parametrize("value", SF_INVALID)
def test_parse_sf_dictionary_invalid_is_none_rfc8941_4_2(value: Optional[str]) -> None:
    assert parse_sf_dictionary(value) is None


TARGETED = [
    pytest.param("max-age=60", {"max-age": "60"}, id="9213-2.1-integer"),
    pytest.param("max-age=60, no-store", {"max-age": "60", "no-store": None}, id="9213-2.1-boolean-true-no-argument"),
    pytest.param("no-store=?0, max-age=60", {"max-age": "60"}, id="9213-2.1-boolean-false-not-set"),
    pytest.param('no-cache="X-Auth, Set-Cookie"', {"no-cache": "X-Auth, Set-Cookie"}, id="9213-2.1-string-field-list"),
    pytest.param('private="X-Auth"', {"private": "X-Auth"}, id="9213-2.1-private-string"),
    pytest.param("no-cache=X-Auth", {"no-cache": ""}, id="9213-2.1-field-list-token-not-consumed"),
    pytest.param("max-age=1.5", {"max-age": ""}, id="9213-2.1-decimal-max-age-not-rounded"),
    pytest.param('max-age="60"', {"max-age": ""}, id="9213-2.1-string-max-age-not-consumed"),
    pytest.param("max-age=sixty", {"max-age": ""}, id="9213-2.1-token-max-age-not-consumed"),
    pytest.param("s-maxage=(1 2)", {"s-maxage": ""}, id="9213-2.1-inner-list-not-consumed"),
    pytest.param("max-age=-1", {"max-age": "-1"}, id="9213-2.1-negative-integer-stays-invalid"),
    pytest.param("max-age=60;foo=bar", {"max-age": "60"}, id="9213-2.1-parameters-ignored"),
    pytest.param("none", {"none": None}, id="9213-3.1-none-example"),
    pytest.param("public, x-ext=tok", {"public": None, "x-ext": "tok"}, id="9213-2.1-extension-token"),
]


@pytest.mark.parametrize(("value", "expected"), TARGETED)
def test_parse_targeted_cache_control_rfc9213_2_1(value: str, expected: dict[str, Optional[str]]) -> None:
    assert parse_targeted_cache_control(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param("  ", id="only-spaces"),
        pytest.param("MAX-AGE=60", id="upper-case"),
        pytest.param("max-age=60,", id="trailing-comma"),
        pytest.param('no-cache="set-cookie', id="unterminated"),
    ],
)
def test_parse_targeted_cache_control_empty_or_invalid_is_ignored_rfc9213_2_1(value: Optional[str]) -> None:
    assert parse_targeted_cache_control(value) is None


# ---------------------------------------------------------------------------
# Properties: parsers are total and their results well-formed

HEADERISH = ' \t,;="\\/*-_.0123456789WGMTaegimnorstvxy:\x00\x7fé'
FRAGMENTS = [
    "max-age=60",
    "max-age=",
    's-maxage="5',
    "no-cache",
    'no-cache="set-cookie',
    "private",
    "max-stale",
    "must-understand",
    "no-store",
    "99999999999999999999",
    "-1",
    '"',
    "\\",
    "W/",
    '"etag"',
    "*",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "é",
    "\x00",
    "",
]
garbage = st.one_of(
    st.text(),
    st.text(alphabet=HEADERISH),
    st.lists(st.sampled_from(FRAGMENTS), max_size=6).map(", ".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join),
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(garbage)
def test_property_parse_cache_control_total_rfc9111_5_2(value: str) -> None:
    result = parse_cache_control(value)
    for name, arg in result.items():
        assert TOKEN.match(name) is not None
        assert arg is None or isinstance(arg, str)


@FAST
@given(garbage)
def test_property_parse_sf_dictionary_total_rfc8941_4_2(value: str) -> None:
    result = parse_sf_dictionary(value)
    assert result is None or all(isinstance(k, str) and k == k.lower() for k in result)
    targeted = parse_targeted_cache_control(value)
    assert targeted is None or all(v is None or isinstance(v, str) for v in targeted.values())


@FAST
@given(garbage)
def test_property_parse_delta_seconds_total_rfc9111_1_2_2(value: str) -> None:
    result = parse_delta_seconds(value)
    stripped = value.strip()
    if stripped and stripped.isascii() and stripped.isdigit():
        assert result == min(int(stripped), DELTA_SECONDS_MAX)
    else:
        assert result is None


@FAST
@given(st.text(alphabet="0123456789", min_size=1, max_size=40))
def test_property_parse_delta_seconds_is_the_value_clamped_at_2_31_rfc9111_1_2_2(digits: str) -> None:
    assert parse_delta_seconds(digits) == min(int(digits), DELTA_SECONDS_MAX)


@FAST
@given(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=2**40))
def test_property_parse_delta_seconds_leading_zeros_do_not_change_the_value_rfc9111_1_2_2(
    zeros: int, value: int
) -> None:
    assert parse_delta_seconds("0" * zeros + str(value)) == min(value, DELTA_SECONDS_MAX)


@FAST
@given(garbage, st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_property_parse_http_date_total_rfc9110_5_6_7(value: str, now: Optional[float]) -> None:
    result = parse_http_date(value, now)
    assert result is None or (isinstance(result, float) and math.isfinite(result))


@FAST
@given(st.integers(min_value=0, max_value=253402300799))
def test_property_parse_http_date_round_trips_all_formats_rfc9110_5_6_7(ts: int) -> None:
    tm = time.gmtime(ts)
    imf = formatdate(ts, usegmt=True)
    asctime = time.strftime("%a %b ", tm) + f"{tm.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", tm)
    assert parse_http_date(imf) == float(ts)
    assert parse_http_date(asctime) == float(ts)
    if abs(tm.tm_year - 2023) < 50:
        rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", tm)
        assert parse_http_date(rfc850, NOW) == float(ts)


@FAST
@given(garbage)
def test_property_parse_field_names_total_rfc9110_5_6_1(value: str) -> None:
    names = parse_field_names(value)
    assert len(names) == len(set(names))
    for name in names:
        assert name == "*" or TOKEN.match(name) is not None


@FAST
@given(garbage)
def test_property_parse_etags_total_rfc9110_8_8_3(value: str) -> None:
    tags = parse_etags(value)
    for tag in tags:
        assert tag == "*" or ETAG.match(tag) is not None
        assert etag_weak_match(tag, tag) is True


# ---------------------------------------------------------------------------
# The policy on garbage header fields never raises and stays in range

POLICY_FIELDS = [
    "Cache-Control",
    "Pragma",
    "Expires",
    "Date",
    "Last-Modified",
    "Age",
    "ETag",
    "Vary",
    "Connection",
    "Authorization",
    "Accept",
    "If-None-Match",
    "If-Modified-Since",
    "Location",
    "Content-Location",
    "Content-Length",
    "Range",
    "CDN-Cache-Control",
    "Surrogate-Control",
]
header_lists = st.lists(st.tuples(st.sampled_from(POLICY_FIELDS), garbage), max_size=8)


def _check_policy_total(
    req_items: list[tuple[str, str]], resp_items: list[tuple[str, str]], status: int, method: str
) -> None:
    req = RequestView(method, URL, Headers(req_items))
    resp = ResponseView(status, Headers(resp_items))
    for options in (PRIVATE, SHARED, CDN):
        reason = policy.not_storable_reason(req, resp, options)
        assert reason is None or isinstance(reason, str)
        stored_headers = policy.headers_to_store(req, resp, options)
        stored = StoredResponse(
            url=URL,
            method="GET",
            status=status,
            reason="",
            headers=stored_headers,
            body_length=1,
            request_time=NOW - 1,
            response_time=NOW,
            vary=policy.vary_values(req.headers, policy.vary_names(stored_headers)),
            auth=None,
        )
        lifetime = policy.freshness_lifetime(stored, options)
        assert math.isfinite(lifetime)
        assert lifetime >= 0.0
        for now in (NOW - 100, NOW, NOW + 1e6):
            age = policy.current_age(stored, now)
            assert math.isfinite(age)
            assert age >= max(0.0, now - NOW)
            decision = policy.decide(req, stored, now, options)
            assert isinstance(
                decision, (policy.Fresh, policy.StaleAllowed, policy.Validate, policy.Miss, policy.GatewayTimeout)
            )
        assert isinstance(policy.variant_matches(req, stored, options), bool)
        hint = policy.ttl_hint(stored, NOW, options)
        assert hint is None or hint >= 1.0
    assert isinstance(policy.evaluate_conditional(req, stored), bool)
    assert isinstance(policy.validator_matches(stored, resp), bool)
    assert isinstance(policy.head_invalidates(stored, resp), bool)
    assert policy.freshen(stored, resp, NOW, NOW).body_length == 1
    assert all(isinstance(u, str) for u in policy.invalidation_urls(RequestView("POST", URL, req.headers), resp))


@FAST
@given(header_lists, header_lists, st.sampled_from([200, 203, 204, 206, 301, 302, 304, 404, 500, 599, 100, 299]))
def test_property_policy_total_on_garbage_headers(
    req_items: list[tuple[str, str]], resp_items: list[tuple[str, str]], status: int
) -> None:
    _check_policy_total(req_items, resp_items, status, "GET")


GARBAGE_VALUES = [
    pytest.param("", id="empty"),
    pytest.param(",,,", id="only-commas"),
    pytest.param('"', id="lone-quote"),
    pytest.param('max-age="60', id="unterminated-quote"),
    pytest.param("é ü 日本 \u2028", id="non-ascii"),
    pytest.param("\x00\x01\x1f\x7f", id="control-chars"),
    pytest.param("9" * 400, id="huge-number"),
    pytest.param("max-age=" + "9" * 400, id="huge-max-age"),
    pytest.param("max-age=-5, s-maxage=-1, max-stale=-1, min-fresh=-1", id="negative-deltas"),
    pytest.param("max-age=1.5, max-stale=1e9, min-fresh=abc, stale-if-error=x", id="non-integer-deltas"),
    pytest.param("max-age, s-maxage, min-fresh, max-stale, stale-if-error=", id="missing-arguments"),
    pytest.param('no-cache=, private=, no-cache=""', id="empty-qualified"),
    pytest.param("Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", id="date-twice"),
    pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", id="date-year-9999"),
    pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", id="date-epoch"),
    pytest.param("http://[::1", id="broken-url"),
    pytest.param("http://example.com:99999/", id="bad-port"),
    pytest.param("x" * 100_000, id="100k"),
]


@pytest.mark.parametrize("value", GARBAGE_VALUES)
@pytest.mark.parametrize("field", POLICY_FIELDS)
@pytest.mark.parametrize("side", ["request", "response", "both"])
def test_policy_total_on_garbage_table(field: str, value: str, side: str) -> None:
    items = [(field, value), (field, value)]  # duplicated, as two field lines
    req_items = items if side in ("request", "both") else []
    resp_items = items if side in ("response", "both") else []
    for status in (200, 302, 500):
        _check_policy_total(req_items, resp_items, status, "GET")


@pytest.mark.parametrize("value", GARBAGE_VALUES)
def test_parsers_total_on_garbage_table(value: str) -> None:
    assert isinstance(parse_cache_control(value), dict)
    delta = parse_delta_seconds(value)
    assert delta is None or 0 <= delta <= DELTA_SECONDS_MAX
    assert delta == (DELTA_SECONDS_MAX if value == "9" * 400 else None)
    date = parse_http_date(value, NOW)
    assert date is None or math.isfinite(date)
    assert all(n == "*" or TOKEN.match(n) for n in parse_field_names(value))
    assert all(ETAG.match(t) for t in parse_etags(value) if t != "*")
    assert isinstance(parse_sf_dictionary(value), (dict, type(None)))
    assert isinstance(parse_targeted_cache_control(value), (dict, type(None)))

"""Partial content: Range and Content-Range parsing (RFC 9110 §14) and serving a range from
a stored complete or partial response (RFC 9111 §3.4)."""

from __future__ import annotations

from typing import Optional

import pytest

from httpcache import policy
from httpcache._body import Entry
from httpcache._headers import Headers, parse_content_range, parse_range
from httpcache.models import RequestView, StoredResponse

URL = "http://example.com/r"
BODY = b"0123456789"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-4", (0, 4)),
        ("bytes=5-", (5, None)),
        ("bytes=-3", (None, 3)),
        ("bytes = 1-2", (1, 2)),
        ("bytes=4-2", None),
        ("bytes=0-1,3-4", None),
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("bytes=\u0661-\u0662", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_range_rfc9110_14_1_2(value: Optional[str], expected: object) -> None:
    assert parse_range(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 0-4/10", (0, 4, 10)),
        ("bytes 4-9/10", (4, 9, 10)),
        ("bytes 0-4/*", (0, 4, None)),
        ("bytes 4-10/10", None),
        ("bytes 5-4/10", None),
        ("bytes */10", None),
        ("bytes 0-4", None),
        ("garbage", None),
    ],
)
def test_parse_content_range_rfc9110_14_4(value: str, expected: object) -> None:
    assert parse_content_range(value) == expected


def stored(status: int, body: bytes, content_range: Optional[str] = None) -> Entry:
    headers = [("Cache-Control", "max-age=60")]
    if content_range:
        headers.append(("Content-Range", content_range))
    return Entry(StoredResponse(URL, "GET", status, "", Headers(headers), len(body), 0.0, 0.0), body)


def served(spec: tuple[Optional[int], Optional[int]], stored: Entry) -> Optional[tuple[int, int, int, bytes]]:
    """``range_from_stored``, with the bytes it points at in the stored body."""
    found = policy.range_from_stored(spec, stored.head)
    if found is None:
        return None
    first, last, length, start = found
    assert isinstance(stored.body, bytes)
    return first, last, length, stored.body[start : start + last - first + 1]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ((0, 1), (0, 1, 10, b"01")),
        ((1, None), (1, 9, 10, b"123456789")),
        ((None, 1), (9, 9, 10, b"9")),
        ((None, 20), (0, 9, 10, BODY)),
        ((8, 20), (8, 9, 10, b"89")),
        ((10, None), None),  # unsatisfiable: the origin answers it
        ((None, 0), None),
    ],
)
def test_range_from_complete_response_rfc9111_3_4(spec: tuple[Optional[int], Optional[int]], expected: object) -> None:
    assert served(spec, stored(200, BODY)) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ((None, 5), (5, 9, 10, b"56789")),
        ((6, 8), (6, 8, 10, b"678")),
        ((6, None), (6, 9, 10, b"6789")),
        ((None, 1), (9, 9, 10, b"9")),
        ((4, 6), None),  # byte 4 is not held
        ((None, 6), None),
        ((0, 9), None),
    ],
)
def test_range_from_partial_response_rfc9111_3_4(spec: tuple[Optional[int], Optional[int]], expected: object) -> None:
    assert served(spec, stored(206, b"56789", "bytes 5-9/10")) == expected


def test_partial_response_whose_body_does_not_fit_its_range_is_not_used() -> None:
    assert policy.range_from_stored((5, 6), stored(206, b"567", "bytes 5-9/10").head) is None
    assert policy.range_from_stored((0, 1), stored(404, BODY).head) is None


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", [("Range", "bytes=0-1")], (0, 1)),
        ("HEAD", [("Range", "bytes=0-1")], None),
        ("GET", [("Range", "bytes=0-1"), ("If-Range", '"a"')], None),
        ("GET", [("Range", "bytes=0-1,4-5")], None),
    ],
)
def test_requested_range_rfc9110_14_2(method: str, headers: list[tuple[str, str]], expected: object) -> None:
    assert policy.requested_range(RequestView(method, URL, Headers(headers))) == expected

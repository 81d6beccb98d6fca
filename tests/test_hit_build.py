"""A hit is built directly (``_build_hit``) rather than through ``HTTPAdapter.build_response``;
it must come out the same as what build_response makes, and an override must still be used."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
import requests
import responses
from requests.models import PreparedRequest, Response

from httpcache import CacheControlAdapter

URL = "http://example.test/resource"

HEADER_SETS = [
    [("Cache-Control", "max-age=60"), ("Content-Type", "text/plain; charset=latin-1")],
    [
        ("Cache-Control", "max-age=60"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("Vary", "Accept"),
        ("X-Dup", "one"),
        ("X-DUP", "two"),
        ("Content-Type", "application/json"),
    ],
    [("Cache-Control", "max-age=60"), ("Age", "5"), ("Content-Type", "text/html")],
    [("Cache-Control", "max-age=60"), ("Content-Encoding", "gzip")],
]


class _Overriding(CacheControlAdapter):
    """Overrides build_response (so hits go through it) without changing what it builds."""

    built = 0

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        type(self).built += 1
        return super().build_response(req, resp)


def _hit(adapter: CacheControlAdapter, headers: list[tuple[str, str]], stream: bool) -> Response:
    sess = requests.Session()
    sess.trust_env = False
    sess.mount("http://", adapter)
    body = gzip.compress(b"body") if ("Content-Encoding", "gzip") in headers else b"body"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URL, body=body, headers=headers, auto_calculate_content_length=True)
        sess.get(URL).content  # noqa: B018 - stores it
        hit = sess.get(URL, stream=stream)
    assert hit.from_cache is True  # type: ignore[attr-defined]
    return hit


def _describe(resp: Response) -> dict[str, Any]:
    headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "age"]
    raw_headers = [(k, v) for k, v in resp.raw.headers.items() if k.lower() != "age"]
    return {
        "status": resp.status_code,
        "reason": resp.reason,
        "url": resp.url,
        "headers": headers,
        "age": resp.headers["Age"].isdigit() and resp.headers["Age"] == resp.raw.headers["Age"],
        "names": (list(resp.headers), list(resp.raw.headers)),  # Age included, in its place
        "header_type": type(resp.headers),
        "raw_headers": raw_headers,
        "raw_status": resp.raw.status,
        "raw_reason": resp.raw.reason,
        "encoding": resp.encoding,
        "is_connection": resp.connection is not None,
        "cookies": dict(resp.cookies),
        "history": resp.history,
        "content": resp.content,
        "ok": resp.ok,
    }


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("headers", HEADER_SETS)
def test_direct_build_matches_build_response(headers: list[tuple[str, str]], stream: bool) -> None:
    direct = _hit(CacheControlAdapter(), headers, stream)
    before = _Overriding.built
    through = _hit(_Overriding(), headers, stream)
    assert _Overriding.built == before + 2  # the miss and the hit both went through the override
    assert _describe(direct) == _describe(through)
    assert direct.raw.read() == through.raw.read()


def test_hit_headers_are_the_callers_to_change() -> None:
    adapter = CacheControlAdapter()
    first = _hit(adapter, HEADER_SETS[1], False)
    first.headers["X-Dup"] = "changed"
    first.raw.headers["X-Dup"] = "changed"
    sess = requests.Session()
    sess.trust_env = False
    sess.mount("http://", adapter)
    second = sess.get(URL)
    assert second.headers["X-Dup"] == "one, two"
    assert second.raw.headers.getlist("X-Dup") == ["one", "two"]
    assert second.headers.get("set-cookie") == "a=1, b=2"

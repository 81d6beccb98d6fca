"""The private parts of requests and urllib3 the transport uses are checked once, in
``_messages``; with a check failed (a version that keeps things differently) the public
way is taken instead, and caching stays correct."""

from __future__ import annotations

import pytest
import requests
from _e2e_helpers import from_cache, validating
from origin import Origin, Reply

from httpcache import CacheControl, _messages


def test_every_private_part_is_usable_with_the_installed_versions() -> None:
    """If a new requests or urllib3 changes one of them, this says which (the fallbacks
    below keep the cache correct, but slower or, for the tee, not storing)."""
    assert _messages._PRIVATE == {
        "CaseInsensitiveDict._store": True,
        "HTTPResponse._fp": True,
        "Response._content": True,
        "PreparedRequest.__dict__": True,
    }


@pytest.mark.parametrize("flag", ["_CID_STORE", "_PRELOAD", "_REQUEST_DICT"])
def test_without_a_shortcut_hits_and_revalidations_are_the_same(
    origin: Origin, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setattr(_messages, flag, False)
    origin.route(
        "/fresh",
        lambda req: Reply(
            200, [("Cache-Control", "max-age=600"), ("Content-Type", "text/plain; charset=utf-8")], b"fresh body"
        ),
    )
    origin.route("/tagged", validating(b"tagged body", [("Cache-Control", "no-cache")], etag='"v1"'))
    sess = CacheControl(requests.Session())
    first, second = sess.get(origin.url("/fresh")), sess.get(origin.url("/fresh"))
    assert (first.content, second.content, second.text) == (b"fresh body", b"fresh body", "fresh body")
    assert not from_cache(first) and from_cache(second) and second.headers["Content-Type"].startswith("text/plain")
    assert origin.count("/fresh") == 1
    first, second = sess.get(origin.url("/tagged")), sess.get(origin.url("/tagged"))
    assert (first.content, second.content, second.status_code) == (b"tagged body", b"tagged body", 200)
    assert from_cache(second) and origin.count("/tagged") == 2  # revalidated with a 304


def test_without_the_tee_responses_are_served_and_not_stored(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_messages, "_RAW_FP", False)
    origin.route("/fresh", lambda req: Reply(200, [("Cache-Control", "max-age=600")], b"fresh body"))
    sess = CacheControl(requests.Session())
    got = [sess.get(origin.url("/fresh")) for _ in range(3)]
    assert [r.content for r in got] == [b"fresh body"] * 3
    assert not any(from_cache(r) for r in got) and origin.count("/fresh") == 3


def test_a_header_value_given_as_bytes_selects_its_variant_as_text(origin: Origin) -> None:
    """requests sends a bytes value as it is; the cache reads it as the same text (Latin-1),
    so ``b"caf\\xe9"`` and ``"café"`` (the same bytes on the wire) select one variant."""
    origin.route("/v", Reply(200, [("Cache-Control", "max-age=600"), ("Vary", "X-Who")], b"for cafe"))
    sess = CacheControl(requests.Session())
    first = sess.get(origin.url("/v"), headers={"X-Who": b"caf\xe9"})
    again = sess.get(origin.url("/v"), headers={"X-Who": "café"})
    other = sess.get(origin.url("/v"), headers={"X-Who": "tea"})
    assert (first.content, again.content) == (b"for cafe", b"for cafe")
    assert from_cache(again) and not from_cache(other)
    assert origin.count("/v") == 2

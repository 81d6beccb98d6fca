"""The ``httpcache`` log, read by a person: rounded ages and lifetimes, one line with its RFC
section for a response not stored or not reused, a 304 logged as an update, and every
fallback (a thrown-away 304, a store error, a damaged entry) logged once, not per request."""

from __future__ import annotations

import logging
import re

import pytest
import requests
from _e2e_helpers import FlakyStore, from_cache, validating
from origin import Origin, Reply, Seen

from httpcache import CacheControl, DictCache
from httpcache.keys import cache_key

pytestmark = pytest.mark.e2e


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "httpcache" and r.levelno >= level]


def make_session(store: object = None) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, store)  # type: ignore[arg-type]


def test_a_hit_says_its_age_and_how_long_it_stays_fresh_rounded(
    origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = make_session()
    caplog.set_level(logging.DEBUG, logger="httpcache")
    sess.get(origin.url("/a"))
    assert from_cache(sess.get(origin.url("/a")))
    said = lines(caplog)
    assert f"GET {origin.url('/a')}: miss: nothing stored (RFC 9111 §4)" in said
    url = re.escape(origin.url("/a"))
    assert any(re.fullmatch(rf"stored GET {url}: 200, 1 bytes, fresh for (59|60) s", s) for s in said), said
    hit = rf"GET {url}: fresh hit \(age [012] s, fresh for (58|59|60) s more\) \(RFC 9111 §4.2\)"
    assert any(re.fullmatch(hit, s) for s in said), said
    assert not [s for s in said if re.search(r"\d\.\d{3,}", s)], "no raw float ages"


def test_not_stored_and_not_reused_say_why_in_one_line_with_the_section(
    origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    origin.route("/nostore", Reply(200, [("Cache-Control", "no-store")], b"x"))
    origin.route("/nocache", validating(b"x", [("Cache-Control", "no-cache")], etag='"e"'))
    sess = make_session()
    caplog.set_level(logging.DEBUG, logger="httpcache")
    sess.get(origin.url("/nostore"))
    sess.get(origin.url("/nocache"))
    sess.get(origin.url("/nocache"))
    said = lines(caplog)
    assert f"not stored: GET {origin.url('/nostore')}: response no-store (RFC 9111 §5.2.2.5)" in said
    reuse = [s for s in said if s.startswith(f"GET {origin.url('/nocache')}: not reused")]
    assert len(reuse) == 1
    assert re.fullmatch(
        r".*: not reused \(age \d+ s, stale for \d+ s\): response no-cache \(RFC 9111 §5\.2\.2\.4\); "
        r"revalidating with If-None-Match",
        reuse[0],
    ), reuse


def test_a_304_is_logged_as_an_update_not_as_a_new_response(origin: Origin, caplog: pytest.LogCaptureFixture) -> None:
    origin.route("/v", validating(b"body" * 300, [("Cache-Control", "max-age=0")], etag='"v"'))
    sess = make_session()
    sess.get(origin.url("/v"))
    caplog.set_level(logging.DEBUG, logger="httpcache")
    resp = sess.get(origin.url("/v"))
    assert from_cache(resp)
    said = lines(caplog)
    assert not [s for s in said if s.startswith("stored ")], said
    updates = [s for s in said if s.startswith("updated from a 304 (RFC 9111 §4.3.4): GET")]
    assert len(updates) == 1 and updates[0].endswith(": 200, 1200 bytes, stale: reused only after revalidation")


def test_a_thrown_away_304_is_a_warning_once_not_per_request(origin: Origin, caplog: pytest.LogCaptureFixture) -> None:
    def contradicting(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match"):
            return Reply(304, [("ETag", '"other"')])
        return Reply(200, [("Cache-Control", "max-age=0"), ("ETag", '"mine"')], b"x")

    origin.route("/c", contradicting)
    sess = make_session()
    caplog.set_level(logging.DEBUG, logger="httpcache")
    for _ in range(4):
        sess.get(origin.url("/c"))  # stored, then: revalidated, 304 thrown away, stored again...
    warnings = [s for s in lines(caplog, logging.WARNING) if "answered our conditional request" in s]
    assert len(warnings) == 1, warnings
    assert "RFC 9111 §4.3.4" in warnings[0]


def test_a_store_error_is_a_warning_once_not_per_request(origin: Origin, caplog: pytest.LogCaptureFixture) -> None:
    origin.route("/s", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    store = FlakyStore()
    store.fail_get = store.fail_set = True
    sess = make_session(store)
    caplog.set_level(logging.DEBUG, logger="httpcache")
    for _ in range(5):
        assert sess.get(origin.url("/s")).content == b"x"
    assert store.failures >= 5
    warnings = lines(caplog, logging.WARNING)
    assert len(warnings) == 1 and "carrying on without the cache" in warnings[0]


def test_a_damaged_entry_is_reported_once_at_info(origin: Origin, caplog: pytest.LogCaptureFixture) -> None:
    for path in ("/d1", "/d2"):
        origin.route(path, Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    store = DictCache()
    sess = make_session(store)
    for path in ("/d1", "/d2"):
        sess.get(origin.url(path))
        store.set(cache_key("GET", origin.url(path)), b"HTTPCACHE\x03R damaged")
    caplog.set_level(logging.DEBUG, logger="httpcache")
    for path in ("/d1", "/d2"):
        assert not from_cache(sess.get(origin.url(path)))
    info = [s for s in lines(caplog, logging.INFO) if "unusable" in s]
    assert len(info) == 1 and "deleted, a miss" in info[0]

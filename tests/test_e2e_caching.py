"""End-to-end RFC 9111 caching behaviour against a real origin, by section.

Staleness is produced with Date / Age / Expires values relative to now (the
``origin`` fixture below lets a reply set its own Date), never by sleeping.
Every test asserts on what reached the origin.
"""

from __future__ import annotations

import logging
from typing import Optional, Union

import pytest
import requests
from _e2e_helpers import DAY, from_cache, http_date, validating, wait_for
from origin import Origin, Reply, Seen

from httpcache import CacheControlAdapter, DictCache

MAX_AGE = [("Cache-Control", "max-age=60")]
LAST_MODIFIED_10_DAYS = ("Last-Modified", http_date(-10 * DAY))


def get_twice(session: requests.Session, url: str, **kwargs: object) -> tuple[requests.Response, requests.Response]:
    first = session.get(url, **kwargs)  # type: ignore[arg-type]
    second = session.get(url, **kwargs)  # type: ignore[arg-type]
    return first, second


# ---------------------------------------------------------------------------
# §3 Storing responses


def test_response_no_store_is_not_stored(origin: Origin, session: requests.Session, cache: DictCache) -> None:
    origin.route("/ns", Reply(200, [("Cache-Control", "max-age=60, no-store"), ("ETag", '"x"')], b"secret"))
    _, second = get_twice(session, origin.url("/ns"))
    assert second.content == b"secret" and from_cache(second) is False
    assert origin.count("/ns") == 2
    assert "if-none-match" not in origin.last("/ns").headers
    assert len(cache) == 0


def test_request_no_store_is_not_stored(origin: Origin, session: requests.Session, cache: DictCache) -> None:
    origin.route("/rns", Reply(200, MAX_AGE, b"body"))
    r = session.get(origin.url("/rns"), headers={"Cache-Control": "no-store"})
    assert r.content == b"body"
    assert len(cache) == 0
    again = session.get(origin.url("/rns"))
    assert from_cache(again) is False
    assert origin.count("/rns") == 2
    third = session.get(origin.url("/rns"))  # the plain request's response was stored
    assert from_cache(third) is True and origin.count("/rns") == 2


def test_private_is_stored_in_private_mode(origin: Origin, session: requests.Session) -> None:
    origin.route("/priv", Reply(200, [("Cache-Control", "private, max-age=60")], b"mine"))
    _, second = get_twice(session, origin.url("/priv"))
    assert second.content == b"mine" and from_cache(second) is True
    assert origin.count("/priv") == 1


def test_private_is_not_stored_in_shared_mode(origin: Origin, shared_session: requests.Session) -> None:
    origin.route("/priv", Reply(200, [("Cache-Control", "private, max-age=60")], b"mine"))
    _, second = get_twice(shared_session, origin.url("/priv"))
    assert second.content == b"mine" and from_cache(second) is False
    assert origin.count("/priv") == 2


def test_shared_mode_does_not_store_authorized_response_by_default(
    origin: Origin, shared_session: requests.Session
) -> None:
    origin.route("/auth", Reply(200, MAX_AGE, b"for alice"))
    _, second = get_twice(shared_session, origin.url("/auth"), headers={"Authorization": "alice"})
    assert from_cache(second) is False
    anon = shared_session.get(origin.url("/auth"))
    assert from_cache(anon) is False
    assert origin.count("/auth") == 3


@pytest.mark.parametrize("cc", ["public, max-age=60", "s-maxage=60", "must-revalidate, max-age=60"])
def test_shared_mode_stores_authorized_response_when_allowed(
    origin: Origin, shared_session: requests.Session, cc: str
) -> None:
    origin.route("/auth", Reply(200, [("Cache-Control", cc)], b"shareable"))
    _, second = get_twice(shared_session, origin.url("/auth"), headers={"Authorization": "alice"})
    assert second.content == b"shareable" and from_cache(second) is True
    assert origin.count("/auth") == 1


@pytest.mark.parametrize("status", [200, 301, 404])
def test_heuristically_cacheable_status_with_last_modified(
    origin: Origin, session: requests.Session, status: int
) -> None:
    headers = [LAST_MODIFIED_10_DAYS] + ([("Location", "/elsewhere")] if status == 301 else [])
    origin.route("/h", Reply(status, headers, b"heuristic"))
    _, second = get_twice(session, origin.url("/h"), allow_redirects=False)
    assert second.status_code == status and second.content == b"heuristic"
    assert from_cache(second) is True
    assert origin.count("/h") == 1


def test_500_without_explicit_freshness_is_not_stored(origin: Origin, session: requests.Session) -> None:
    origin.route("/e", Reply(500, [LAST_MODIFIED_10_DAYS], b"oops"))
    _, second = get_twice(session, origin.url("/e"))
    assert second.status_code == 500 and from_cache(second) is False
    assert origin.count("/e") == 2


def test_500_with_max_age_is_stored(origin: Origin, session: requests.Session) -> None:
    origin.route("/e", Reply(500, MAX_AGE, b"oops"))
    _, second = get_twice(session, origin.url("/e"))
    assert second.status_code == 500 and second.content == b"oops"
    assert from_cache(second) is True
    assert origin.count("/e") == 1


# ---------------------------------------------------------------------------
# §4.1 Vary


def test_vary_keeps_each_variant_for_its_request(origin: Origin, session: requests.Session) -> None:
    def negotiate(seen: Seen) -> Reply:
        lang = seen.headers.get("accept-language", "none")
        return Reply(200, [*MAX_AGE, ("Vary", "Accept-Language")], f"hello in {lang}".encode())

    origin.route("/v", negotiate)
    url = origin.url("/v")
    en = {"Accept-Language": "en"}
    fr = {"Accept-Language": "fr"}

    assert session.get(url, headers=en).content == b"hello in en"
    assert session.get(url, headers=fr).content == b"hello in fr"
    assert origin.count("/v") == 2
    for _ in range(2):
        r_en = session.get(url, headers=en)
        r_fr = session.get(url, headers=fr)
        assert r_en.content == b"hello in en" and from_cache(r_en) is True
        assert r_fr.content == b"hello in fr" and from_cache(r_fr) is True
    assert origin.count("/v") == 2
    other = session.get(url, headers={"Accept-Language": "de"})
    assert other.content == b"hello in de" and from_cache(other) is False
    assert origin.count("/v") == 3


def test_vary_star_is_never_served_from_cache(origin: Origin, session: requests.Session) -> None:
    origin.route("/star", Reply(200, [*MAX_AGE, ("Vary", "*")], b"star"))
    for i in range(3):
        r = session.get(origin.url("/star"))
        assert r.content == b"star" and from_cache(r) is False
        assert origin.count("/star") == i + 1


# ---------------------------------------------------------------------------
# §4.2 Freshness


@pytest.mark.parametrize(
    ("extra", "date_offset", "served_from_cache"),
    [
        ([], None, True),
        ([], -30, True),
        ([("Age", "100")], None, False),
        ([], -100, False),
    ],
    ids=["fresh", "fresh-date-30s-ago", "stale-by-age", "stale-by-date"],
)
def test_max_age_freshness(
    origin: Origin,
    session: requests.Session,
    extra: list[tuple[str, str]],
    date_offset: Optional[float],
    served_from_cache: bool,
) -> None:
    # the Date is made when the test runs, not when it is collected (a slow run would age it)
    date = [] if date_offset is None else [("Date", http_date(date_offset))]
    origin.route("/ma", Reply(200, [("Cache-Control", "max-age=60"), *date, *extra], b"ma"))
    _, second = get_twice(session, origin.url("/ma"))
    assert second.content == b"ma"
    assert from_cache(second) is served_from_cache
    assert origin.count("/ma") == (1 if served_from_cache else 2)


@pytest.mark.parametrize(
    ("expires", "served_from_cache"),
    [(120.0, True), (-120.0, False), ("0", False), ("not a date", False)],
    ids=["future", "past", "zero", "invalid"],
)
def test_expires(
    origin: Origin, session: requests.Session, expires: Union[float, str], served_from_cache: bool
) -> None:
    value = http_date(expires) if isinstance(expires, float) else expires  # made when the test runs
    origin.route("/ex", Reply(200, [("Expires", value), ("Date", http_date())], b"ex"))
    _, second = get_twice(session, origin.url("/ex"))
    assert from_cache(second) is served_from_cache
    assert origin.count("/ex") == (1 if served_from_cache else 2)


def test_max_age_overrides_expires(origin: Origin, session: requests.Session) -> None:
    origin.route("/mx", Reply(200, [("Expires", http_date(-120)), ("Cache-Control", "max-age=60")], b"mx"))
    _, second = get_twice(session, origin.url("/mx"))
    assert from_cache(second) is True
    assert origin.count("/mx") == 1


@pytest.mark.parametrize("cc", ["max-age=0, s-maxage=60", "s-maxage=60"])
def test_s_maxage_ignored_in_private_mode(origin: Origin, session: requests.Session, cc: str) -> None:
    origin.route("/s", Reply(200, [("Cache-Control", cc)], b"s"))
    _, second = get_twice(session, origin.url("/s"))
    assert from_cache(second) is False
    assert origin.count("/s") == 2


@pytest.mark.parametrize("cc", ["max-age=0, s-maxage=60", "s-maxage=60"])
def test_s_maxage_honoured_in_shared_mode(origin: Origin, shared_session: requests.Session, cc: str) -> None:
    origin.route("/s", Reply(200, [("Cache-Control", cc)], b"s"))
    _, second = get_twice(shared_session, origin.url("/s"))
    assert from_cache(second) is True
    assert origin.count("/s") == 1


def test_heuristic_freshness_from_last_modified(origin: Origin, session: requests.Session) -> None:
    origin.route("/lm", Reply(200, [LAST_MODIFIED_10_DAYS], b"lm"))
    origin.route("/nolm", Reply(200, [], b"nolm"))
    _, second = get_twice(session, origin.url("/lm"))
    assert from_cache(second) is True
    assert origin.count("/lm") == 1
    # no Last-Modified, no explicit freshness: nothing to go on
    _, second = get_twice(session, origin.url("/nolm"))
    assert from_cache(second) is False
    assert origin.count("/nolm") == 2


def test_heuristic_freshness_is_a_fraction_of_last_modified_age(origin: Origin, session: requests.Session) -> None:
    # modified 100 s before Date 50 s ago: heuristic lifetime 10 s, already 50 s old
    origin.route("/lm", Reply(200, [("Last-Modified", http_date(-150)), ("Date", http_date(-50))], b"lm"))
    _, second = get_twice(session, origin.url("/lm"))
    assert from_cache(second) is False
    assert origin.count("/lm") == 2
    assert origin.last("/lm").headers.get("if-modified-since") is not None


def test_origin_age_header_counts_toward_age(origin: Origin, session: requests.Session) -> None:
    origin.route("/young", Reply(200, [("Cache-Control", "max-age=60"), ("Age", "50")], b"y"))
    origin.route("/old", Reply(200, [("Cache-Control", "max-age=60"), ("Age", "61")], b"o"))
    _, hit = get_twice(session, origin.url("/young"))
    assert from_cache(hit) is True
    assert 50 <= int(hit.headers["Age"]) <= 55
    assert origin.count("/young") == 1
    _, second = get_twice(session, origin.url("/old"))
    assert from_cache(second) is False
    assert origin.count("/old") == 2


# ---------------------------------------------------------------------------
# §4.3 Validation


def test_etag_revalidation_with_304_updates_stored_headers(origin: Origin, session: requests.Session) -> None:
    body = b"the stored representation"
    origin.route(
        "/etag",
        validating(
            body,
            [("Cache-Control", "max-age=1"), ("Date", http_date(-10)), ("X-Header", "old")],
            etag='"v1"',
            not_modified_headers=[("X-Header", "new"), ("Cache-Control", "max-age=60"), ("Content-Length", "0")],
        ),
    )
    url = origin.url("/etag")
    first = session.get(url)
    assert first.headers["X-Header"] == "old"
    assert "if-none-match" not in origin.last("/etag").headers

    second = session.get(url)
    assert origin.count("/etag") == 2
    assert origin.last("/etag").headers.get("if-none-match") == '"v1"'
    assert second.status_code == 200
    assert second.content == body
    assert second.headers["X-Header"] == "new"
    assert second.headers["Cache-Control"] == "max-age=60"
    assert second.headers["Content-Length"] == str(len(body))

    third = session.get(url)  # freshened by the 304's max-age=60
    assert from_cache(third) is True and third.content == body
    assert third.headers["X-Header"] == "new"
    assert third.headers["Content-Length"] == str(len(body))
    assert origin.count("/etag") == 2


def test_last_modified_revalidation_with_if_modified_since(origin: Origin, session: requests.Session) -> None:
    last_modified = http_date(-10 * DAY)
    body = b"dated body"
    origin.route("/ims", validating(body, [("Cache-Control", "max-age=0")], last_modified=last_modified))
    url = origin.url("/ims")
    session.get(url)
    second = session.get(url)
    assert origin.count("/ims") == 2
    sent = origin.last("/ims").headers
    assert sent.get("if-modified-since") == last_modified
    assert "if-none-match" not in sent
    assert second.status_code == 200 and second.content == body


def test_client_conditional_on_fresh_entry_gets_304_from_cache(origin: Origin, session: requests.Session) -> None:
    origin.route("/c", Reply(200, [*MAX_AGE, ("ETag", '"c1"')], b"client copy"))
    url = origin.url("/c")
    session.get(url)
    r = session.get(url, headers={"If-None-Match": '"c1"'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers.get("ETag") == '"c1"'
    assert from_cache(r) is True
    assert origin.count("/c") == 1
    other = session.get(url, headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.content == b"client copy"
    assert origin.count("/c") == 1


def test_unconditional_caller_never_gets_304_nor_a_second_request(
    origin: Origin, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    state = {"etag": '"v1"'}

    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match"):
            # a 304 for another representation than the stored one
            return Reply(304, [("ETag", '"v2"'), ("Cache-Control", "max-age=60")])
        return Reply(200, [("ETag", state["etag"]), ("Cache-Control", "max-age=0")], state["etag"].encode())

    origin.route("/n", handler)
    url = origin.url("/n")
    session.get(url)
    state["etag"] = '"v2"'
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        r = session.get(url)
    # RFC 9111 §4.3.4: the 304 selects nothing; it answered our conditional all the same,
    # so the stored response is served once, without a second request, and said so
    assert (r.status_code, r.content) == (200, b'"v1"')
    assert origin.count("/n") == 2  # initial, conditional (a 304 carrying "v2")
    assert any("304" in rec.getMessage() and '"v2"' in rec.getMessage() for rec in caplog.records)
    # ...and no longer trusted: the next request fetches it whole
    again = session.get(url)
    assert (again.status_code, again.content, from_cache(again)) == (200, b'"v2"', False)
    assert origin.count("/n") == 3
    assert "if-none-match" not in origin.last("/n").headers


# ---------------------------------------------------------------------------
# §4.4 Invalidation


@pytest.mark.parametrize("status", [200, 204, 303])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PURGE"])
def test_unsafe_method_invalidates(origin: Origin, session: requests.Session, method: str, status: int) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.method == "GET":
            return Reply(200, MAX_AGE, b"cached")
        return Reply(status, [("Location", "/done")] if status == 303 else [])

    origin.route("/inv", handler)
    url = origin.url("/inv")
    session.get(url)
    assert from_cache(session.get(url)) is True
    r = session.request(method, url, allow_redirects=False)
    assert r.status_code == status
    after = session.get(url)
    assert from_cache(after) is False
    assert [s.method for s in origin.requests] == ["GET", method, "GET"]


@pytest.mark.parametrize("absolute", [False, True])
def test_unsafe_method_invalidates_location_and_content_location(
    origin: Origin, session: requests.Session, absolute: bool
) -> None:
    for p in ("/loc", "/cl", "/bystander"):
        origin.route(p, Reply(200, MAX_AGE, p.encode()))
    loc = origin.url("/loc") if absolute else "/loc"
    cl = origin.url("/cl") if absolute else "cl"
    origin.route("/post", Reply(201, [("Location", loc), ("Content-Location", cl)]))
    for p in ("/loc", "/cl", "/bystander"):
        session.get(origin.url(p))
        assert from_cache(session.get(origin.url(p))) is True

    session.post(origin.url("/post"))
    for p in ("/loc", "/cl", "/bystander"):
        session.get(origin.url(p))
    assert origin.count("/loc") == 2
    assert origin.count("/cl") == 2
    assert origin.count("/bystander") == 1


@pytest.mark.parametrize("status", [400, 404, 500])
def test_error_status_does_not_invalidate(origin: Origin, session: requests.Session, status: int) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.method == "GET":
            return Reply(200, MAX_AGE, b"cached")
        return Reply(status, [], b"failed")

    origin.route("/keep", handler)
    url = origin.url("/keep")
    session.get(url)
    assert session.post(url).status_code == status
    after = session.get(url)
    assert from_cache(after) is True
    assert origin.count("/keep") == 2


def test_cross_origin_location_is_not_invalidated(origin: Origin, session: requests.Session) -> None:
    with Origin() as other:
        other.route("/x", Reply(200, MAX_AGE, b"other origin"))
        origin.route("/x", Reply(200, MAX_AGE, b"this origin"))
        origin.route("/post", Reply(201, [("Location", other.url("/x")), ("Content-Location", other.url("/x"))]))
        session.get(other.url("/x"))
        session.get(origin.url("/x"))

        session.post(origin.url("/post"))
        r = session.get(other.url("/x"))
        assert r.content == b"other origin" and from_cache(r) is True
        assert other.count("/x") == 1
        assert from_cache(session.get(origin.url("/x"))) is True
        assert origin.count("/x") == 1


# ---------------------------------------------------------------------------
# §5.2.1 Request directives


def test_request_no_cache_goes_to_origin_conditionally(origin: Origin, session: requests.Session) -> None:
    origin.route("/rnc", validating(b"rnc", MAX_AGE, etag='"r"'))
    url = origin.url("/rnc")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": "no-cache"})
    assert origin.count("/rnc") == 2
    assert origin.last("/rnc").headers.get("if-none-match") == '"r"'
    assert r.status_code == 200 and r.content == b"rnc"


def test_request_no_store_with_fresh_entry(origin: Origin, session: requests.Session, cache: DictCache) -> None:
    origin.route("/rns", Reply(200, [*MAX_AGE, ("X-Version", "1")], b"rns"))
    url = origin.url("/rns")
    r = session.get(url, headers={"Cache-Control": "no-store"})
    assert r.content == b"rns" and len(cache) == 0
    origin.route("/rns", Reply(200, [*MAX_AGE, ("X-Version", "2")], b"rns"))
    r2 = session.get(url)
    assert r2.headers["X-Version"] == "2" and from_cache(r2) is False
    assert origin.count("/rns") == 2


def test_request_max_age_zero_forces_revalidation(origin: Origin, session: requests.Session) -> None:
    origin.route("/rma", validating(b"rma", [("Cache-Control", "max-age=600"), ("Date", http_date(-5))], etag='"m"'))
    url = origin.url("/rma")
    session.get(url)
    assert from_cache(session.get(url)) is True
    r = session.get(url, headers={"Cache-Control": "max-age=0"})
    assert origin.count("/rma") == 2
    assert origin.last("/rma").headers.get("if-none-match") == '"m"'
    assert r.status_code == 200 and r.content == b"rma"


def test_request_max_age_within_age_is_served(origin: Origin, session: requests.Session) -> None:
    origin.route("/rma", Reply(200, [("Cache-Control", "max-age=600"), ("Date", http_date(-5))], b"rma"))
    url = origin.url("/rma")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": "max-age=300"})
    assert from_cache(r) is True
    assert origin.count("/rma") == 1


def test_request_max_age_never_extends_a_stale_response(origin: Origin, session: requests.Session) -> None:
    origin.route("/stale", Reply(200, [("Cache-Control", "max-age=10"), ("Date", http_date(-100))], b"stale"))
    url = origin.url("/stale")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": "max-age=1000"})
    assert from_cache(r) is False
    assert origin.count("/stale") == 2


@pytest.mark.parametrize(
    ("max_stale", "served_from_cache"),
    [("max-stale=100", True), ("max-stale", True), ("max-stale=5", False)],
)
def test_max_stale(origin: Origin, session: requests.Session, max_stale: str, served_from_cache: bool) -> None:
    # stale by about 30 s
    origin.route("/ms", Reply(200, [("Cache-Control", "max-age=10"), ("Date", http_date(-40))], b"ms"))
    url = origin.url("/ms")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": max_stale})
    assert r.content == b"ms"
    assert from_cache(r) is served_from_cache
    assert origin.count("/ms") == (1 if served_from_cache else 2)


@pytest.mark.parametrize(
    ("directives", "served_from_cache"), [("max-age=20, max-stale=100", False), ("max-age=60, max-stale=100", True)]
)
def test_max_stale_with_request_max_age(
    origin: Origin, session: requests.Session, directives: str, served_from_cache: bool
) -> None:
    # about 40 s old, stale by about 30 s: max-age still bounds the acceptable age
    origin.route("/ms", Reply(200, [("Cache-Control", "max-age=10"), ("Date", http_date(-40))], b"ms"))
    url = origin.url("/ms")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": directives})
    assert from_cache(r) is served_from_cache
    assert origin.count("/ms") == (1 if served_from_cache else 2)


@pytest.mark.parametrize(("min_fresh", "served_from_cache"), [("min-fresh=100", False), ("min-fresh=5", True)])
def test_min_fresh(origin: Origin, session: requests.Session, min_fresh: str, served_from_cache: bool) -> None:
    # about 30 s of freshness left
    origin.route("/mf", Reply(200, [("Cache-Control", "max-age=60"), ("Date", http_date(-30))], b"mf"))
    url = origin.url("/mf")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": min_fresh})
    assert from_cache(r) is served_from_cache
    assert origin.count("/mf") == (1 if served_from_cache else 2)


def test_only_if_cached_miss_is_504_without_origin_request(origin: Origin, session: requests.Session) -> None:
    origin.route("/oic", Reply(200, MAX_AGE, b"oic"))
    r = session.get(origin.url("/oic"), headers={"Cache-Control": "only-if-cached"})
    assert r.status_code == 504
    assert origin.count("/oic") == 0


def test_only_if_cached_serves_fresh_entry(origin: Origin, session: requests.Session) -> None:
    origin.route("/oic", Reply(200, MAX_AGE, b"oic"))
    session.get(origin.url("/oic"))
    r = session.get(origin.url("/oic"), headers={"Cache-Control": "only-if-cached"})
    assert r.status_code == 200 and r.content == b"oic"
    assert from_cache(r) is True
    assert origin.count("/oic") == 1


def test_only_if_cached_stale_entry_is_504(origin: Origin, session: requests.Session) -> None:
    origin.route("/oic", Reply(200, [("Cache-Control", "max-age=10"), ("Date", http_date(-100))], b"oic"))
    session.get(origin.url("/oic"))
    r = session.get(origin.url("/oic"), headers={"Cache-Control": "only-if-cached"})
    assert r.status_code == 504
    assert origin.count("/oic") == 1


def test_pragma_no_cache_without_cache_control(origin: Origin, session: requests.Session) -> None:
    origin.route("/p", validating(b"p", MAX_AGE, etag='"p"'))
    url = origin.url("/p")
    session.get(url)
    r = session.get(url, headers={"Pragma": "no-cache"})
    assert r.content == b"p"
    assert origin.count("/p") == 2
    assert origin.last("/p").headers.get("if-none-match") == '"p"'
    # with Cache-Control present, Pragma is ignored (RFC 9111 §5.4)
    r = session.get(url, headers={"Pragma": "no-cache", "Cache-Control": "max-stale=0"})
    assert from_cache(r) is True
    assert origin.count("/p") == 2


# ---------------------------------------------------------------------------
# §5.2.2 Response directives


@pytest.mark.parametrize("cc", ["no-cache", "no-cache, max-age=60"])
def test_response_no_cache_is_stored_and_always_revalidated(origin: Origin, session: requests.Session, cc: str) -> None:
    origin.route("/rnc", validating(b"revalidate me", [("Cache-Control", cc)], etag='"n"'))
    url = origin.url("/rnc")
    session.get(url)
    for i in range(2):
        r = session.get(url)
        assert r.status_code == 200 and r.content == b"revalidate me"
        assert origin.count("/rnc") == 2 + i
        assert origin.last("/rnc").headers.get("if-none-match") == '"n"'  # stored: the request is conditional


def test_must_revalidate_forbids_max_stale(origin: Origin, session: requests.Session) -> None:
    origin.route("/mr", Reply(200, [("Cache-Control", "max-age=10, must-revalidate"), ("Date", http_date(-40))], b"mr"))
    url = origin.url("/mr")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": "max-stale=1000"})
    assert from_cache(r) is False
    assert origin.count("/mr") == 2


def test_must_revalidate_fresh_is_served(origin: Origin, session: requests.Session) -> None:
    origin.route("/mr", Reply(200, [("Cache-Control", "max-age=60, must-revalidate")], b"mr"))
    _, second = get_twice(session, origin.url("/mr"))
    assert from_cache(second) is True
    assert origin.count("/mr") == 1


@pytest.mark.parametrize(
    ("immutable", "served_from_cache"), [(True, True), (False, False)], ids=["immutable", "mutable"]
)
def test_immutable_skips_revalidation_on_reload(
    origin: Origin, session: requests.Session, immutable: bool, served_from_cache: bool
) -> None:
    cc = "max-age=600, immutable" if immutable else "max-age=600"
    origin.route("/imm", validating(b"imm", [("Cache-Control", cc), ("Date", http_date(-5))], etag='"i"'))
    url = origin.url("/imm")
    session.get(url)
    r = session.get(url, headers={"Cache-Control": "max-age=0"})
    assert r.status_code == 200 and r.content == b"imm"
    if served_from_cache:
        assert from_cache(r) is True
        assert origin.count("/imm") == 1
    else:  # revalidated (the body still comes from the cache after the 304)
        assert origin.count("/imm") == 2
        assert origin.last("/imm").headers.get("if-none-match") == '"i"'


def test_immutable_stale_goes_to_origin(origin: Origin, session: requests.Session) -> None:
    origin.route("/imm", Reply(200, [("Cache-Control", "max-age=10, immutable"), ("Date", http_date(-100))], b"i"))
    _, second = get_twice(session, origin.url("/imm"))
    assert from_cache(second) is False
    assert origin.count("/imm") == 2


# ---------------------------------------------------------------------------
# RFC 5861 stale-if-error


def _stale_then_error(origin: Origin, window: int, age: int) -> str:
    """Store a response stale by about ``age - 1`` s with a stale-if-error ``window``; then fail."""
    cc = f"max-age=1, stale-if-error={window}"
    calls = {"n": 0}

    def handler(seen: Seen) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(200, [("Cache-Control", cc), ("Date", http_date(-age))], b"last good")
        return Reply(500, [], b"origin broke")

    origin.route("/sie", handler)
    return origin.url("/sie")


def test_stale_if_error_serves_stale_on_500(origin: Origin, session: requests.Session) -> None:
    url = _stale_then_error(origin, window=100, age=10)
    session.get(url)
    r = session.get(url)
    assert r.status_code == 200 and r.content == b"last good"
    assert from_cache(r) is True
    assert origin.count("/sie") == 2


def test_stale_if_error_outside_window_passes_500_through(origin: Origin, session: requests.Session) -> None:
    url = _stale_then_error(origin, window=5, age=100)
    session.get(url)
    r = session.get(url)
    assert r.status_code == 500 and r.content == b"origin broke"
    assert from_cache(r) is False
    assert origin.count("/sie") == 2


@pytest.mark.parametrize(("age", "served"), [(10, True), (100, False)])
def test_stale_if_error_on_connection_refused(session: requests.Session, age: int, served: bool) -> None:
    with Origin() as gone:
        gone.route("/sie", Reply(200, [("Cache-Control", "max-age=1, stale-if-error=30"), ("Date", http_date(-age))]))
        url = gone.url("/sie")
        session.get(url)
        assert gone.count("/sie") == 1
    session.close()  # drop the pooled connection: the next request must connect
    if served:
        r = session.get(url, timeout=2)
        assert r.status_code == 200 and from_cache(r) is True
    else:
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=2)
    assert gone.count("/sie") == 1


# ---------------------------------------------------------------------------
# §3.3 / §3.4 partial content


def test_range_served_from_stored_complete_response_rfc9111_3_4(origin: Origin, session: requests.Session) -> None:
    origin.route("/full", Reply(200, MAX_AGE, b"0123456789"))
    url = origin.url("/full")
    assert session.get(url).content == b"0123456789"
    part = session.get(url, headers={"Range": "bytes=2-4"})
    assert part.status_code == 206
    assert part.content == b"234"
    assert part.headers["Content-Range"] == "bytes 2-4/10"
    assert part.headers["Content-Length"] == "3"
    assert from_cache(part) is True
    assert origin.count("/full") == 1
    # beyond the end: unsatisfiable from the cache, the origin answers
    session.get(url, headers={"Range": "bytes=50-"})
    assert origin.count("/full") == 2
    # several ranges are not served from the cache
    session.get(url, headers={"Range": "bytes=0-1,3-4"})
    assert origin.count("/full") == 3


def test_stored_206_serves_ranges_it_holds_rfc9111_3_4(origin: Origin, session: requests.Session) -> None:
    origin.route("/part", Reply(206, [*MAX_AGE, ("Content-Range", "bytes 5-9/10")], b"56789"))
    url = origin.url("/part")
    first = session.get(url, headers={"Range": "bytes=-5"})
    assert (first.status_code, first.content, from_cache(first)) == (206, b"56789", False)
    again = session.get(url, headers={"Range": "bytes=6-8"})
    assert (again.status_code, again.content, from_cache(again)) == (206, b"678", True)
    assert again.headers["Content-Range"] == "bytes 6-8/10"
    assert origin.count("/part") == 1
    # a range it does not hold goes to the origin
    session.get(url, headers={"Range": "bytes=0-2"})
    assert origin.count("/part") == 2
    # a plain GET is never answered with the stored 206
    origin.route("/part", Reply(200, MAX_AGE, b"0123456789"))
    whole = session.get(url)
    assert (whole.status_code, whole.content, from_cache(whole)) == (200, b"0123456789", False)
    assert origin.count("/part") == 3


def test_unsafe_method_invalidates_stored_partial_content_rfc9111_4_4(
    origin: Origin, session: requests.Session
) -> None:
    origin.route("/p", Reply(206, [*MAX_AGE, ("Content-Range", "bytes 0-1/10")], b"01"))
    url = origin.url("/p")
    session.get(url, headers={"Range": "bytes=0-1"})
    assert from_cache(session.get(url, headers={"Range": "bytes=0-1"})) is True
    session.post(url, data=b"x")
    assert from_cache(session.get(url, headers={"Range": "bytes=0-1"})) is False


# ---------------------------------------------------------------------------
# RFC 5861 §3 stale-while-revalidate


def test_stale_while_revalidate_serves_stale_and_refreshes_once_rfc5861_3(
    origin: Origin, session: requests.Session
) -> None:
    version = {"n": 1}

    def handler(seen: Seen) -> Reply:
        body = b"version %d" % version["n"]
        # stale from the start (Date 10 s ago, max-age 1), within a 60 s window; slow origin
        return Reply(
            200, [("Cache-Control", "max-age=1, stale-while-revalidate=60"), ("Date", http_date(-10))], body, delay=0.3
        )

    origin.route("/swr", handler)
    url = origin.url("/swr")
    assert session.get(url).content == b"version 1"
    version["n"] = 2
    # five quick requests: all served the stale copy at once, one background refresh
    served = [session.get(url) for _ in range(5)]
    assert all(r.content == b"version 1" and from_cache(r) for r in served)
    assert wait_for(lambda: origin.count("/swr") == 2)
    adapter = session.get_adapter(url)
    assert isinstance(adapter, CacheControlAdapter)
    assert wait_for(lambda: adapter.controller.refresher.pending() == 0)
    assert origin.count("/swr") == 2  # never two refreshes of the same URL at once
    assert session.get(url).content == b"version 2"  # the refreshed response (stale again: refreshed again)


def test_stale_while_revalidate_not_beyond_its_window_rfc5861_3(origin: Origin, session: requests.Session) -> None:
    origin.route(
        "/swr-old", Reply(200, [("Cache-Control", "max-age=1, stale-while-revalidate=5"), ("Date", http_date(-60))])
    )
    url = origin.url("/swr-old")
    session.get(url)
    second = session.get(url)
    assert from_cache(second) is False
    assert origin.count("/swr-old") == 2


def test_post_response_with_content_location_answers_get_rfc9110_9_3_3(
    origin: Origin, session: requests.Session
) -> None:
    url = origin.url("/post")

    def handler(seen: Seen) -> Reply:
        if seen.method == "POST":
            return Reply(200, [("Cache-Control", "max-age=60"), ("Content-Location", "/post")], b"made")
        return Reply(200, [], b"from GET")

    origin.route("/post", handler)
    assert session.post(url, data=b"x").content == b"made"
    got = session.get(url)
    assert (got.content, from_cache(got)) == (b"made", True)
    assert origin.count("/post") == 1


@pytest.mark.parametrize(
    "headers",
    [
        [("Cache-Control", "max-age=60"), ("Content-Location", "/elsewhere")],
        [("Content-Location", "/post2")],
        [("Cache-Control", "max-age=60, no-store"), ("Content-Location", "/post2")],
    ],
)
def test_post_response_not_reused_without_its_conditions_rfc9110_9_3_3(
    origin: Origin, session: requests.Session, headers: list[tuple[str, str]]
) -> None:
    origin.route("/post2", Reply(200, headers, b"answer"))
    url = origin.url("/post2")
    session.post(url, data=b"x")
    assert from_cache(session.get(url)) is False
    assert origin.count("/post2") == 2


def test_no_304_to_unconditional_caller_when_entry_deleted_during_revalidation_rfc9111_4_3_4(
    origin: Origin, session: requests.Session, cache: DictCache
) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"d"':
            for key in list(cache.data):  # another thread/process deletes the entry meanwhile
                cache.delete(key)
            return Reply(304, [("ETag", '"d"')])
        return Reply(200, [("ETag", '"d"'), ("Cache-Control", "no-cache")], b"stored body")

    origin.route("/del", handler)
    url = origin.url("/del")
    assert session.get(url).content == b"stored body"
    again = session.get(url)
    assert origin.last("/del").headers.get("if-none-match") == '"d"'
    assert (again.status_code, again.content) == (200, b"stored body")
    assert origin.count("/del") == 2


def test_head_response_freshens_stored_get_rfc9111_4_3_5(origin: Origin, session: requests.Session) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            # the length of the body a GET would have (RFC 9110 §9.3.2)
            headers = [("ETag", '"h"'), ("Cache-Control", "max-age=600"), ("X-From", "head"), ("Content-Length", "4")]
            return Reply(200, headers)
        return Reply(200, [("ETag", '"h"'), ("Cache-Control", "max-age=1"), ("Date", http_date(-60))], b"body")

    origin.route("/hf", handler)
    url = origin.url("/hf")
    session.get(url)
    session.head(url, headers={"Cache-Control": "no-cache"})  # stored GET is stale: HEAD goes out
    got = session.get(url)
    assert (got.content, got.headers["X-From"], from_cache(got)) == (b"body", "head", True)
    assert origin.count("/hf") == 2  # one GET, one HEAD; the second GET was fresh again


def test_request_stale_if_error_rfc5861_4(origin: Origin, session: requests.Session) -> None:
    state = {"fail": False}

    def handler(seen: Seen) -> Reply:
        if state["fail"]:
            return Reply(503, [], b"down")
        return Reply(200, [("Cache-Control", "max-age=1"), ("Date", http_date(-30))], b"last good")

    origin.route("/rsie", handler)
    url = origin.url("/rsie")
    session.get(url)
    state["fail"] = True
    assert session.get(url).status_code == 503  # the response alone allows no stale use
    served = session.get(url, headers={"Cache-Control": "stale-if-error=300"})
    assert (served.status_code, served.content, from_cache(served)) == (200, b"last good", True)
    too_old = session.get(url, headers={"Cache-Control": "stale-if-error=5"})
    assert too_old.status_code == 503
    assert origin.count("/rsie") == 4


def test_304_adding_vary_selects_the_stored_response_by_it_rfc9111_4_1_4_3_4(
    origin: Origin, session: requests.Session
) -> None:
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"lang"':
            # the origin now says the response varies on Accept-Language, fresh for a minute
            return Reply(304, [("ETag", '"lang"'), ("Vary", "Accept-Language"), ("Cache-Control", "max-age=60")])
        return Reply(200, [("ETag", '"lang"'), ("Cache-Control", "no-cache")], b"in english")

    origin.route("/lang", handler)
    url = origin.url("/lang")
    session.get(url)  # stored without Vary
    english = session.get(url, headers={"Accept-Language": "en"})  # revalidated: 304 adds Vary
    assert (english.content, from_cache(english), origin.count("/lang")) == (b"in english", True, 2)
    again = session.get(url, headers={"Accept-Language": "en"})
    assert (from_cache(again), origin.count("/lang")) == (True, 2), "selected by its Vary for en"
    anonymous = session.get(url)  # no Accept-Language: the stored response was chosen for "en"
    assert origin.count("/lang") == 3, "a response selected for Accept-Language: en served to a request without"
    assert anonymous.content == b"in english"


def test_strong_etag_on_304_to_our_weak_if_none_match_one_request_each_rfc9110_13_1_2(
    origin: Origin, session: requests.Session
) -> None:
    # nginx with gzip: the 200 carries W/"6b13-5853f", the 304 answering it "6b13-5853f"
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match", "").lstrip("W/") == '"6b13-5853f"':  # weak comparison
            return Reply(304, [("ETag", '"6b13-5853f"'), ("Cache-Control", "no-cache")])
        return Reply(200, [("ETag", 'W/"6b13-5853f"'), ("Cache-Control", "no-cache")], b"gzipped page")

    origin.route("/gz", handler)
    url = origin.url("/gz")
    bodies = [session.get(url).content for _ in range(5)]
    assert bodies == [b"gzipped page"] * 5
    assert origin.count("/gz") == 5, "one request per revalidation, as plain requests makes"
    # the stored ETag stays the weak one of the gzipped body it describes (RFC 9111 §3.2)
    assert [r.headers.get("if-none-match") for r in origin.requests] == [None] + ['W/"6b13-5853f"'] * 4
    assert session.get(url).headers["ETag"] == 'W/"6b13-5853f"'


@pytest.mark.parametrize(
    ("age", "reused"),
    [
        pytest.param("0, 7200", True, id="5.1-list-first-member-counts"),
        pytest.param("abc", True, id="5.1-invalid-age-ignored"),
        pytest.param("7200", False, id="5.1-valid-age-older-than-max-age"),
    ],
)
def test_age_field_rfc9111_5_1(origin: Origin, session: requests.Session, age: str, reused: bool) -> None:
    origin.route("/age", Reply(200, [("Cache-Control", "max-age=3600"), ("Age", age)], b"aged"))
    url = origin.url("/age")
    session.get(url)
    again = session.get(url)
    assert (again.content, from_cache(again)) == (b"aged", reused)
    assert origin.count("/age") == (1 if reused else 2)


@pytest.mark.parametrize(
    ("zone", "reused"),
    [
        pytest.param("gMT", True, id="5.6.7-zone-in-another-case-accepted"),
        pytest.param("gmt", True, id="5.6.7-zone-lower-case-accepted"),
        pytest.param("UTC", False, id="5.6.7-utc-still-invalid"),
    ],
)
def test_expires_time_zone_case_rfc9110_5_6_7(
    origin: Origin, session: requests.Session, zone: str, reused: bool
) -> None:
    expires = http_date(3600).replace("GMT", zone)
    origin.route("/exp", Reply(200, [("Expires", expires)], b"expiring"))
    url = origin.url("/exp")
    session.get(url)
    again = session.get(url)
    assert (again.content, from_cache(again)) == (b"expiring", reused)
    assert origin.count("/exp") == (1 if reused else 2)

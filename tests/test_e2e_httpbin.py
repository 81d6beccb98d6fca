"""End to end against httpbin (PyPI) served by gunicorn (two workers, eight threads each).

``tests/_servers.py`` starts it on 127.0.0.1 with its own config and logs in a temp
dir; what reached the origin is counted from gunicorn's access log, whose lines
carry when each request finished and how long it took (to tell whether requests
overlapped). httpbin's endpoints: ``/cache`` answers any conditional with 304,
``/cache/{n}`` is ``public, max-age=n``, ``/etag/{etag}`` honours If-None-Match,
``/delay/{n}`` answers after n seconds with nothing that lets it be reused.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pytest
import requests
from _e2e_helpers import from_cache
from _servers import Hit, HttpbinServer, start_httpbin

from httpcache import CacheControl
from httpcache.caches import SQLiteCache

pytestmark = pytest.mark.e2e

CONCURRENT = 4
ALICE, BOB = ("alice", "wonderland"), ("bob", "builder")


@pytest.fixture(scope="module")
def httpbin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpbinServer]:
    with start_httpbin(tmp_path_factory.mktemp("httpbin")) as server:
        yield server


@pytest.fixture
def httpbin(httpbin_server: HttpbinServer) -> HttpbinServer:
    """The module's httpbin, its request counts starting at zero for this test."""
    httpbin_server.reset()
    return httpbin_server


def overlapped(hits: list[Hit]) -> bool:
    """Were all these requests in progress at the server at one moment?"""
    return max(h.start for h in hits) < min(h.end for h in hits)


# ---------------------------------------------------------------------------
# Validation and freshness


def test_cache_endpoint_revalidates_to_304(httpbin: HttpbinServer, session: requests.Session) -> None:
    url = httpbin.url("/cache")
    first = session.get(url)
    assert first.status_code == 200 and "ETag" in first.headers and "Last-Modified" in first.headers
    again = session.get(url, headers={"Cache-Control": "max-age=0"})
    assert again.status_code == 200 and from_cache(again) is True
    assert again.content == first.content, "the stored body, selected by the 304"
    lines = httpbin.log_lines("/cache")
    assert [(h.status, h.conditional) for h in lines] == [(200, False), (304, True)]


def test_cache_n_is_served_from_cache(httpbin: HttpbinServer, session: requests.Session) -> None:
    url = httpbin.url("/cache/60")
    responses = [session.get(url) for _ in range(4)]
    assert [from_cache(r) for r in responses] == [False, True, True, True]
    assert all(r.json() == responses[0].json() for r in responses)
    assert responses[0].headers["Cache-Control"] == "public, max-age=60"
    assert httpbin.hits("/cache/60") == 1


def test_cache_0_is_fetched_every_time(httpbin: HttpbinServer, session: requests.Session) -> None:
    responses = [session.get(httpbin.url("/cache/0")) for _ in range(3)]
    assert not any(from_cache(r) for r in responses)
    assert httpbin.hits("/cache/0", status=200) == 3


def test_etag_endpoint_revalidates_each_time(httpbin: HttpbinServer, session: requests.Session) -> None:
    url = httpbin.url("/etag/abc123")
    first = session.get(url)
    assert first.headers["ETag"] == "abc123"  # httpbin's ETag is unquoted
    again = [session.get(url) for _ in range(2)]
    assert all(r.status_code == 200 and from_cache(r) and r.content == first.content for r in again)
    lines = httpbin.log_lines("/etag/abc123")
    assert [h.status for h in lines] == [200, 304, 304]
    assert all(h.headers.get("if-none-match") == "abc123" for h in lines[1:])


def test_callers_own_conditional_gets_the_304(httpbin: HttpbinServer, session: requests.Session) -> None:
    url = httpbin.url("/etag/mine")
    session.get(url)
    mine = session.get(url, headers={"If-None-Match": "mine"})
    assert mine.status_code == 304, "a caller who sent a conditional may be handed the 304"
    other = session.get(url, headers={"If-None-Match": "not-it"})
    assert other.status_code == 200 and other.json()["url"] == url
    assert httpbin.statuses("/etag/mine")[0] == 200


# ---------------------------------------------------------------------------
# Issue #10 item 2: requests that cannot be reused must not be serialised


def concurrently(session: requests.Session, url: str) -> tuple[list[int], float]:
    """``CONCURRENT`` threads of ``session`` GET ``url`` at once: their statuses, the wall time."""
    barrier = threading.Barrier(CONCURRENT)

    def fetch(_: int) -> int:
        barrier.wait()
        return session.get(url, timeout=30).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(fetch, range(CONCURRENT)))
    return statuses, time.monotonic() - started


def test_unknown_uncacheable_url_costs_the_waiters_one_response_at_most(
    httpbin: HttpbinServer, session: requests.Session
) -> None:
    """A URL never seen: the others wait for the first one's status and fields, which say
    "not storable", and then all go ahead at once, together (never one after another)."""
    statuses, wall = concurrently(session, httpbin.url("/delay/1"))
    assert statuses == [200] * CONCURRENT
    lines = sorted(httpbin.log_lines("/delay/1"), key=lambda h: h.start)
    assert len(lines) == CONCURRENT
    assert overlapped(lines[1:]), f"the waiters were served one after another: {[(h.start, h.end) for h in lines]}"
    assert wall < 2.8, f"{CONCURRENT} concurrent 1 s requests took {wall:.1f} s"


def test_known_uncacheable_url_runs_concurrently_in_threads(httpbin: HttpbinServer, session: requests.Session) -> None:
    """Once the URL has answered with nothing reusable, concurrent callers do not wait for each other."""
    url = httpbin.url("/delay/1")
    assert session.get(url, timeout=30).status_code == 200
    httpbin.reset()
    statuses, wall = concurrently(session, url)
    assert statuses == [200] * CONCURRENT
    lines = httpbin.log_lines("/delay/1")
    assert len(lines) == CONCURRENT
    assert overlapped(lines), f"the origin served them one after another: {[(h.start, h.end) for h in lines]}"
    assert wall < 1.8, f"{CONCURRENT} concurrent 1 s requests took {wall:.1f} s"


def fetch_timed(db: str, url: str, start: float) -> tuple[float, int]:
    """In a fresh process sharing ``db``: at wall-clock ``start``, GET ``url``; (seconds taken, status)."""
    sess = requests.Session()
    sess.trust_env = False
    store = SQLiteCache(db)
    CacheControl(sess, cache=store)
    time.sleep(max(0.0, start - time.time()))
    began = time.monotonic()
    status = sess.get(url, timeout=30).status_code
    taken = time.monotonic() - began
    sess.close()
    store.close()
    return taken, status


def in_processes(db: str, url: str) -> list[float]:
    """``CONCURRENT`` processes sharing the SQLite file ``db`` GET ``url`` at once: the
    seconds each took."""
    with ProcessPoolExecutor(CONCURRENT, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(time.sleep, [0.0] * CONCURRENT * 2))  # interpreters up before the clock starts
        start = time.time() + 1.0
        results = [f.result(timeout=60) for f in [pool.submit(fetch_timed, db, url, start) for _ in range(CONCURRENT)]]
    assert [status for _, status in results] == [200] * CONCURRENT
    return sorted(round(t, 1) for t, _ in results)


def test_uncacheable_url_is_not_serialised_by_processes_sharing_a_store(httpbin: HttpbinServer, tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    SQLiteCache(db).close()  # created once, before the processes race to
    url = httpbin.url("/delay/1")
    # never seen: the others wait for the first one's answer ("not storable"), then go together
    taken = in_processes(db, url)
    lines = sorted(httpbin.log_lines("/delay/1"), key=lambda h: h.start)
    assert len(lines) == CONCURRENT
    assert overlapped(lines[1:]), f"the waiters were served one after another; each process took {taken} s"
    assert max(taken) < 2.8, f"each process took {taken} s: one shared SQLiteCache serialised them"
    # now known as not storable (a marker in the shared store): nobody waits at all
    httpbin.reset()
    taken = in_processes(db, url)
    lines = httpbin.log_lines("/delay/1")
    assert len(lines) == CONCURRENT
    assert overlapped(lines), f"the origin served them one after another; each process took {taken} s"
    assert max(taken) < 1.8, f"each process took {taken} s, for a 1 s endpoint known not to be storable"


# ---------------------------------------------------------------------------
# Issue #10 item 3: a caller's timeout bounds its wait behind another caller's fetch


def test_timeout_bounds_the_wait_behind_another_callers_fetch(
    httpbin: HttpbinServer, session: requests.Session
) -> None:
    url = httpbin.url("/delay/3")
    leader: dict[str, object] = {}

    def lead() -> None:
        try:
            leader["status"] = session.get(url, timeout=30).status_code
        except requests.RequestException as exc:
            leader["error"] = exc

    thread = threading.Thread(target=lead)
    thread.start()
    time.sleep(0.3)  # the leader's request is on its way: the next caller of the URL may wait for it
    started = time.monotonic()
    error: Optional[BaseException] = None
    try:
        session.get(url, timeout=(1, 1))
    except requests.exceptions.Timeout as exc:
        error = exc
    waited = time.monotonic() - started
    thread.join(30)
    assert leader == {"status": 200}
    assert error is not None, f"a 3 s response came back within timeout=(1, 1) after {waited:.1f} s"
    assert waited < 2.5, f"timeout=(1, 1) raised after {waited:.1f} s: it waited for the other caller's fetch"


# ---------------------------------------------------------------------------
# Redirects, cookies


def test_redirects_are_followed_and_not_stored(httpbin: HttpbinServer, session: requests.Session) -> None:
    chain = ["/redirect/3", "/relative-redirect/2", "/relative-redirect/1", "/get"]
    for _ in range(2):
        r = session.get(httpbin.url("/redirect/3"))
        assert r.status_code == 200 and r.json()["url"] == httpbin.url("/get")
        assert [h.status_code for h in r.history] == [302, 302, 302]
        assert not any(from_cache(h) for h in r.history)
    assert [httpbin.hits(p) for p in chain] == [2, 2, 2, 2], "302 without freshness, /get without a validator"


def test_redirect_to_a_cacheable_target(httpbin: HttpbinServer, session: requests.Session) -> None:
    for expected_hit in (False, True):
        r = session.get(httpbin.url("/redirect-to"), params={"url": "/cache/60"})
        assert r.status_code == 200 and r.json()["url"] == httpbin.url("/cache/60")
        assert from_cache(r) is expected_hit
    assert httpbin.hits("/redirect-to") == 2 and httpbin.hits("/cache/60") == 1


def test_cookies_are_set_on_the_session(httpbin: HttpbinServer, session: requests.Session) -> None:
    r = session.get(httpbin.url("/cookies/set"), params={"flavour": "oat"})
    assert r.json() == {"cookies": {"flavour": "oat"}} and session.cookies.get("flavour") == "oat"
    r = session.get(httpbin.url("/cookies/set"), params={"flavour": "rye"})
    assert r.json() == {"cookies": {"flavour": "rye"}} and session.cookies.get("flavour") == "rye"
    r = session.get(httpbin.url("/cookies/delete"), params={"flavour": ""})
    assert r.json() == {"cookies": {}} and "flavour" not in session.cookies
    assert httpbin.hits("/cookies") == 3, "the cookie echo has no freshness: never reused"
    assert [h.headers.get("cookie") for h in httpbin.log_lines("/cookies")] == ["flavour=oat", "flavour=rye", None]


def test_cacheable_response_with_set_cookie_sets_the_cookie(httpbin: HttpbinServer, session: requests.Session) -> None:
    url = httpbin.url("/response-headers")
    params = {"Cache-Control": "max-age=60", "Set-Cookie": "token=abc; Path=/"}
    first = session.get(url, params=params)
    assert first.status_code == 200 and session.cookies.get("token") == "abc"
    second = session.get(url, params=params)
    assert second.content == first.content and session.cookies.get("token") == "abc"
    echo = session.get(httpbin.url("/cookies"))
    assert echo.json() == {"cookies": {"token": "abc"}}
    assert httpbin.hits("/response-headers") == (1 if from_cache(second) else 2)


# ---------------------------------------------------------------------------
# Credentials never cross (private cache: Authorization acts as an implicit Vary)


def test_basic_auth_response_never_reaches_another_user(httpbin: HttpbinServer, session: requests.Session) -> None:
    url = httpbin.url("/basic-auth/alice/wonderland")
    seen = [
        (session.get(url).status_code, None),
        (session.get(url, auth=ALICE).status_code, "alice"),
        (session.get(url).status_code, None),
        (session.get(url, auth=BOB).status_code, "bob"),
        (session.get(url, auth=ALICE).status_code, "alice"),
    ]
    assert [status for status, _ in seen] == [401, 200, 401, 401, 200]
    assert httpbin.statuses("/basic-auth/alice/wonderland") == [401, 200, 401, 401, 200]


def test_cacheable_authorized_response_is_not_served_to_others(
    httpbin: HttpbinServer, session: requests.Session
) -> None:
    url = httpbin.url("/cache/60")  # public, max-age=60; the body echoes the request's headers

    def authorization_seen(auth: Optional[tuple[str, str]]) -> Optional[str]:
        r = session.get(url, auth=auth)
        assert r.status_code == 200
        value = r.json()["headers"].get("Authorization")
        return None if value is None else str(value)

    alice = authorization_seen(ALICE)
    assert alice is not None and alice.startswith("Basic ")
    assert authorization_seen(None) is None, "alice's response served to an anonymous caller"
    bob = authorization_seen(BOB)
    assert bob is not None and bob != alice, "alice's response served to bob"
    assert authorization_seen(ALICE) == alice
    assert authorization_seen(None) is None
    logged = [h.headers.get("authorization") for h in httpbin.log_lines("/cache/60")]
    assert logged[:3] == [alice, None, bob], "each caller's first request reached the origin"


# ---------------------------------------------------------------------------
# Status codes


@pytest.mark.parametrize("code", [404, 500, 503])
def test_error_status_is_not_reused(httpbin: HttpbinServer, session: requests.Session, code: int) -> None:
    responses = [session.get(httpbin.url(f"/status/{code}")) for _ in range(3)]
    assert [r.status_code for r in responses] == [code] * 3
    assert not any(from_cache(r) for r in responses)
    assert httpbin.statuses(f"/status/{code}") == [code] * 3


@pytest.mark.parametrize("code", [302, 303, 307])
def test_temporary_redirect_without_freshness_is_not_reused(
    httpbin: HttpbinServer, session: requests.Session, code: int
) -> None:
    responses = [session.get(httpbin.url(f"/status/{code}"), allow_redirects=False) for _ in range(2)]
    assert [r.status_code for r in responses] == [code, code]
    assert not any(from_cache(r) for r in responses)
    assert httpbin.hits(f"/status/{code}") == 2


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_without_freshness_gets_a_heuristic_lifetime(
    httpbin: HttpbinServer, session: requests.Session, code: int
) -> None:
    """301 and 308 are heuristically cacheable (RFC 9110 §15.4.2, §15.4.9); without a
    Last-Modified httpcache gives them ``permanent_redirect_lifetime`` (default one hour)."""
    responses = [session.get(httpbin.url(f"/status/{code}"), allow_redirects=False) for _ in range(3)]
    assert [r.status_code for r in responses] == [code] * 3
    assert [from_cache(r) for r in responses] == [False, True, True]
    assert httpbin.hits(f"/status/{code}") == 1


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_lifetime_0_is_not_reused(httpbin: HttpbinServer, code: int) -> None:
    sess = requests.Session()
    sess.trust_env = False
    with CacheControl(sess, permanent_redirect_lifetime=0) as cached:
        responses = [cached.get(httpbin.url(f"/status/{code}"), allow_redirects=False) for _ in range(2)]
    assert [r.status_code for r in responses] == [code, code]
    assert not any(from_cache(r) for r in responses)
    assert httpbin.hits(f"/status/{code}") == 2


def test_redirect_301_to_cacheable_target(httpbin: HttpbinServer, session: requests.Session) -> None:
    params = {"url": "/cache/60", "status_code": "301"}
    for hit in (False, True):
        r = session.get(httpbin.url("/redirect-to"), params=params)
        assert r.status_code == 200 and r.json()["url"] == httpbin.url("/cache/60")
        assert [h.status_code for h in r.history] == [301]
        assert from_cache(r.history[0]) is hit and from_cache(r) is hit
    assert httpbin.hits("/redirect-to") == 1 and httpbin.hits("/cache/60") == 1

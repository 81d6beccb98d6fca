"""Request coalescing: concurrent misses for one URL in one process make one origin
request (counted at the origin); the others are served what it stored."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply, Seen

from httpcache import CacheControl

THREADS = 8


def _storm(session: requests.Session, url: str) -> list[requests.Response]:
    barrier = threading.Barrier(THREADS)

    def fetch(_: int) -> requests.Response:
        barrier.wait()
        return session.get(url, timeout=10)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fetch, range(THREADS)))


def test_cold_storm_makes_one_origin_request(origin: Origin, session: requests.Session) -> None:
    origin.route("/storm", Reply(200, [("Cache-Control", "max-age=60")], b"payload" * 100, delay=0.3))
    responses = _storm(session, origin.url("/storm"))
    assert all(r.status_code == 200 and r.content == b"payload" * 100 for r in responses)
    assert origin.count("/storm") == 1
    assert sum(from_cache(r) for r in responses) == THREADS - 1


def test_not_storable_response_lets_every_waiter_send_its_own(origin: Origin, session: requests.Session) -> None:
    origin.route("/private-ish", Reply(200, [("Cache-Control", "no-store")], b"fresh every time", delay=0.2))
    responses = _storm(session, origin.url("/private-ish"))
    assert all(r.content == b"fresh every time" and not from_cache(r) for r in responses)
    assert origin.count("/private-ish") == THREADS


def test_coalescing_can_be_turned_off(origin: Origin) -> None:
    origin.route("/nocoal", Reply(200, [("Cache-Control", "max-age=60")], b"x", delay=0.3))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, coalesce_timeout=0)
    _storm(sess, origin.url("/nocoal"))
    assert origin.count("/nocoal") > 1
    sess.close()


def test_abandoned_leader_delays_others_only_up_to_the_bound(origin: Origin) -> None:
    origin.route("/abandon", Reply(200, [("Cache-Control", "max-age=60")], b"y" * 1000))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, coalesce_timeout=0.3)
    url = origin.url("/abandon")
    held = sess.get(url, stream=True)  # leader: its body is never read
    other = sess.get(url)  # waits at most 0.3 s, then sends its own request
    assert other.content == b"y" * 1000
    assert origin.count("/abandon") == 2
    third = sess.get(url)
    assert from_cache(third) is True
    held.close()
    sess.close()


def test_errors_reach_every_caller(session: requests.Session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/down"  # nothing listens there

    def fetch(_: int) -> str:
        try:
            session.get(url, timeout=5)
        except requests.ConnectionError:
            return "error"
        return "response"

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(fetch, range(THREADS)))
    assert outcomes == ["error"] * THREADS


@pytest.mark.parametrize("value", [-1.0])
def test_negative_coalesce_timeout_is_a_caller_mistake(value: float) -> None:
    with pytest.raises(ValueError):
        CacheControl(requests.Session(), coalesce_timeout=value)


class InFlight:
    """A slow handler that records how many of its requests the origin had at once."""

    def __init__(self, reply: Reply, seconds: float) -> None:
        self.reply, self.seconds = reply, seconds
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            threading.Event().wait(self.seconds)
        finally:
            with self._lock:
                self.now -= 1
        return self.reply


def test_not_storable_url_is_not_queued_behind_itself_hit_for_pass(origin: Origin, session: requests.Session) -> None:
    slow = InFlight(Reply(200, [("Content-Type", "application/json")], b"{}"), 1.0)  # no freshness, no validator
    origin.route("/poll", slow)
    url = origin.url("/poll")
    assert session.get(url).content == b"{}"  # answered "not storable": misses go straight through
    responses = _storm(session, url)
    assert all(r.content == b"{}" and not from_cache(r) for r in responses)
    assert origin.count("/poll") == THREADS + 1
    assert slow.most == THREADS, "every caller's request was at the origin at once, as without a cache"


def test_waiters_go_ahead_as_soon_as_the_leader_knows_it_will_not_store(origin: Origin) -> None:
    # a URL never seen before: the others wait for the leader's status and fields, which
    # say "no-store"; then they all go ahead at once, together (not one after another)
    slow = InFlight(Reply(200, [("Cache-Control", "no-store")], b"body"), 0.6)
    origin.route("/ns", slow)
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, coalesce_timeout=30)
    responses = _storm(sess, origin.url("/ns"))
    assert all(r.content == b"body" for r in responses)
    assert origin.count("/ns") == THREADS
    # the leader alone went first; the others, told at once, went together (one after
    # another they would never overlap; a loaded machine may start a few late)
    assert slow.most >= THREADS // 2
    sess.close()


def test_url_coalesces_again_once_it_answers_storable(origin: Origin, session: requests.Session) -> None:
    state = {"storable": False}

    def handler(seen: Seen) -> Reply:
        threading.Event().wait(0.3)
        return Reply(200, [("Cache-Control", "max-age=60" if state["storable"] else "no-store")], b"v")

    origin.route("/flip", handler)
    url = origin.url("/flip")
    session.get(url)  # not storable: the URL is "pass" for a while
    state["storable"] = True
    session.get(url, headers={"Cache-Control": "no-cache"})  # a storable answer ends "pass" (and is stored)
    responses = _storm(session, url)
    assert all(from_cache(r) for r in responses)
    assert origin.count("/flip") == 2


def test_a_waiter_keeps_to_its_own_timeout(origin: Origin, session: requests.Session) -> None:
    origin.route("/slowfetch", Reply(200, [("Cache-Control", "max-age=60")], b"late", delay=3.0))
    url = origin.url("/slowfetch")
    leader = threading.Thread(target=lambda: session.get(url, timeout=10))
    leader.start()
    try:
        time.sleep(0.2)  # the leader's request is on its way
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout):
            session.get(url, timeout=(0.3, 0.3))
        waited = time.monotonic() - started
        assert waited < 2.0, f"waited {waited:.1f} s behind another caller's 3 s fetch with a 0.6 s timeout"
    finally:
        leader.join()
    assert origin.count("/slowfetch") == 1  # it timed out waiting, as its own request would have


def test_unread_streamed_response_never_blocks_its_url(origin: Origin) -> None:
    origin.route("/big", Reply(200, [("Cache-Control", "max-age=60")], b"z" * 300_000))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, coalesce_timeout=10)
    url = origin.url("/big")
    held = sess.get(url, stream=True)
    next(held.iter_content(1024))  # one chunk read, not closed
    started = time.monotonic()
    same_thread = sess.get(url)  # nobody can ever read ``held`` while this waits
    assert time.monotonic() - started < 5.0, "a same-thread request waited on an unread streamed response"
    assert same_thread.content == b"z" * 300_000
    assert origin.count("/big") == 2
    held.close()
    sess.close()

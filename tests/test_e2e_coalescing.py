"""Request coalescing: concurrent misses for one URL in one process make one origin
request (counted at the origin); the others are served what it stored."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply

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

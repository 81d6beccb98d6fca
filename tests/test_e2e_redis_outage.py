"""End-to-end: a Redis outage in the middle of a run is invisible to callers.

The issue's requirement: "Fail open: any store error on read is a miss, on write
a skipped write, logged once with a rate limit; a short client timeout and a
circuit breaker make a dead store cost microseconds per request, not a timeout
per request; requests still reach the origin. Killing Redis in the middle of a
run must not raise a single exception to a caller."

Everything here is a real process or socket: a private ``redis-server`` on a free
port of 127.0.0.1 (no persistence, its own directory; the shared Redis on 6379 is
never touched), the stdlib origin of ``origin.py``, and a ``requests`` session
shared by eight threads. Redis is SIGKILLed (or SIGSTOPped: a hung server, where
only the client timeout and the breaker stand between a caller and a stall) while
the threads run; every exception in every thread is collected, every body checked
against its URL, and the origin's request counts show what really reached it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import pytest
import requests
from _e2e_helpers import from_cache, wait_for
from origin import Origin, Reply, Seen

from httpcache import CacheControl
from httpcache.caches import RedisCache

pytestmark = pytest.mark.e2e

THREADS = 8
FIXED = [f"/fixed/{i}" for i in range(12)]  # cacheable for an hour: hits while Redis is up
UNIQUE = "/unique"  # cacheable, but a new query string each time: a miss and a 128 KB SET each
NO_STORE = [f"/no-store/{i}" for i in range(3)]  # never stored: always the origin
OUTAGE = 2.0  # seconds Redis stays down while the threads run
LARGE = 3 * 1024 * 1024
PIECE = 64 * 1024


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under ``CI=true`` (the house rule of ``stores_contract.redis_url``)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A private ``redis-server`` in a subprocess, which a test can kill, freeze and restart."""

    def __init__(self, binary: str, workdir: Path) -> None:
        import redis

        self._redis: Any = redis
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        """A client of our own, for looking at what the store wrote."""
        return self._redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2.0, socket_connect_timeout=2.0)

    def start(self) -> None:
        """Start redis-server on ``self.port`` (the same port on a restart) and wait until it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, "redis-server is already running"
        with open(self.workdir / "redis.log", "ab") as out:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.workdir),
                    "--daemonize", "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 10.0
        while True:
            if self.proc.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{log}")
            client = self.client()
            try:
                if client.ping():
                    return
            except self._redis.exceptions.ConnectionError:
                pass
            finally:
                client.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING within 10 s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown, sockets reset by the kernel."""
        assert self.proc is not None and self.proc.poll() is None, "redis-server is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: the server still accepts connections (the kernel does) but never answers."""
        assert self.proc is not None and self.proc.poll() is None, "redis-server is not running"
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5.0
        while self._state() != "T":  # wait until it really is stopped
            assert time.monotonic() < deadline, "redis-server did not stop on SIGSTOP"
            time.sleep(0.005)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def _state(self) -> str:
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0]

    def stop(self) -> None:
        """Make sure no process is left behind, whatever state it is in (SIGKILL ends a stopped one too)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server on a free port, killed at the end of the test whatever happened."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server not found on PATH (install redis-server, e.g. apt-get install redis-server)")
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable("the redis package is not installed (pip install httpcache[redis])")
    server = RedisServer(binary, tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def body_for(path: str) -> bytes:
    """The one right body for ``path`` (query string included): a reader can tell any two apart."""
    size = 128 * 1024 if path.startswith(UNIQUE) else 500 + int(hashlib.sha256(path.encode()).hexdigest()[:4], 16)
    seed = hashlib.sha256(path.encode()).digest()
    return (path.encode() + b"\n" + seed * (size // 32 + 1))[:size]


def serve(seen: Seen) -> Reply:
    path = seen.path
    if path.startswith(UNIQUE):
        headers = [("Cache-Control", "max-age=600")]
    elif path.startswith("/no-store/"):
        headers = [("Cache-Control", "no-store")]
    else:
        headers = [("Cache-Control", "max-age=3600")]
    return Reply(200, [*headers, ("Content-Type", "application/octet-stream")], body_for(path))


def cached_session(store: RedisCache) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, cache=store)


def large_body(tag: str) -> bytes:
    return b"".join(hashlib.sha256(f"{tag}-{i}".encode()).digest() for i in range(LARGE // 32))


@dataclass(frozen=True)
class Outcome:
    path: str
    start: float
    end: float
    from_cache: bool


class Hammer:
    """``THREADS`` threads sharing one session, each looping over the URLs until ``stop()``.

    Every exception and every wrong response is recorded in ``errors``; every good
    response in ``outcomes``."""

    def __init__(self, sess: requests.Session, origin: Origin) -> None:
        self.sess = sess
        self.origin = origin
        self.errors: list[str] = []
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(THREADS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def count(self, which: Callable[[Outcome], bool]) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if which(o))

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def _run(self, n: int) -> None:
        try:
            rng = random.Random(n)
            i = 0
            while not self._stop.is_set():
                i += 1
                draw = rng.random()
                if draw < 0.7:
                    path = rng.choice(FIXED)
                elif draw < 0.85:
                    path = f"{UNIQUE}?thread={n}&i={i}"
                else:
                    path = rng.choice(NO_STORE)
                self._one(path, stream=rng.random() < 0.5)
        except BaseException:  # noqa: BLE001 - recorded: the test asserts there is none
            self._error(f"thread {n} died:\n{traceback.format_exc()}")

    def _one(self, path: str, stream: bool) -> None:
        start = time.monotonic()
        try:
            with self.sess.get(self.origin.url(path), stream=stream, timeout=30) as resp:
                body = b"".join(resp.iter_content(16 * 1024)) if stream else resp.content
                status, cached = resp.status_code, from_cache(resp)
        except Exception:  # noqa: BLE001 - a caller-visible exception: recorded, asserted to be none
            self._error(f"GET {path} (stream={stream}) raised:\n{traceback.format_exc()}")
            return
        end = time.monotonic()
        if status != 200 or body != body_for(path):
            self._error(f"GET {path} (stream={stream}): status {status}, {len(body)} bytes, body wrong")
            return
        with self._lock:
            self.outcomes.append(Outcome(path, start, end, cached))


def httpcache_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and (r.name == "httpcache" or r.name.startswith("httpcache."))
    ]


@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_redis_outage_mid_run_is_invisible_to_callers(
    origin: Origin, redis_server: RedisServer, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    """8 threads, one session; Redis dies (``kill``: SIGKILL, then a fresh redis-server on the
    same port) or hangs (``freeze``: SIGSTOP, then SIGCONT) mid-run. Zero exceptions, every
    body right, the origin serves the outage, and caching comes back afterwards."""
    for path in [*FIXED, UNIQUE, *NO_STORE]:
        origin.route(path, serve)
    store = RedisCache(redis_server.url)  # the defaults: 0.25 s socket timeout, 1 s first cool-down
    sess = cached_session(store)
    hammer = Hammer(sess, origin)

    def origin_total() -> int:
        with origin._lock:
            return len(origin.requests)

    def fixed_hits() -> int:
        return hammer.count(lambda o: o.from_cache and o.path in FIXED)

    with caplog.at_level(logging.INFO, logger="httpcache"):
        hammer.start()
        try:
            # 1. Redis up: the cache works (else the rest would prove nothing)
            warmed = wait_for(lambda: fixed_hits() >= 100, 15.0)

            # 2. Redis down, the threads going on
            if outage == "kill":
                redis_server.kill()
            else:
                redis_server.freeze()
            at_down, t_down, wall_down = origin_total(), time.monotonic(), time.time()
            time.sleep(OUTAGE)
            t_up, wall_up = time.monotonic(), time.time()
            at_up = origin_total()
            if outage == "kill":
                redis_server.start()  # same port, empty (no persistence)
            else:
                redis_server.thaw()

            # 3. Redis back: the breaker closes, repeated URLs stop reaching the origin
            def caching_resumed() -> bool:
                counts = [origin.count(p) for p in FIXED]
                served = hammer.count(lambda o: o.path in FIXED)
                time.sleep(0.5)
                return (
                    hammer.count(lambda o: o.path in FIXED) - served >= 20
                    and [origin.count(p) for p in FIXED] == counts
                )

            resumed = wait_for(caching_resumed, 15.0)
            t_resumed = time.monotonic()
            # a little more traffic with the cache back: at least 20 repeated URLs started
            # after it (waited for, not slept for: on a loaded machine the threads run slowly)
            wait_for(lambda: hammer.count(lambda o: o.start > t_resumed and o.path in FIXED) >= 20, 10.0)
        finally:
            hammer.stop()
            sess.close()
            store.close()
        warnings = httpcache_warnings(caplog)
        false_recoveries = [
            r for r in caplog.records if "answers again" in r.getMessage() and wall_down <= r.created <= wall_up
        ]

    # zero caller-visible exceptions, every response the right one for its URL
    assert not [t for t in hammer.threads if t.is_alive()], "a thread did not finish"
    assert hammer.errors == [], f"{len(hammer.errors)} errors, the first ones:\n" + "\n".join(hammer.errors[:5])
    assert warmed, f"Redis never served 100 hits before the outage (only {fixed_hits()})"

    # during the outage: requests went on, all to the origin, none from the (dead) cache
    during = [o for o in hammer.outcomes if o.start > t_down and o.end < t_up]
    assert during, f"no request completed during a {OUTAGE} s outage"
    assert not [o for o in during if o.from_cache], "a response came from a Redis that was down"
    assert at_up - at_down >= len(during), (
        f"the origin got {at_up - at_down} requests during the outage, fewer than the {len(during)} answered"
    )

    # ... and quickly: a dead store costs less than one client timeout (0.25 s) per request on
    # average. With the breaker working, only the calls under way when Redis went down and one
    # probe per cool-down pay the timeout (``freeze``) or a refused connection (``kill``); the
    # rest skip Redis, and the mean is the origin round trip: 10-20 ms measured here, on 2 cores
    # with 8 threads. Without a breaker every ``freeze`` request pays a lookup timeout and most
    # a write timeout too (0.25-0.5 s). The bound sits between, loose on purpose (no tight
    # timing asserts): over 10x what a working build measures.
    mean = sum(o.end - o.start for o in during) / len(during)
    assert mean < 0.25, f"{len(during)} requests during the outage took {mean:.3f} s on average"
    assert len(during) >= 50, f"only {len(during)} requests completed during a {OUTAGE} s outage"
    # the breaker: connection failures at the start and per probe, not one per request
    assert store.skipped >= len(during) // 2, f"breaker skipped {store.skipped} calls for {len(during)} requests"
    assert 1 <= store.failures <= 2 * THREADS + 4, f"{store.failures} Redis failures: not a breaker's handful"

    # logging rate-limited: a handful of warnings for the whole outage, not one per request
    assert 1 <= len(warnings) <= 8, f"{len(warnings)} warnings: " + "; ".join(r.getMessage() for r in warnings[:10])
    # no flapping: nothing that went to Redis while it was down can have closed the breaker
    assert false_recoveries == [], f"the breaker closed {len(false_recoveries)} times while Redis was down"

    # caching came back once Redis did
    assert resumed, "repeated requests kept reaching the origin 15 s after Redis came back"
    assert not store.breaker_open
    assert hammer.count(lambda o: o.from_cache and o.start > t_up) > 0
    after = [o for o in hammer.outcomes if o.start > t_resumed and o.path in FIXED]
    assert after and all(o.from_cache for o in after), "a repeated URL missed the cache after caching resumed"
    client = redis_server.client()
    try:
        keys = client.keys("httpcache:*")
    finally:
        client.close()
    assert keys, "nothing in Redis after it came back"


def test_redis_killed_while_large_body_streams_from_origin(
    origin: Origin, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A 3 MB cacheable body read with ``stream=True``; Redis killed after the first pieces, so
    the store write at the end meets a dead Redis. The caller gets every byte; a later request
    (Redis restarted) is stored and served from it."""
    body = large_body("origin")
    origin.route("/large", Reply(200, [("Cache-Control", "max-age=3600")], body))
    store = RedisCache(redis_server.url)
    sess = cached_session(store)
    url = origin.url("/large")
    try:
        with caplog.at_level(logging.WARNING, logger="httpcache"):
            with sess.get(url, stream=True, timeout=30) as resp:
                pieces = resp.iter_content(PIECE)
                got = [next(pieces) for _ in range(4)]
                redis_server.kill()
                got.extend(pieces)
                first_cached = from_cache(resp)
            assert b"".join(got) == body
            assert first_cached is False
            assert origin.count("/large") == 1
            assert store.failures >= 1, "the store write did not meet the dead Redis: the kill came too late"

            # Redis still dead: served by the origin, whole
            again = sess.get(url, timeout=30)
            assert again.content == body and from_cache(again) is False
            assert origin.count("/large") == 2
            assert len(httpcache_warnings(caplog)) <= 2

            # Redis back (empty): once the breaker closes, the body is stored and served from Redis
            redis_server.start()

            def from_redis() -> bool:
                resp = sess.get(url, timeout=30)
                assert resp.content == body
                return from_cache(resp)

            assert wait_for(from_redis, 15.0), "the large body never came from Redis after it restarted"
    finally:
        sess.close()
        store.close()


def test_redis_killed_while_large_body_streams_from_redis(origin: Origin, redis_server: RedisServer) -> None:
    """A 3 MB body served from Redis with ``stream=True``; Redis killed between pieces."""
    body = large_body("cached")
    origin.route("/large", Reply(200, [("Cache-Control", "max-age=3600")], body))
    store = RedisCache(redis_server.url)
    sess = cached_session(store)
    url = origin.url("/large")
    try:
        assert sess.get(url, timeout=30).content == body
        client = redis_server.client()
        try:
            stored = [client.strlen(k) for k in client.keys("httpcache:*")]
        finally:
            client.close()
        assert max(stored, default=0) > LARGE, f"the body was not stored in Redis: {stored}"

        with sess.get(url, stream=True, timeout=30) as resp:
            pieces = resp.iter_content(PIECE)
            got = [next(pieces) for _ in range(4)]
            redis_server.kill()
            got.extend(pieces)
            cached = from_cache(resp)
        assert b"".join(got) == body
        assert cached is True
        assert origin.count("/large") == 1

        after = sess.get(url, timeout=30)  # Redis dead: a miss, the origin
        assert after.content == body and from_cache(after) is False
        assert origin.count("/large") == 2
    finally:
        sess.close()
        store.close()


def test_redis_killed_while_a_large_set_is_in_flight(origin: Origin, redis_server: RedisServer) -> None:
    """Redis frozen (SIGSTOP) while a 3 MB body streams, so that the store write at the end of
    the body hangs on it; then SIGKILLed under that write. The caller, whose read is what made the
    SET, gets the whole body and no exception.

    The store's socket timeout is 10 s here, so that the SET is still waiting when the kill
    comes (with 0.25 s it would time out on its own, which the freeze test covers)."""
    body = large_body("in-flight")
    origin.route("/large", Reply(200, [("Cache-Control", "max-age=3600")], body))
    store = RedisCache(redis_server.url, socket_timeout=10.0)
    sess = cached_session(store)
    url = origin.url("/large")
    received = [0]
    got: list[bytes] = []
    errors: list[str] = []
    cached: list[bool] = []
    first_piece, frozen, done = threading.Event(), threading.Event(), threading.Event()

    def caller() -> None:
        try:
            with sess.get(url, stream=True, timeout=30) as resp:
                for piece in resp.iter_content(PIECE):
                    got.append(piece)
                    received[0] += len(piece)
                    if not first_piece.is_set():
                        first_piece.set()  # the cache lookup is over: freeze Redis now
                        assert frozen.wait(10)
                cached.append(from_cache(resp))
        except BaseException:  # noqa: BLE001 - recorded: the test asserts there is none
            errors.append(traceback.format_exc())
        finally:
            done.set()

    thread = threading.Thread(target=caller, daemon=True)
    try:
        thread.start()
        assert first_piece.wait(10), "the caller got no first piece"
        redis_server.freeze()
        frozen.set()
        assert wait_for(lambda: received[0] >= LARGE - PIECE or done.is_set(), 15.0)
        time.sleep(0.5)  # the caller is at the end of the body: its store write hangs on the frozen Redis
        set_hung = not done.is_set()
        redis_server.kill()
        thread.join(timeout=15)
        finished = not thread.is_alive()
    finally:
        frozen.set()
        done.wait(15)
        sess.close()
        store.close()

    assert finished, "the caller still hangs after Redis was killed"
    assert errors == [], errors[0] if errors else ""
    assert b"".join(got) == body
    assert cached == [False]
    assert set_hung, "the caller finished while Redis was frozen: the SET was not in flight at the kill"
    assert store.failures >= 1
    assert origin.count("/large") == 1


def test_a_reply_from_before_the_kill_does_not_close_the_breaker(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The race the mid-run test turned up: a call whose reply was already in when Redis was
    killed returns after another call's failure opened the breaker. Its success says nothing
    about Redis now: the breaker must stay open (it used to close, reset its back-off, log
    "Redis answers again" and let every thread hit the dead Redis again)."""
    store = RedisCache(redis_server.url)
    real = store.client
    replied, resume = threading.Event(), threading.Event()

    class HeldReply:
        """The real client; ``get("httpcache:held")`` holds its (real) reply until ``resume``."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def get(self, name: str) -> Any:
            value = real.get(name)
            if name == "httpcache:held":
                replied.set()
                resume.wait(10)
            return value

    store.set("held", b"value")
    store.client = HeldReply()
    results: list[Optional[bytes]] = []
    thread = threading.Thread(target=lambda: results.append(store.get("held")), daemon=True)
    try:
        with caplog.at_level(logging.INFO, logger="httpcache"):
            thread.start()
            assert replied.wait(10)
            redis_server.kill()
            assert store.get("other") is None  # the dead Redis: the breaker opens
            assert (store.failures, store.breaker_open) == (1, True)
            resume.set()
            thread.join(10)
            assert results == [b"value"]  # the held call got its real reply ...
            assert store.breaker_open, "a reply from before the kill closed the breaker"  # ... which changes nothing
            skipped = store.skipped
            assert store.get("other") is None
            assert (store.failures, store.skipped) == (1, skipped + 1), "a call went to the dead Redis"
            assert not [r for r in caplog.records if "answers again" in r.getMessage()]
    finally:
        resume.set()
        thread.join(10)
        real.close()

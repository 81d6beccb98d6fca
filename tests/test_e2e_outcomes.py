"""What happened to a request (issue #13 items 1 and 3), end to end against the stdlib
origin: ``response.cache_info`` for every outcome, the opt-in RFC 9211 ``Cache-Status``
field, and the cache's counters (``controller.stats``) and listeners, under threads too.
Every test also checks what reached the origin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from _e2e_helpers import DeadStore, http_date, validating
from origin import Origin, Reply, Seen

from httpcache import OUTCOMES, CacheControl, CacheInfo, CacheStatsSnapshot, DictCache, HTTPCacheError
from httpcache.controller import CacheController

FRESH_60 = [("Cache-Control", "max-age=60")]


def info_of(resp: requests.Response) -> CacheInfo:
    info = vars(resp).get("cache_info")
    assert isinstance(info, CacheInfo), f"cache_info is {info!r}"
    assert info.from_cache == vars(resp)["from_cache"]
    return info


def controller_of(session: requests.Session) -> CacheController:
    adapter = session.get_adapter("http://127.0.0.1/")
    return adapter.controller  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def status_session() -> Iterator[requests.Session]:
    sess = requests.Session()
    sess.trust_env = False
    yield CacheControl(sess, cache_status="httpcache")
    sess.close()


def test_miss_stored_then_hit(origin: Origin, session: requests.Session) -> None:
    origin.route("/a", Reply(200, FRESH_60, b"hello"))
    before = time.time()
    first = session.get(origin.url("/a"))
    second = session.get(origin.url("/a"))
    assert origin.count("/a") == 1
    one, two = info_of(first), info_of(second)
    assert one.outcome == "miss_stored" and not one.from_cache and "§3" in one.reason
    assert one.stored_at is not None and before <= one.stored_at <= time.time()
    assert one.ttl is not None and 59 <= one.ttl <= 60
    assert two.outcome == "hit" and two.from_cache and second.from_cache  # type: ignore[attr-defined]
    assert two.reason == "fresh (RFC 9111 §4.2)"
    assert two.age is not None and 0 <= two.age < 5
    assert two.expires is not None and abs(two.expires - (one.stored_at + 60)) < 5
    assert two.key == one.key and origin.url("/a") in two.key
    assert not two.collapsed
    with pytest.raises(AttributeError):
        two.outcome = "miss"


def test_not_stored_says_why(origin: Origin, session: requests.Session) -> None:
    origin.route("/ns", Reply(200, [("Cache-Control", "no-store")], b"x"))
    infos = [info_of(session.get(origin.url("/ns"))) for _ in range(2)]
    assert origin.count("/ns") == 2
    assert [i.outcome for i in infos] == ["miss_not_stored", "miss_not_stored"]
    assert "no-store" in infos[0].reason and "§5.2.2.5" in infos[0].reason
    assert infos[0].ttl is None and infos[0].stored_at is None
    assert controller_of(session).stats.snapshot().not_stored == {infos[0].reason: 2}


def test_revalidated_and_refetched(origin: Origin, session: requests.Session) -> None:
    origin.route("/v", validating(b"v1", [("Cache-Control", "max-age=0")], etag='"1"'))
    session.get(origin.url("/v"))
    again = info_of(session.get(origin.url("/v")))
    assert origin.count("/v") == 2 and "if-none-match" in origin.last("/v").headers
    assert again.outcome == "revalidated" and again.from_cache and "§4.3.4" in again.reason
    origin.route("/v", Reply(200, [("Cache-Control", "max-age=0"), ("ETag", '"2"')], b"v2"))
    resp = session.get(origin.url("/v"))
    assert resp.content == b"v2" and origin.count("/v") == 3
    refetched = info_of(resp)
    assert refetched.outcome == "refetched" and not refetched.from_cache


def test_stale_allowed_by_the_request(origin: Origin, session: requests.Session) -> None:
    origin.route("/s", Reply(200, [("Cache-Control", "max-age=1"), ("Date", http_date(-100)), ("Age", "0")], b"s"))
    session.get(origin.url("/s"))
    resp = session.get(origin.url("/s"), headers={"Cache-Control": "max-stale=1000"})
    info = info_of(resp)
    assert origin.count("/s") == 1
    assert info.outcome == "stale" and info.from_cache and "max-stale" in info.reason
    assert info.ttl is not None and info.ttl < 0


def test_stale_on_error(origin: Origin, session: requests.Session) -> None:
    origin.route("/e", Reply(200, [("Cache-Control", "max-age=0, stale-if-error=600")], b"old"))
    session.get(origin.url("/e"))
    origin.route("/e", Reply(503, [], b"down"))
    resp = session.get(origin.url("/e"))
    assert resp.content == b"old" and origin.count("/e") == 2
    info = info_of(resp)
    assert info.outcome == "stale_on_error" and "RFC 5861" in info.reason


def test_bypassed_and_only_if_cached(origin: Origin, session: requests.Session) -> None:
    origin.route("/p", Reply(200, FRESH_60, b"p"))
    posted = info_of(session.post(origin.url("/p"), data=b"x"))
    assert posted.outcome == "bypassed" and "§4.4" in posted.reason and origin.count("/p") == 1
    conditional = info_of(session.get(origin.url("/p"), headers={"If-Match": '"x"'}))
    assert conditional.outcome == "bypassed" and "§13.1" in conditional.reason and origin.count("/p") == 2
    resp = session.get(origin.url("/nothing"), headers={"Cache-Control": "only-if-cached"})
    assert resp.status_code == 504 and origin.count("/nothing") == 0
    assert info_of(resp).outcome == "only_if_cached" and "§5.2.1.7" in info_of(resp).reason


def test_every_outcome_is_documented() -> None:
    assert set(OUTCOMES) == {
        "hit", "stale", "revalidated", "refetched", "stale_on_error",
        "miss_stored", "miss_not_stored", "bypassed", "only_if_cached",
    }  # fmt: skip


def test_cache_status_field(origin: Origin, status_session: requests.Session) -> None:
    origin.route("/cs", Reply(200, [*FRESH_60, ("Cache-Status", "upstream; hit")], b"c"))
    first = status_session.get(origin.url("/cs"))
    second = status_session.get(origin.url("/cs"))
    assert origin.count("/cs") == 1
    # RFC 9211 §2: the upstream member first, ours appended
    members = [m.strip() for m in first.headers["Cache-Status"].split(",")]
    assert members[0] == "upstream; hit"
    assert members[1].startswith("httpcache; fwd=uri-miss; ttl=") and "; stored; detail=" in members[1]
    ours = second.headers["Cache-Status"].split(", ")[-1]
    assert ours.startswith("httpcache; hit; ttl=") and 'detail="hit: fresh (RFC 9111 section 4.2)"' in ours
    origin.route("/ns", Reply(200, [("Cache-Control", "no-store")], b"n"))
    assert status_session.get(origin.url("/ns")).headers["Cache-Status"].startswith("httpcache; fwd=uri-miss; detail=")


def test_cache_status_off_by_default(origin: Origin, session: requests.Session) -> None:
    origin.route("/d", Reply(200, FRESH_60, b"d"))
    assert "Cache-Status" not in session.get(origin.url("/d")).headers
    assert "Cache-Status" not in session.get(origin.url("/d")).headers


@pytest.mark.parametrize("bad", ["", "1abc", "a b", "é"])
def test_cache_status_name_must_be_a_token(bad: str) -> None:
    with pytest.raises(HTTPCacheError, match="cache_status"):
        CacheControl(requests.Session(), cache_status=bad)


def test_counters_and_reset(origin: Origin, session: requests.Session) -> None:
    origin.route("/c", Reply(200, FRESH_60, b"12345"))
    origin.route("/n", Reply(200, [("Cache-Control", "no-store"), ("Content-Length", "3")], b"abc"))
    for _ in range(3):
        session.get(origin.url("/c"))
    session.get(origin.url("/n"))
    session.delete(origin.url("/c"))
    stats = controller_of(session).stats
    snap = stats.snapshot()
    assert isinstance(snap, CacheStatsSnapshot)
    assert (snap.requests, snap.misses_stored, snap.hits, snap.misses_not_stored, snap.bypassed) == (5, 1, 2, 1, 1)
    assert snap.bytes_from_cache == 10 and snap.bytes_fetched >= 5 + 3
    assert snap.invalidations == 1
    assert snap.hit_ratio == pytest.approx(2 / 5)
    assert snap.as_dict()["hits"] == 2
    held = stats.reset()
    assert held == snap
    assert stats.snapshot().requests == 0 and stats.snapshot().not_stored == {}
    session.get(origin.url("/c"))  # invalidated by the DELETE: fetched again
    assert stats.snapshot().misses_stored == 1 and origin.count("/c") == 3  # GET, DELETE, GET


def test_store_errors_counted_and_requests_still_answered(origin: Origin) -> None:
    origin.route("/x", Reply(200, FRESH_60, b"x"))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=DeadStore())
    for _ in range(3):
        assert sess.get(origin.url("/x")).content == b"x"
    assert origin.count("/x") == 3
    snap = controller_of(sess).stats.snapshot()
    assert snap.store_errors >= 3 and snap.requests == 3 and snap.hits == 0


def test_counters_under_eight_threads(origin: Origin, session: requests.Session) -> None:
    urls = [origin.url(f"/t{i}") for i in range(10)]
    for i, url in enumerate(urls):
        origin.route(f"/t{i}", Reply(200, FRESH_60, b"%03d" % i))
        session.get(url)
    stats = controller_of(session).stats
    stats.reset()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for j in range(100):
                assert session.get(urls[(n + j) % 10]).content == b"%03d" % ((n + j) % 10)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    snap = stats.snapshot()
    assert snap.requests == 800 and snap.hits == 800 and snap.bytes_from_cache == 800 * 3
    assert sum(origin.count(f"/t{i}") for i in range(10)) == 10


def test_listener_sees_each_outcome_until_unsubscribed(origin: Origin, session: requests.Session) -> None:
    origin.route("/l", Reply(200, FRESH_60, b"l"))
    seen: list[str] = []
    stats = controller_of(session).stats
    unsubscribe = stats.subscribe(lambda info: seen.append(info.outcome))
    session.get(origin.url("/l"))
    session.get(origin.url("/l"))
    unsubscribe()
    session.get(origin.url("/l"))
    assert seen == ["miss_stored", "hit"]


def test_a_failing_listener_never_breaks_a_request(
    origin: Origin, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    origin.route("/f", Reply(200, FRESH_60, b"f"))

    def broken(info: CacheInfo) -> None:
        raise RuntimeError("metrics backend down")

    controller_of(session).stats.subscribe(broken)
    with caplog.at_level("WARNING", logger="httpcache"):
        assert session.get(origin.url("/f")).content == b"f"
        assert session.get(origin.url("/f")).content == b"f"
    assert sum("listener raised" in r.getMessage() for r in caplog.records) == 1


def test_collapsed_requests_are_told(origin: Origin) -> None:
    release = threading.Event()

    def slow(seen: Seen) -> Reply:
        release.wait(2.0)
        return Reply(200, FRESH_60, b"slow")

    origin.route("/slow", slow)
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cache=DictCache())
    infos: list[CacheInfo] = []
    lock = threading.Lock()

    def get() -> None:
        resp = sess.get(origin.url("/slow"))
        with lock:
            infos.append(info_of(resp))

    threads = [threading.Thread(target=get) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # let the followers join the leader's flight (if late, they are plain hits)
    release.set()
    for t in threads:
        t.join(10)
    assert origin.count("/slow") == 1
    assert sorted(i.outcome for i in infos) == ["hit", "hit", "hit", "miss_stored"]
    collapsed = [i for i in infos if i.collapsed]
    assert collapsed and all(i.from_cache for i in collapsed)
    assert controller_of(sess).stats.snapshot().collapsed == len(collapsed)


def _member(resp: requests.Response) -> str:
    """Our (the last) member of the response's Cache-Status (RFC 9211 §2)."""
    return resp.headers["Cache-Status"].split(", ")[-1]


def test_cache_status_says_why_it_went_forward(origin: Origin, status_session: requests.Session) -> None:
    # a Vary variant of another request is stored: vary-miss (RFC 9211 §2.2)
    origin.route("/v", Reply(200, [*FRESH_60, ("Vary", "Accept-Language")], b"v"))
    status_session.get(origin.url("/v"), headers={"Accept-Language": "en"})
    other = status_session.get(origin.url("/v"), headers={"Accept-Language": "fr"})
    assert origin.count("/v") == 2 and _member(other).startswith("httpcache; fwd=vary-miss;")
    assert info_of(other).outcome == "miss_stored"
    # a fresh response the request asked to revalidate: request
    origin.route("/r", validating(b"r", FRESH_60, etag='"r"'))
    status_session.get(origin.url("/r"))
    again = status_session.get(origin.url("/r"), headers={"Cache-Control": "no-cache"})
    assert origin.count("/r") == 2 and _member(again).startswith("httpcache; fwd=request; fwd-status=304;")
    # a stale one: stale
    origin.route("/s", validating(b"s", [("Cache-Control", "max-age=0")], etag='"s"'))
    status_session.get(origin.url("/s"))
    assert _member(status_session.get(origin.url("/s"))).startswith("httpcache; fwd=stale; fwd-status=304;")
    # an unsafe method: method
    assert _member(status_session.put(origin.url("/s"), data=b"x")).startswith("httpcache; fwd=method;")
    # only-if-cached with nothing stored went nowhere: no fwd, no hit
    none = status_session.get(origin.url("/none"), headers={"Cache-Control": "only-if-cached"})
    assert none.status_code == 504 and origin.count("/none") == 0
    assert _member(none).startswith("httpcache; detail=")


def test_force_refresh_is_told_as_asked_by_the_request(origin: Origin, status_session: requests.Session) -> None:
    import httpcache

    origin.route("/f", Reply(200, FRESH_60, b"f"))
    status_session.get(origin.url("/f"))
    with httpcache.settings(mode="force-refresh"):
        resp = status_session.get(origin.url("/f"))
    assert origin.count("/f") == 2 and _member(resp).startswith("httpcache; fwd=request;")


def test_the_key_of_a_post_cached_by_its_body_is_its_own(origin: Origin) -> None:
    origin.route("/g", Reply(200, FRESH_60, b"{}"))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, cacheable_methods=("GET", "HEAD", "POST"))
    one = info_of(sess.post(origin.url("/g"), json={"q": 1}))
    two = info_of(sess.post(origin.url("/g"), json={"q": 2}))
    assert one.key != two.key and one.key.startswith("POST ") and "#body=" in one.key
    assert info_of(sess.post(origin.url("/g"), json={"q": 1})).key == one.key
    assert origin.count("/g") == 2


def test_the_reason_names_the_users_rule(origin: Origin) -> None:
    from httpcache import Force

    origin.route("/ns", Reply(200, [("Cache-Control", "no-store, private")], b"n"))
    origin.route("/plain", Reply(200, [("Content-Type", "text/plain")], b"p"))
    sess = requests.Session()
    sess.trust_env = False
    CacheControl(sess, expire_after=30, urls_expire_after={"*/ns": Force(60)})
    forced = info_of(sess.get(origin.url("/ns")))
    assert forced.outcome == "miss_stored" and "Force rule" in forced.reason
    plain = info_of(sess.get(origin.url("/plain")))
    assert plain.outcome == "miss_stored" and "expire_after" in plain.reason
    assert info_of(sess.get(origin.url("/plain"))).outcome == "hit"


@pytest.mark.parametrize(
    "option",
    [
        {"expire_after": float("inf")},
        {"max_ttl": float("nan")},
        {"urls_expire_after": {"*": float("inf")}},
        {"heuristic_max": float("nan")},
        {"heuristic_max": float("inf")},
        {"coalesce_timeout": float("nan")},
        {"permanent_redirect_lifetime": float("inf")},
    ],
)
def test_non_finite_lifetimes_are_refused_when_built(option: dict[str, object]) -> None:
    with pytest.raises(HTTPCacheError, match=next(iter(option))):
        CacheControl(requests.Session(), **option)  # type: ignore[arg-type]


def test_the_inspector_reaches_the_counters(origin: Origin, session: requests.Session) -> None:
    from httpcache import CacheInspector

    origin.route("/i", Reply(200, FRESH_60, b"i"))
    session.get(origin.url("/i"))
    session.get(origin.url("/i"))
    snap = CacheInspector(session).counters.snapshot()
    assert (snap.requests, snap.hits, snap.misses_stored) == (2, 1, 1)
    assert CacheInspector(session).counters is controller_of(session).stats

"""End to end against nginx (Debian's nginx-light) serving static files of its own.

nginx makes its own ETag and Last-Modified, gzips (and then weakens the ETag),
answers Range requests and sets Expires; ``tests/_servers.py`` starts it on a free
127.0.0.1 port with a config in a temp dir. What reached the origin is counted
from nginx's access log. The files are 10 days old, so a location without
``Cache-Control`` is heuristically fresh for a day (RFC 9111 §4.2.2).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from _e2e_helpers import from_cache
from _servers import NginxServer, file_bytes, start_nginx

from httpcache import CacheControl, DictCache
from httpcache.cache import BaseCache
from httpcache.caches import FileCache, SQLiteCache

pytestmark = pytest.mark.e2e

NO_CACHE = {"Cache-Control": "no-cache"}


@pytest.fixture(scope="module")
def nginx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    with start_nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


@pytest.fixture
def nginx(nginx_server: NginxServer) -> NginxServer:
    """The module's nginx, its request counts starting at zero for this test."""
    nginx_server.reset()
    return nginx_server


def plain_session() -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return sess


def assert_one_request_per_revalidation(nginx: NginxServer, path: str, revalidations: int) -> None:
    """One 200, then one conditional request answered 304 per revalidation, and never
    an unconditional GET after a 304 (httpcache once refetched after each 304)."""
    lines = nginx.log_lines(path)
    described = [(h.status, h.conditional) for h in lines]
    assert described == [(200, False)] + [(304, True)] * revalidations, described


def opaque(etag: str) -> str:
    """An entity tag without its weakness indicator (RFC 9110 §8.8.3)."""
    return etag[2:] if etag.startswith("W/") else etag


# ---------------------------------------------------------------------------
# Static files: miss, hit, revalidation with nginx's validators


def test_static_file_miss_then_hits(nginx: NginxServer, session: requests.Session) -> None:
    url = nginx.url("/static/small.txt")
    responses = [session.get(url) for _ in range(4)]
    assert all(r.status_code == 200 and r.content == file_bytes("/static/small.txt") for r in responses)
    assert [from_cache(r) for r in responses] == [False, True, True, True]
    assert nginx.hits("/static/small.txt") == 1


def test_request_no_cache_revalidates_with_nginx_etag(nginx: NginxServer, session: requests.Session) -> None:
    url = nginx.url("/static/medium.bin")
    first = session.get(url)
    etag = first.headers["ETag"]
    again = [session.get(url, headers=NO_CACHE) for _ in range(3)]
    for r in again:
        assert r.status_code == 200 and from_cache(r) is True
        assert r.content == file_bytes("/static/medium.bin")
    assert_one_request_per_revalidation(nginx, "/static/medium.bin", 3)
    assert {h.headers["if-none-match"] for h in nginx.log_lines("/static/medium.bin")[1:]} == {etag}


def test_max_age_0_revalidates_each_time(nginx: NginxServer, session: requests.Session) -> None:
    url = nginx.url("/revalidate/doc.txt")
    responses = [session.get(url) for _ in range(5)]
    assert all(r.status_code == 200 and r.content == file_bytes("/revalidate/doc.txt") for r in responses)
    assert [from_cache(r) for r in responses] == [False, True, True, True, True]
    assert_one_request_per_revalidation(nginx, "/revalidate/doc.txt", 4)


def test_last_modified_only_revalidates_with_if_modified_since(nginx: NginxServer, session: requests.Session) -> None:
    url = nginx.url("/lm/doc.txt")
    first = session.get(url)
    assert "ETag" not in first.headers and "Last-Modified" in first.headers
    responses = [session.get(url) for _ in range(3)]
    assert all(r.content == file_bytes("/lm/doc.txt") and from_cache(r) for r in responses)
    assert_one_request_per_revalidation(nginx, "/lm/doc.txt", 3)
    ims = {h.headers.get("if-modified-since") for h in nginx.log_lines("/lm/doc.txt")[1:]}
    assert ims == {first.headers["Last-Modified"]}


def test_changed_file_is_fetched_again(nginx: NginxServer, session: requests.Session) -> None:
    path = "/revalidate/changing.txt"
    target = nginx.root / path.lstrip("/")
    target.write_bytes(b"version one\n")
    try:
        assert session.get(nginx.url(path)).content == b"version one\n"
        target.write_bytes(b"version two, longer\n")  # a new mtime and size: a new ETag
        changed = session.get(nginx.url(path))
        assert changed.content == b"version two, longer\n" and from_cache(changed) is False
        unchanged = session.get(nginx.url(path))
        assert unchanged.content == b"version two, longer\n" and from_cache(unchanged) is True
        assert nginx.statuses(path) == [200, 200, 304]
    finally:
        target.unlink()


def test_deleted_file_404_is_not_answered_with_the_stale_copy(nginx: NginxServer, session: requests.Session) -> None:
    path = "/revalidate/gone.txt"
    target = nginx.root / path.lstrip("/")
    target.write_bytes(b"here for now\n")
    try:
        assert session.get(nginx.url(path)).content == b"here for now\n"
    finally:
        target.unlink()
    gone = session.get(nginx.url(path))
    assert gone.status_code == 404 and from_cache(gone) is False
    assert session.get(nginx.url(path)).status_code == 404
    assert nginx.statuses(path) == [200, 404, 404]


# ---------------------------------------------------------------------------
# gzip (issue #10 item 1): W/"..." on the gzipped 200, a strong "..." on the 304


@pytest.mark.parametrize("location", ["/gz/text.txt", "/gzv/text.txt"], ids=["gzip", "gzip_vary"])
def test_gzip_weak_etag_revalidation_is_one_request_each(
    nginx: NginxServer, session: requests.Session, location: str
) -> None:
    url = nginx.url(location)
    first = session.get(url)
    assert first.headers["Content-Encoding"] == "gzip"
    assert first.headers["ETag"].startswith('W/"'), "nginx weakens the ETag of what it gzips"
    responses = [first] + [session.get(url) for _ in range(4)]
    for r in responses:
        assert r.status_code == 200 and r.content == file_bytes(location)
    assert [from_cache(r) for r in responses] == [False, True, True, True, True]
    lines = nginx.log_lines(location)
    assert_one_request_per_revalidation(nginx, location, 4)  # requests alone: 5; httpcache once: 9
    # the opaque tag sent back is nginx's (the 304's strong ETag may replace the stored one, §3.2)
    assert {opaque(h.headers["if-none-match"]) for h in lines[1:]} == {opaque(first.headers["ETag"])}
    assert all(not h.headers["etag-sent"].startswith("W/") for h in lines[1:]), "the 304s carry the strong ETag"


def test_gzip_without_cache_matches_plain_requests(nginx: NginxServer) -> None:
    """The floor the cache must not exceed: plain requests makes one request per call."""
    with plain_session() as sess:
        for _ in range(5):
            assert sess.get(nginx.url("/gz/text.txt")).content == file_bytes("/gz/text.txt")
    assert nginx.hits("/gz/text.txt") == 5


# ---------------------------------------------------------------------------
# expires, Range


def test_expires_location_is_served_from_cache(nginx: NginxServer, session: requests.Session) -> None:
    url = nginx.url("/expires/page.txt")
    first = session.get(url)
    assert "max-age=3600" in first.headers["Cache-Control"] and "Expires" in first.headers
    responses = [session.get(url) for _ in range(3)]
    assert all(from_cache(r) and r.content == file_bytes("/expires/page.txt") for r in responses)
    assert nginx.hits("/expires/page.txt") == 1


def test_range_is_answered_from_stored_full_response(nginx: NginxServer, session: requests.Session) -> None:
    path = "/static/medium.bin"
    body = file_bytes(path)
    assert session.get(nginx.url(path)).content == body
    for first, last in [(0, 99), (1000, 1999), (len(body) - 10, len(body) - 1)]:
        part = session.get(nginx.url(path), headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206 and from_cache(part) is True
        assert part.content == body[first : last + 1]
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{len(body)}"
    suffix = session.get(nginx.url(path), headers={"Range": "bytes=-500"})
    assert suffix.status_code == 206 and suffix.content == body[-500:]
    assert nginx.hits(path) == 1


def test_range_miss_is_a_206_from_nginx_then_stored(nginx: NginxServer, session: requests.Session) -> None:
    path = "/static/medium.bin"
    body = file_bytes(path)
    first = session.get(nginx.url(path), headers={"Range": "bytes=5000-5999"})
    assert first.status_code == 206 and first.content == body[5000:6000] and from_cache(first) is False
    again = session.get(nginx.url(path), headers={"Range": "bytes=5100-5199"})
    assert again.status_code == 206 and again.content == body[5100:5200]
    assert from_cache(again) is True, "a stored 206 holding those bytes answers"
    full = session.get(nginx.url(path))
    assert full.status_code == 200 and full.content == body
    assert nginx.statuses(path) == [206, 200]
    assert nginx.log_lines(path)[0].headers["range"] == "bytes=5000-5999"


# ---------------------------------------------------------------------------
# A large file


@pytest.fixture(params=["dict", "file", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    cache: BaseCache
    if request.param == "dict":
        cache = DictCache()
    elif request.param == "file":
        cache = FileCache(str(tmp_path / "files"))
    else:
        cache = SQLiteCache(str(tmp_path / "cache.db"))
    yield cache
    cache.close()


def test_large_file_is_stored_and_served_whole(nginx: NginxServer, store: BaseCache) -> None:
    path = "/static/large.bin"
    digest = hashlib.sha256(file_bytes(path)).hexdigest()
    with CacheControl(plain_session(), cache=store) as sess:
        first = sess.get(nginx.url(path), stream=True)
        assert hashlib.sha256(b"".join(first.iter_content(256 * 1024))).hexdigest() == digest
        second = sess.get(nginx.url(path))
        assert from_cache(second) is True and hashlib.sha256(second.content).hexdigest() == digest
        ranged = sess.get(nginx.url(path), headers={"Range": "bytes=4000000-4000999"})
        assert ranged.status_code == 206 and ranged.content == file_bytes(path)[4_000_000:4_001_000]
    assert nginx.hits(path) == 1


def test_open_stream_does_not_hold_up_the_same_url(nginx: NginxServer, session: requests.Session) -> None:
    """Issue #10 item 4: a response left open with ``stream=True`` must not make the next
    request for its URL in the same thread wait (requests alone: at once; httpcache once: 10 s)."""
    path = "/static/large.bin"
    body = file_bytes(path)
    url = nginx.url(path)
    streaming = session.get(url, stream=True)
    chunk = next(streaming.iter_content(64 * 1024))
    assert chunk == body[: len(chunk)]
    started = time.monotonic()
    whole = session.get(url, timeout=30)
    elapsed = time.monotonic() - started
    assert whole.status_code == 200 and whole.content == body
    assert elapsed < 3.0, f"the second GET took {elapsed:.1f} s behind an open stream (coalesce_timeout is 10 s)"
    rest = b"".join(streaming.iter_content(256 * 1024))
    streaming.close()
    assert chunk + rest == body
    assert nginx.hits(path) <= 2

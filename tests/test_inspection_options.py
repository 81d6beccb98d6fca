"""The inspector sees the store as the session's options do (issue #12's controls): a URL
is deleted as the cache keys it (``ignored_parameters``, ``key_fn``, POST cached by body)
and freshness is judged with the options given (``expire_after``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply, Seen
from stores_contract import open_store, shared_spec

from httpcache import CacheControl, CacheInspector, CacheOptions, DictCache, FileCache
from httpcache.cache import BaseCache

pytestmark = pytest.mark.e2e

MAX_AGE = [("Cache-Control", "max-age=600")]


@pytest.fixture(params=["dict", "file", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    if request.param == "dict":
        yield DictCache()
        return
    made = open_store(shared_spec(request.param, tmp_path))
    try:
        yield made
    finally:
        made.clear()
        made.close()


def session_on(store: BaseCache, **options: Any) -> requests.Session:
    sess = requests.Session()
    sess.trust_env = False
    return CacheControl(sess, store, **options)


def echo(seen: Seen) -> Reply:
    return Reply(200, MAX_AGE, f"{seen.method} {seen.path} {seen.body!r}".encode())


def test_delete_url_drops_ignored_parameters_as_the_cache_does(origin: Origin, store: BaseCache) -> None:
    origin.route("/r", echo)
    sess = session_on(store, ignored_parameters=("api_key",))
    url = origin.url("/r")
    sess.get(url + "?api_key=A&page=1").close()
    sess.get(url + "?page=2&api_key=A").close()
    assert from_cache(sess.get(url + "?api_key=B&page=1"))  # one entry, whatever the key
    inspector = CacheInspector(sess)
    assert inspector.delete_url(url + "?api_key=A&page=1") == 1
    assert not from_cache(sess.get(url + "?api_key=A&page=1"))
    assert from_cache(sess.get(url + "?page=2&api_key=C"))  # another page: kept
    assert inspector.delete_url(url + "?page=2") == 1
    assert not from_cache(sess.get(url + "?page=2&api_key=A"))


def test_delete_url_maps_the_url_with_key_fn_and_counts_what_it_deleted(origin: Origin, store: BaseCache) -> None:
    origin.route("/k", echo)
    origin.route("/k/", echo)
    sess = session_on(store, key_fn=lambda u: u.rstrip("/"))
    url = origin.url("/k")
    sess.get(url + "/").close()
    assert from_cache(sess.get(url))  # one entry for both
    inspector = CacheInspector(sess)
    assert inspector.delete_url(url + "/") == 1
    assert not from_cache(sess.get(url + "/"))
    assert inspector.delete_url(url) == 1
    assert inspector.delete_url(url) == 0


def test_delete_url_removes_the_posts_cached_by_their_body(origin: Origin, store: BaseCache) -> None:
    origin.route("/graphql", echo)
    origin.route("/graphql2", echo)
    sess = session_on(store, cacheable_methods=("GET", "POST"))
    url = origin.url("/graphql")
    for query in ("{a}", "{b}"):
        sess.post(url, json={"query": query}).close()
    sess.get(url).close()
    sess.post(origin.url("/graphql2"), json={"query": "{a}"}).close()
    assert from_cache(sess.post(url, json={"query": "{a}"}))
    inspector = CacheInspector(sess)
    if isinstance(store, FileCache):
        # a store that cannot list its keys: the GET is deleted, the POSTs stay (documented)
        assert inspector.delete_url(url) == 1
        assert from_cache(sess.post(url, json={"query": "{a}"}))
        return
    assert inspector.delete_url(url) == 3
    for query in ("{a}", "{b}"):
        assert not from_cache(sess.post(url, json={"query": query}))
    assert not from_cache(sess.get(url))
    assert from_cache(sess.post(origin.url("/graphql2"), json={"query": "{a}"}))  # another URL: kept


def test_an_inspector_of_a_session_judges_freshness_with_its_options(origin: Origin, store: BaseCache) -> None:
    origin.route("/plain", Reply(200, [("ETag", '"p"')], b"no explicit freshness"))
    origin.route("/gone", Reply(200, [("Cache-Control", "max-age=0"), ("ETag", '"g"')], b"stale"))
    sess = session_on(store, expire_after=3600)
    for name in ("/plain", "/gone"):
        sess.get(origin.url(name)).close()
    assert CacheInspector(store).count(expired=True) == 2  # RFC 9111 alone
    assert CacheInspector(store, options=CacheOptions(expire_after=3600)).count(expired=True) == 1
    assert CacheInspector(sess).delete(expired=True) == 1  # the session's expire_after
    assert [i.url for i in CacheInspector(sess).responses()] == [origin.url("/plain")]
    assert from_cache(sess.get(origin.url("/plain")))

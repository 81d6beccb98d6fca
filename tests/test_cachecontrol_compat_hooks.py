"""cachecontrol 0.14 code that customises: a ``controller_class`` overriding ``cache_url``
(honoured: it chooses the key) or another of cachecontrol's hooks (an error, never ignored);
its other import paths (``caches.SeparateBodyFileCache``, ``heuristics.expire_after``);
bad options named at construction; a heuristic returning fields that are not text; and
cachecontrol's settable adapter attributes, ``heuristic`` and ``cacheable_methods``."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import pytest
import requests
from _e2e_helpers import from_cache
from origin import Origin, Reply

from httpcache import CacheControl, CacheControlAdapter, CacheController, CacheInspector, DictCache, HTTPCacheError
from httpcache.heuristics import BaseHeuristic, ExpiresAfter


def _get(sess: requests.Session, url: str) -> requests.Response:
    resp = sess.get(url)
    resp.content  # noqa: B018 - read it: stored once read
    return resp


class _NoQuery(CacheController):
    """cachecontrol's documented way to choose the key: override ``cache_url``."""

    @classmethod
    def cache_url(cls, uri: str) -> str:
        return super().cache_url(uri.split("?")[0])


# -- controller_class: cache_url is honoured ------------------------------------------------


def test_an_overridden_cache_url_chooses_the_key(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    cache = DictCache()
    sess = CacheControl(plain, cache, controller_class=_NoQuery)
    first = _get(sess, origin.url("/a?x=1"))
    second = _get(sess, origin.url("/a?x=2"))
    assert origin.count("/a") == 1 and not from_cache(first) and from_cache(second)
    assert _NoQuery.cache_url(origin.url("/a?x=3")) in cache.data


def test_an_overridden_urlnorm_chooses_the_key(origin: Origin, plain: requests.Session) -> None:
    class LowerPath(CacheController):
        @classmethod
        def _urlnorm(cls, uri: str) -> str:
            return super()._urlnorm(uri).lower()

    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    origin.route("/A", Reply(200, [("Cache-Control", "max-age=60")], b"y"))
    sess = CacheControl(plain, controller_class=LowerPath)
    _get(sess, origin.url("/a"))
    second = _get(sess, origin.url("/A"))
    assert origin.count("/a") == 1 and origin.count("/A") == 0 and from_cache(second)


def test_an_explicit_key_fn_wins_over_cache_url(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = CacheControl(plain, controller_class=_NoQuery, key_fn=lambda url: url)
    _get(sess, origin.url("/a?x=1"))
    _get(sess, origin.url("/a?x=2"))
    assert origin.count("/a") == 2


def test_the_default_cache_url_sets_no_key_fn() -> None:
    assert CacheController().options.key_fn is None


def test_invalidation_and_delete_url_use_the_overridden_key(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = CacheControl(plain, controller_class=_NoQuery)
    _get(sess, origin.url("/a?x=1"))
    assert sess.post(origin.url("/a?x=2")).status_code == 200  # unsafe: invalidates /a (RFC 9111 §4.4)
    _get(sess, origin.url("/a?x=3"))
    assert origin.count("/a") == 3  # GET, POST, then GET again: the POST dropped the entry
    assert from_cache(_get(sess, origin.url("/a?x=4")))
    CacheInspector(sess).delete_url(origin.url("/a?x=5"))
    assert not from_cache(_get(sess, origin.url("/a?x=6")))
    assert origin.count("/a") == 4


@pytest.mark.parametrize(
    "hook",
    [
        "cached_request",
        "cache_response",
        "update_cached_response",
        "conditional_headers",
        "parse_cache_control",
        "_cache_set",
        "_load_from_cache",
    ],
)
def test_an_unsupported_hook_is_an_error_naming_it(hook: str, plain: requests.Session) -> None:
    mine = type("Mine", (CacheController,), {hook: lambda self, *a: None})
    with pytest.raises(HTTPCacheError, match=rf"Mine\.{hook}\(\).*not supported"):
        CacheControl(plain, controller_class=mine)
    with pytest.raises(HTTPCacheError, match=hook):
        mine()
    below = type("Below", (mine,), {})  # inherited from a class between: still overridden
    with pytest.raises(HTTPCacheError, match=hook):
        CacheControlAdapter(controller_class=below)


def test_a_hook_error_says_what_to_use_instead() -> None:
    class Mine(CacheController):
        def conditional_headers(self, request: Any) -> dict[str, str]:
            return {}

    with pytest.raises(HTTPCacheError, match="revalidate=False"):
        Mine()


@pytest.mark.parametrize("entry", ["CacheControl", "CacheControlAdapter"])
def test_controller_class_must_be_a_controller(entry: str, plain: requests.Session) -> None:
    with pytest.raises(HTTPCacheError, match="controller_class"):
        if entry == "CacheControl":
            CacheControl(plain, controller_class=object)  # type: ignore[arg-type]
        else:
            CacheControlAdapter(controller_class=5)  # type: ignore[arg-type]


def test_adapter_class_must_be_an_adapter(plain: requests.Session) -> None:
    with pytest.raises(HTTPCacheError, match="adapter_class"):
        CacheControl(plain, adapter_class=requests.adapters.HTTPAdapter)  # type: ignore[arg-type]


# -- import paths -----------------------------------------------------------------------------


def test_separate_body_file_cache_from_caches(tmp_path: Any) -> None:
    from httpcache.caches import SeparateBodyFileCache
    from httpcache.caches.file_cache import SeparateBodyFileCache as FromFileCache

    assert SeparateBodyFileCache is FromFileCache
    store = SeparateBodyFileCache(str(tmp_path))
    store.set_body("k", b"body")
    body = store.get_body("k")
    assert body is not None and body.read() == b"body"


def test_expire_after() -> None:
    from httpcache.heuristics import expire_after

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert expire_after(timedelta(hours=2), start) == datetime(2024, 1, 1, 2, tzinfo=timezone.utc)
    assert expire_after(timedelta(hours=2), datetime(2024, 1, 1)) == datetime(2024, 1, 1, 2)  # naive stays naive
    later = expire_after(timedelta(days=1))
    assert later.tzinfo is not None and later > datetime.now(timezone.utc) + timedelta(hours=23)


# -- bad options are named --------------------------------------------------------------------


@pytest.mark.parametrize("serializer", [5, "json", object(), CacheController])
def test_a_bad_serializer_is_named(serializer: Any, plain: requests.Session) -> None:
    with pytest.raises(HTTPCacheError, match="serializer"):
        CacheControl(plain, serializer=serializer)
    with pytest.raises(HTTPCacheError, match="serializer"):
        CacheController(serializer=serializer)


def test_a_serializer_class_rather_than_an_instance_is_named(plain: requests.Session) -> None:
    from httpcache.serialize import Serializer

    with pytest.raises(HTTPCacheError, match="serializer must be an instance"):
        CacheControl(plain, serializer=Serializer)  # type: ignore[arg-type]


# -- a heuristic's fields that are not text -----------------------------------------------------


class _Returns(BaseHeuristic):
    def __init__(self, fields: Any) -> None:
        self.fields = fields

    def update_headers(self, response: Any) -> Mapping[str, str]:
        return self.fields  # type: ignore[no-any-return]


def test_an_int_value_from_update_headers_is_its_digits(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [], b"x"))
    sess = CacheControl(plain, heuristic=_Returns({"Cache-Control": "max-age=60", "X-Count": 5}))
    first = _get(sess, origin.url("/a"))
    second = _get(sess, origin.url("/a"))
    assert first.headers["X-Count"] == "5" and from_cache(second) and origin.count("/a") == 1


def test_a_datetime_value_is_an_http_date(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [], b"x"))
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    sess = CacheControl(plain, heuristic=_Returns({"Expires": expires}))
    first = _get(sess, origin.url("/a"))
    assert first.headers["Expires"].endswith("GMT")
    assert from_cache(_get(sess, origin.url("/a"))) and origin.count("/a") == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"Cache-Control": "max-age=60", "X-Bad": None},
        {"Cache-Control": "max-age=60", "X-Bad": ["a", "b"]},
        {"Cache-Control": "max-age=60", "X-Bad": True},
        {"Cache-Control": "max-age=60", "X-Bad": "a\r\nSet-Cookie: x=1"},
        {"Cache-Control": "max-age=60", 5: "x"},
    ],
    ids=["None", "list", "bool", "line-break", "int-name"],
)
def test_a_bad_field_is_left_out_with_one_warning(
    fields: Any, origin: Origin, plain: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    origin.route("/a", Reply(200, [], b"x"))
    heuristic_class = type(f"Bad{uuid.uuid4().hex}", (_Returns,), {})  # its own warn-once slot
    sess = CacheControl(plain, heuristic=heuristic_class(fields))
    with caplog.at_level(logging.WARNING, logger="httpcache"):
        first = _get(sess, origin.url("/a"))
        sess.get(origin.url("/a"), headers={"Cache-Control": "no-cache"}).content  # noqa: B018 - applied again
    assert "X-Bad" not in first.headers and "Set-Cookie" not in first.headers
    assert first.headers["Cache-Control"] == "max-age=60"
    assert from_cache(_get(sess, origin.url("/a")))
    warnings = [r for r in caplog.records if "left out" in r.getMessage()]
    assert len(warnings) == 1 and heuristic_class.__name__ in warnings[0].getMessage()


def test_update_headers_returning_no_mapping_is_left_out(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = CacheControl(plain, heuristic=_Returns(42))
    first = _get(sess, origin.url("/a"))
    assert first.status_code == 200 and from_cache(_get(sess, origin.url("/a")))


def test_an_apply_of_its_own_setting_an_int_is_made_text(origin: Origin, plain: requests.Session) -> None:
    class OwnApply(BaseHeuristic):
        def apply(self, response: Any) -> Any:
            response.headers["Cache-Control"] = "max-age=60"
            response.headers["X-Count"] = 7
            response.headers["X-None"] = None
            return response

    origin.route("/a", Reply(200, [], b"x"))
    sess = CacheControl(plain, heuristic=OwnApply())
    first = _get(sess, origin.url("/a"))
    assert first.headers["X-Count"] == "7" and "X-None" not in first.headers
    assert from_cache(_get(sess, origin.url("/a"))) and origin.count("/a") == 1


# -- settable adapter attributes ---------------------------------------------------------------


def test_setting_the_heuristic_on_an_adapter(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [], b"x"))
    sess = CacheControl(plain)
    adapter = sess.get_adapter(origin.url("/"))
    assert isinstance(adapter, CacheControlAdapter)
    _get(sess, origin.url("/a"))
    _get(sess, origin.url("/a"))
    assert origin.count("/a") == 2  # no freshness: not reused
    heuristic = ExpiresAfter(hours=1)
    adapter.heuristic = heuristic
    assert adapter.heuristic is heuristic
    # the controller is shared: the https:// adapter sees the same options
    other = sess.get_adapter("https://example.com/")
    assert isinstance(other, CacheControlAdapter) and other.heuristic is heuristic
    _get(sess, origin.url("/a"))
    assert from_cache(_get(sess, origin.url("/a"))) and origin.count("/a") == 3
    with pytest.raises(HTTPCacheError, match="heuristic"):
        adapter.heuristic = object()  # type: ignore[assignment]
    assert adapter.heuristic is heuristic
    adapter.heuristic = None
    assert adapter.controller.options.heuristic is None


def test_setting_cacheable_methods_on_an_adapter(origin: Origin, plain: requests.Session) -> None:
    origin.route("/a", Reply(200, [("Cache-Control", "max-age=60")], b"x"))
    sess = CacheControl(plain)
    adapter = sess.get_adapter(origin.url("/"))
    assert isinstance(adapter, CacheControlAdapter)
    adapter.cacheable_methods = ["get"]
    assert adapter.cacheable_methods == ("GET",)
    sess.head(origin.url("/a"))
    sess.head(origin.url("/a"))
    assert origin.count("/a") == 2  # HEAD no longer looked up nor stored
    with pytest.raises(HTTPCacheError, match="cacheable_methods"):
        adapter.cacheable_methods = ["PUT"]
    assert adapter.cacheable_methods == ("GET",)

"""The hit path's shortcuts: decoded entries reused while the store hands back the
same value, and bodies handed over already read when the caller did not stream."""

from __future__ import annotations

import gzip
from typing import Optional

import pytest
import requests
from _e2e_helpers import from_cache
from _policy_helpers import NOW, URL
from origin import Origin, Reply

from httpcache import DictCache, controller, serialize
from httpcache._headers import Headers
from httpcache.cache import BaseCache
from httpcache.controller import CacheController
from httpcache.keys import cache_key
from httpcache.models import RequestView, ResponseView, StoredResponse

GET = RequestView("GET", URL, Headers())


def fill(ctl: CacheController, url: str = URL, body: bytes = b"hello") -> None:
    resp = ResponseView(200, Headers([("Cache-Control", "max-age=600"), ("Date", "x")]), "OK")
    assert ctl.store(RequestView("GET", url, Headers()), resp, body, NOW, NOW) is not None


class CopyingStore(BaseCache):
    """A store that returns a new object on every read, as a file or network store does."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Optional[bytes]:
        value = self.data.get(key)
        return None if value is None else bytes(bytearray(value))

    def set(self, key: str, value: bytes) -> None:  # type: ignore[override]
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def test_unchanged_value_is_decoded_once() -> None:
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl)
    first, second = ctl.lookup(GET).stored, ctl.lookup(GET).stored
    assert first is not None and first is second


def test_what_was_just_stored_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[object] = []
    real = serialize.load_response

    def counting(data: object, url: Optional[str] = None) -> Optional[StoredResponse]:
        decoded.append(data)
        return real(data, url)

    monkeypatch.setattr(serialize, "load_response", counting)
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl, body=b"stored")
    found = ctl.lookup(GET).stored
    assert found is not None and found.body == b"stored"
    assert decoded == []  # the writer's own StoredResponse, not a decoding of its value
    other = CacheController(DictCache(), clock=lambda: NOW)  # its own memo: the value is new to it
    other.cache = ctl.cache
    found = other.lookup(GET).stored
    assert found is not None and found.body == b"stored"
    assert len(decoded) == 1  # decoded, as it must be, and only once
    assert other.lookup(GET).stored is found and len(decoded) == 1


def test_replaced_value_is_decoded_again() -> None:
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl, body=b"old")
    old = ctl.lookup(GET).stored
    fill(ctl, body=b"new")
    new = ctl.lookup(GET).stored
    assert old is not None and new is not None
    assert (old.body, new.body) == (b"old", b"new")


def test_deleted_value_is_forgotten() -> None:
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl)
    assert ctl.lookup(GET).stored is not None
    ctl.invalidate([URL])
    assert ctl.lookup(GET).stored is None
    assert ctl._memo._entries == {}


def test_equal_copies_reuse_the_decoded_entry_and_changed_values_do_not() -> None:
    store = CopyingStore()
    ctl = CacheController(store, clock=lambda: NOW)
    fill(ctl, body=b"one")
    first, second = ctl.lookup(GET).stored, ctl.lookup(GET).stored
    assert first is not None and first is second, "an equal copy is the same value"
    key = cache_key("GET", URL)
    value = store.data[key]
    old = serialize.load_response(value)
    assert old is not None
    store.data[key] = serialize.dump_response(old.replace(body=b"two"))  # the same length, changed bytes
    changed = ctl.lookup(GET).stored
    assert changed is not None and changed is not first and changed.body == b"two"
    store.data[key] = store.data[key].replace(b"two", b"six")  # damaged: fails its checksum
    assert ctl.lookup(GET).stored is None
    assert key not in store.data  # deleted


def test_memo_gives_up_when_values_keep_changing() -> None:
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl)
    key = cache_key("GET", URL)
    for n in range(controller._DecodedMemo._GIVE_UP):
        assert ctl._memo.get(key, b"changed %d" % n) is None
    assert not ctl._memo.enabled and ctl._memo._entries == {}
    assert ctl.lookup(GET).stored is not None  # still served, decoded every time


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller, "MEMO_ENTRIES", 3)
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    for i in range(10):
        url = f"{URL}{i}"
        fill(ctl, url)
        assert ctl.lookup(RequestView("GET", url, Headers())).stored is not None
        assert len(ctl._memo._entries) <= 3
    monkeypatch.setattr(controller, "MEMO_BYTES", 64)
    fill(ctl, body=b"x" * 100)  # over MEMO_BYTES // 8: decoded every time, never kept
    assert ctl.lookup(GET).stored is not ctl.lookup(GET).stored


@pytest.mark.e2e
def test_hit_without_stream_is_handed_over_read(origin: Origin, session: requests.Session) -> None:
    origin.route("/r", Reply(200, [("Cache-Control", "max-age=600")], b"body!"))
    session.get(origin.url("/r")).content  # noqa: B018
    read = session.get(origin.url("/r"))
    assert from_cache(read) and read.content == b"body!" and read.text == "body!"
    assert read.raw.read() == b"", "as requests leaves a response it has read"
    streamed = session.get(origin.url("/r"), stream=True)
    assert from_cache(streamed) and streamed.raw.read() == b"body!"


@pytest.mark.e2e
def test_hit_with_content_coding_is_still_decoded(origin: Origin, session: requests.Session) -> None:
    packed = gzip.compress(b"plain text " * 50)
    origin.route("/z", Reply(200, [("Cache-Control", "max-age=600"), ("Content-Encoding", "gzip")], packed))
    assert session.get(origin.url("/z")).content == b"plain text " * 50
    hit = session.get(origin.url("/z"))
    assert from_cache(hit) and hit.content == b"plain text " * 50
    assert origin.count("/z") == 1

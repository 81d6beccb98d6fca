"""The hit path's shortcuts, tested for what they must never change: the decoded-entry
memo (a value changed in the store is never served from it; it is bounded in bytes), and
bodies handed over already read when the caller did not stream."""

from __future__ import annotations

import gzip
from typing import Optional

import pytest
import requests
from _e2e_helpers import from_cache
from _policy_helpers import NOW, URL
from origin import Origin, Reply

from httpcache import DictCache, serialize
from httpcache._decoded import DecodedEntries
from httpcache._headers import Headers
from httpcache.cache import BaseCache
from httpcache.controller import CacheController
from httpcache.keys import cache_key
from httpcache.models import RequestView, ResponseView

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


def test_replaced_value_is_decoded_again() -> None:
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl, body=b"old")
    old = ctl.lookup(GET).entry
    fill(ctl, body=b"new")
    new = ctl.lookup(GET).entry
    assert old is not None and new is not None
    assert (old.body, new.body) == (b"old", b"new")


def test_deleted_value_is_gone() -> None:
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl)
    assert ctl.lookup(GET).stored is not None
    ctl.invalidate([URL])
    assert ctl.lookup(GET).stored is None


@pytest.mark.parametrize("store_class", [DictCache, CopyingStore])
def test_a_value_changed_in_the_store_is_never_served_from_the_memo(store_class: type[BaseCache]) -> None:
    """Whoever changes a value (another process, a hand edit, damage), the next lookup
    sees the change: the memo is checked against the value the store hands back."""
    store = store_class()
    ctl = CacheController(store, clock=lambda: NOW)
    fill(ctl, body=b"one")
    first = ctl.lookup(GET).entry
    assert first is not None and first.body == b"one"
    key = cache_key("GET", URL)
    data: dict[str, bytes] = store.data  # type: ignore[attr-defined]
    old = serialize.load_response(data[key])
    assert old is not None
    data[key] = serialize.dump_response(old.head, b"two")  # the same length, changed bytes
    changed = ctl.lookup(GET).entry
    assert changed is not None and changed.body == b"two"
    data[key] = data[key].replace(b"two", b"six")  # damaged: fails its checksum
    assert ctl.lookup(GET).stored is None
    assert key not in data  # deleted


def test_what_was_stored_is_served_the_same_by_another_controller() -> None:
    """A controller that decodes the value itself (no memo of it) serves what the writer's
    own memo serves."""
    ctl = CacheController(DictCache(), clock=lambda: NOW)
    fill(ctl, body=b"stored")
    other = CacheController(ctl.cache, clock=lambda: NOW)
    mine, theirs = ctl.lookup(GET).entry, other.lookup(GET).entry
    assert mine is not None and theirs is not None
    assert (mine.body, mine.head) == (theirs.body, theirs.head)


def test_the_memo_is_bounded_in_bytes() -> None:
    memo: DecodedEntries[str] = DecodedEntries(max_bytes=64 * 1024)
    for i in range(100):
        memo.put(f"k{i}", b"v" * 1000, f"decoded {i}")
        assert memo.size()[1] <= 64 * 1024
    entries, _ = memo.size()
    assert 0 < entries < 100
    assert memo.get("k99", b"v" * 1000) == "decoded 99"  # the most recent is kept
    assert memo.get("k0", b"v" * 1000) is None  # the oldest went first
    memo.put("big", b"x" * (64 * 1024), "too big")  # over an eighth of the bound: never kept
    assert memo.get("big", b"x" * (64 * 1024)) is None
    few: DecodedEntries[str] = DecodedEntries(max_entries=3)
    for i in range(10):
        few.put(f"k{i}", b"v", f"decoded {i}")
        assert few.size()[0] <= 3
    assert few.get("k9", b"v") == "decoded 9" and few.get("k6", b"v") is None


def test_the_memo_serves_only_the_value_it_decoded() -> None:
    memo: DecodedEntries[str] = DecodedEntries()
    memo.put("k", b"value one", "one")
    assert memo.get("k", b"value one") == "one"
    assert memo.get("k", bytes(bytearray(b"value one"))) == "one"  # an equal copy
    assert memo.get("k", b"value two") is None
    memo.forget("k")
    assert memo.get("k", b"value one") is None


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


def test_when_full_a_read_lets_in_only_a_key_read_before() -> None:
    """A hit spread over many more entries than the memo holds does not evict one entry per
    hit: a decoded read is let in when full only for a key missed recently; a write always."""
    memo: DecodedEntries[str] = DecodedEntries(max_entries=2)
    memo.put("a", b"1", "a")
    memo.put("b", b"2", "b")
    memo.put("c", b"3", "c", read=True)  # full, "c" never seen: not let in
    assert (memo.get("a", b"1"), memo.get("b", b"2"), memo.get("c", b"3")) == ("a", "b", None)
    memo.put("c", b"3", "c", read=True)  # read again: let in, the least recent goes
    assert memo.get("c", b"3") == "c" and memo.size()[0] == 2
    memo.put("d", b"4", "d")  # a write: always let in
    assert memo.get("d", b"4") == "d" and memo.size()[0] == 2

"""The storage format (``httpcache.serialize``): exact round trips, and every corrupt,
foreign, truncated or mistyped value decodes to ``None`` -- never an exception, and
never through pickle or marshal."""

from __future__ import annotations

import io
import json
import marshal
import pickle
import struct
import zlib
from typing import Callable, NoReturn, Optional

import pytest

from httpcache import serialize
from httpcache._body import Entry, StoredBody
from httpcache._headers import Headers
from httpcache.cache import ValueReader
from httpcache.models import StoredResponse
from httpcache.serialize import (
    FORMAT_VERSION,
    MAGIC,
    VariantRef,
    dump_index,
    kind_of,
    load_index,
    load_response,
)

NOW = 1_700_000_000.0
URL = "http://example.com/r"

BINARY_BODY = bytes(range(256)) * 3 + b"HTTPCACHE\x01R" + b"\x00" * 7


def entry(body: bytes = BINARY_BODY, **changes: object) -> Entry:
    """A stored response (``changes`` to its head) with ``body``."""
    base = StoredResponse(
        url=URL,
        method="GET",
        status=200,
        reason="OK",
        headers=Headers(
            [
                ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
                ("Set-Cookie", "a=1"),
                ("Content-Type", "application/octet-stream"),
                ("Set-Cookie", "b=2"),
                ("X-Latin1", "caf\xe9 \xff\xa0"),
                ("X-Unicode", "日本語 🎉"),
                ("X-Quote", 'a"b\\c'),
                ("X-Empty", ""),
            ]
        ),
        body_length=len(body),
        request_time=NOW - 0.25,
        response_time=NOW + 0.123456789,
        vary={"accept-encoding": "gzip", "accept-language": None, "x-empty": ""},
        auth="0" * 64,
    )
    return Entry(base.replace(**changes), body)


def dump_response(stored: Entry) -> bytes:
    assert isinstance(stored.body, bytes)
    return serialize.dump_response(stored.head, stored.body)


# ---------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(entry(), id="full-binary-body-latin1-unicode-duplicates"),
        pytest.param(entry(body=b""), id="empty-body"),
        pytest.param(entry(headers=Headers(), vary={}, auth=None), id="no-headers-no-vary-no-auth"),
        pytest.param(entry(method="HEAD", status=404, reason="Not Found"), id="head-404"),
        pytest.param(entry(reason="Ünïcödé reason"), id="non-ascii-reason"),
        pytest.param(entry(url="http://example.com/ü?q=ä"), id="non-ascii-url"),
        pytest.param(entry(headers=Headers([("X-Surrogate", "\udcff\udc80")])), id="surrogate-escaped-value"),
        pytest.param(entry(body=b"x" * 1_000_000), id="large-body"),
        pytest.param(entry(request_time=0.0, response_time=1e-9), id="tiny-times"),
    ],
)
def test_round_trip(stored: Entry) -> None:
    data = dump_response(stored)
    assert isinstance(data, bytes)
    loaded = load_response(data, stored.head.url)
    assert loaded == stored
    assert loaded is not None
    head, want = loaded.head, stored.head
    assert head.headers.items() == want.headers.items()  # duplicates kept, in order
    assert loaded.body == stored.body and head.body_length == len(stored.body)  # type: ignore[arg-type]
    assert dict(head.vary) == dict(want.vary)
    assert (head.request_time, head.response_time) == (want.request_time, want.response_time)
    assert load_response(data) == stored  # no URL check requested


def test_round_trip_keeps_duplicate_header_order() -> None:
    loaded = load_response(dump_response(entry()))
    assert loaded is not None
    headers = loaded.head.headers
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert [name for name, _ in headers.items()][:4] == ["Date", "Set-Cookie", "Content-Type", "Set-Cookie"]
    assert headers.get("x-latin1") == "caf\xe9 \xff\xa0"


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(bytes, id="bytes"),
        pytest.param(bytearray, id="bytearray"),
        pytest.param(memoryview, id="memoryview"),
    ],
)
def test_load_accepts_bytes_like(wrap: Callable[[bytes], object]) -> None:
    assert load_response(wrap(dump_response(entry()))) == entry()


def test_layout_is_versioned_magic_kind_length_json_checksum_body_length_checksum() -> None:
    data = dump_response(entry())
    assert FORMAT_VERSION == 3
    assert data.startswith(MAGIC + bytes((FORMAT_VERSION,)) + b"R")
    (length,) = struct.unpack(">I", data[len(MAGIC) + 2 : len(MAGIC) + 6])
    meta = json.loads(data[len(MAGIC) + 6 : len(MAGIC) + 6 + length].decode("utf-8"))
    assert meta["url"] == URL
    head_end = len(MAGIC) + 6 + length
    assert struct.unpack(">I", data[head_end : head_end + 4]) == (zlib.crc32(data[:head_end]),)
    assert data[head_end + 4 : -12] == BINARY_BODY
    # the body's length and checksum come last
    assert struct.unpack(">QI", data[-12:]) == (len(BINARY_BODY), zlib.crc32(BINARY_BODY))
    assert kind_of(data) == "R"


# ---------------------------------------------------------------------------
# Corruption: everything decodes to None

GOOD = dump_response(entry())


@pytest.mark.parametrize("cut", range(len(GOOD)))
def test_truncated_at_every_offset_is_none(cut: int) -> None:
    assert load_response(GOOD[:cut]) is None
    assert load_response(GOOD[:cut], URL) is None


def test_trailing_bytes_are_a_length_mismatch() -> None:
    assert load_response(GOOD + b"x") is None


def _with_version(data: bytes, version: int) -> bytes:
    return data[: len(MAGIC)] + bytes((version,)) + data[len(MAGIC) + 1 :]


def _with_kind(data: bytes, kind: bytes) -> bytes:
    return data[: len(MAGIC) + 1] + kind + data[len(MAGIC) + 2 :]


def _with_meta(meta: object, body: bytes = b"", kind: bytes = b"R", body_length: Optional[int] = None) -> bytes:
    raw = json.dumps(meta).encode("utf-8")
    return _with_raw_meta(raw, body, kind, body_length)


def _with_raw_meta(raw: bytes, body: bytes = b"", kind: bytes = b"R", body_length: Optional[int] = None) -> bytes:
    """A value of ``raw`` metadata and ``body`` with good checksums (each case changes one thing)."""
    head = MAGIC + bytes((FORMAT_VERSION,)) + kind + struct.pack(">I", len(raw)) + raw
    end = struct.pack(">QI", len(body) if body_length is None else body_length, zlib.crc32(body))
    return head + struct.pack(">I", zlib.crc32(head)) + body + end


def _flipped(data: bytes, at: int) -> bytes:
    """``data`` with one bit flipped at offset ``at`` (negative: from the end)."""
    at %= len(data)
    return data[:at] + bytes((data[at] ^ 0x10,)) + data[at + 1 :]


def _head_end(data: bytes) -> int:
    (length,) = struct.unpack(">I", data[len(MAGIC) + 2 : len(MAGIC) + 6])
    return len(MAGIC) + 6 + int(length)


def _good_meta(**changes: object) -> dict[str, object]:
    meta: dict[str, object] = {
        "url": URL,
        "method": "GET",
        "status": 200,
        "reason": "OK",
        "headers": [["Date", "x"]],
        "request_time": NOW,
        "response_time": NOW,
        "vary": {},
        "auth": None,
    }
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not _DROP}


_DROP = object()


def test_hand_built_good_meta_loads() -> None:
    # the corruption cases below each change one thing of this valid value
    loaded = load_response(_with_meta(_good_meta(), b"body"), URL)
    assert loaded is not None
    assert loaded.body == b"body"
    assert loaded.head.headers.items() == (("Date", "x"),)


CORRUPT = [
    pytest.param(b"", id="empty"),
    pytest.param(b"HTTPCACH", id="short-magic"),
    pytest.param(b"XTTPCACHE" + GOOD[len(MAGIC) :], id="wrong-magic"),
    pytest.param(GOOD.lower(), id="lowercased"),
    pytest.param(_with_version(GOOD, 0), id="version-0"),
    pytest.param(_with_version(GOOD, FORMAT_VERSION + 1), id="version-next"),
    pytest.param(_with_version(GOOD, 255), id="version-255"),
    pytest.param(_with_kind(GOOD, b"I"), id="kind-index-as-response"),
    pytest.param(_with_kind(GOOD, b"X"), id="kind-unknown"),
    pytest.param(GOOD[: len(MAGIC) + 2] + b"\xff\xff\xff\xff" + GOOD[len(MAGIC) + 6 :], id="length-huge"),
    pytest.param(GOOD[: len(MAGIC) + 2] + b"\x00\x00\x00\x00" + GOOD[len(MAGIC) + 6 :], id="length-zero"),
    pytest.param(_with_raw_meta(b"{not json", b"body"), id="bad-json"),
    pytest.param(_with_raw_meta(b"\xff\xfe{}", b"body"), id="bad-utf8"),
    pytest.param(_with_raw_meta(b"[" * 100_000 + b"]" * 100_000), id="deeply-nested-json"),
    pytest.param(_with_meta([1, 2, 3]), id="meta-not-object"),
    pytest.param(_with_meta("string"), id="meta-string"),
    pytest.param(_with_meta(None), id="meta-null"),
    pytest.param(_with_meta({}, b"body"), id="meta-empty-object"),
    pytest.param(_with_meta(_good_meta(url=None), b"body"), id="url-null"),
    pytest.param(_with_meta(_good_meta(url=5), b"body"), id="url-int"),
    pytest.param(_with_meta(_good_meta(url=_DROP), b"body"), id="url-missing"),
    pytest.param(_with_meta(_good_meta(method=["GET"]), b"body"), id="method-list"),
    pytest.param(_with_meta(_good_meta(status="200"), b"body"), id="status-string"),
    pytest.param(_with_meta(_good_meta(status=200.0), b"body"), id="status-float"),
    pytest.param(_with_meta(_good_meta(status=True), b"body"), id="status-bool"),
    pytest.param(_with_meta(_good_meta(reason=None), b"body"), id="reason-null"),
    pytest.param(_with_meta(_good_meta(headers={"Date": "x"}), b"body"), id="headers-object"),
    pytest.param(_with_meta(_good_meta(headers=[["Date"]]), b"body"), id="header-pair-short"),
    pytest.param(_with_meta(_good_meta(headers=[["Date", "x", "y"]]), b"body"), id="header-pair-long"),
    pytest.param(_with_meta(_good_meta(headers=[["Date", 5]]), b"body"), id="header-value-int"),
    pytest.param(_with_meta(_good_meta(headers=[[None, "x"]]), b"body"), id="header-name-null"),
    pytest.param(_with_meta(_good_meta(headers=["Date: x"]), b"body"), id="header-line-string"),
    pytest.param(_with_meta(_good_meta(request_time="now"), b"body"), id="request-time-string"),
    pytest.param(_with_meta(_good_meta(response_time=None), b"body"), id="response-time-null"),
    pytest.param(_with_meta(_good_meta(vary=["accept"]), b"body"), id="vary-list"),
    pytest.param(_with_meta(_good_meta(vary={"accept": 1}), b"body"), id="vary-value-int"),
    pytest.param(_with_meta(_good_meta(vary=None), b"body"), id="vary-null"),
    pytest.param(_with_meta(_good_meta(auth=1), b"body"), id="auth-int"),
    pytest.param(_with_meta(_good_meta(), b"body", body_length=5), id="length-longer-than-body"),
    pytest.param(_with_meta(_good_meta(), b"body", body_length=3), id="length-shorter-than-body"),
    pytest.param(_with_meta(_good_meta(), b"body", body_length=2**64 - 1), id="length-huge"),
    pytest.param(_with_meta(_good_meta(), b"body")[:-12], id="length-missing"),
    pytest.param(_with_meta(_good_meta(), b"body")[:-4], id="body-checksum-missing"),
    pytest.param(_with_meta(_good_meta(), b"body", kind=b"I"), id="response-meta-as-index-kind"),
    pytest.param(_flipped(GOOD, _head_end(GOOD)), id="head-checksum-wrong"),
    pytest.param(_flipped(GOOD, len(MAGIC) + 6 + 9), id="meta-byte-damaged-still-json"),
    pytest.param(GOOD.replace(b'"status":200', b'"status":203'), id="meta-status-rewritten"),
]

# a damaged body: a whole value decodes to None; a value read in pieces decodes (its head is
# intact) and its body fails when it is read (test_reader_with_a_damaged_body_fails_when_read)
DAMAGED_BODY = [
    pytest.param(_flipped(GOOD, -1), id="body-checksum-wrong"),
    pytest.param(_flipped(GOOD, _head_end(GOOD) + 4), id="body-first-byte-damaged"),
    pytest.param(_flipped(GOOD, -13), id="body-last-byte-damaged"),
    pytest.param(
        GOOD[: _head_end(GOOD) + 4] + b"x" * len(BINARY_BODY) + GOOD[-12:], id="body-overwritten-same-length"
    ),
]


@pytest.mark.parametrize("data", CORRUPT + DAMAGED_BODY)
def test_corrupt_response_is_none(data: bytes) -> None:
    assert load_response(data) is None
    assert load_response(data, URL) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="none"),
        pytest.param("HTTPCACHE\x01R", id="str"),
        pytest.param(GOOD.decode("latin-1"), id="str-of-a-good-entry"),
        pytest.param(12345, id="int"),
        pytest.param(1.5, id="float"),
        pytest.param([GOOD], id="list"),
        pytest.param({"data": GOOD}, id="dict"),
        pytest.param(object(), id="object"),
    ],
)
def test_non_bytes_input_is_none(data: object) -> None:
    assert load_response(data) is None
    assert load_index(data) is None
    assert kind_of(data) is None


def test_entry_for_another_url_is_none() -> None:
    assert load_response(GOOD, "http://example.com/other") is None
    assert load_response(GOOD, URL + "/") is None
    assert load_response(GOOD, URL) == entry()


class _Boom:
    """Unpickling this would set a flag: proof that a loader ran pickle."""

    ran = False

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return (_Boom.mark, ())

    @staticmethod
    def mark() -> None:
        _Boom.ran = True


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(pickle.dumps(_Boom()), id="bare-pickle"),
        pytest.param(MAGIC + bytes((FORMAT_VERSION,)) + b"R" + pickle.dumps(_Boom()), id="pickle-after-header"),
        pytest.param(_with_raw_meta(pickle.dumps(_Boom())), id="pickle-as-meta"),
        pytest.param(pickle.dumps(entry()), id="pickled-stored-response"),
        pytest.param(marshal.dumps({"url": URL}), id="marshal"),
    ],
)
def test_never_unpickles(payload: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("pickle/marshal must never be used to load a cache entry")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(marshal, "loads", forbidden)
    _Boom.ran = False
    assert load_response(payload) is None
    assert load_index(payload) is None
    assert _Boom.ran is False
    # the real format still loads with pickle and marshal unavailable
    assert load_response(GOOD) == entry()


def test_serialize_module_does_not_import_pickle_or_marshal() -> None:
    names = set(vars(serialize))
    assert "pickle" not in names
    assert "marshal" not in names
    assert "loads" not in names


# ---------------------------------------------------------------------------
# Variant index

REFS = [
    VariantRef("k1", {"accept": "a", "accept-language": None}, None),
    VariantRef("k2", {"accept": "b"}, "d" * 64),
    VariantRef("k3", {}, "é-not-a-real-digest"),
]


def test_index_round_trip() -> None:
    data = dump_index(URL, REFS)
    assert kind_of(data) == "I"
    assert load_index(data, URL) == REFS
    assert load_index(data) == REFS
    assert load_index(dump_index(URL, []), URL) == []


def test_index_for_another_url_is_none() -> None:
    assert load_index(dump_index(URL, REFS), "http://example.com/other") is None


def test_index_is_not_a_response_and_back() -> None:
    assert load_response(dump_index(URL, REFS)) is None
    assert load_index(GOOD) is None


GOOD_INDEX = dump_index(URL, REFS)


@pytest.mark.parametrize("cut", range(len(GOOD_INDEX)))
def test_index_truncated_at_every_offset_is_none(cut: int) -> None:
    assert load_index(GOOD_INDEX[:cut]) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GOOD_INDEX + b"x", id="trailing-bytes"),
        pytest.param(_with_version(GOOD_INDEX, FORMAT_VERSION + 1), id="other-version"),
        pytest.param(_with_meta({"url": URL, "variants": {}}, kind=b"I"), id="variants-object"),
        pytest.param(_with_meta({"url": URL}, kind=b"I"), id="variants-missing"),
        pytest.param(_with_meta({"variants": []}, kind=b"I"), id="url-missing"),
        pytest.param(_with_meta({"url": URL, "variants": ["k1"]}, kind=b"I"), id="variant-string"),
        pytest.param(_with_meta({"url": URL, "variants": [{"key": 1, "vary": {}}]}, kind=b"I"), id="key-int"),
        pytest.param(
            _with_meta({"url": URL, "variants": [{"key": "k", "vary": {"a": 1}}]}, kind=b"I"), id="vary-value-int"
        ),
        pytest.param(
            _with_meta({"url": URL, "variants": [{"key": "k", "vary": {}, "auth": 5}]}, kind=b"I"), id="auth-int"
        ),
        pytest.param(_with_meta({"url": URL, "variants": [{"key": "k"}]}, kind=b"I"), id="vary-missing"),
    ],
)
def test_corrupt_index_is_none(data: bytes) -> None:
    assert load_index(data) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(GOOD, "R", id="response"),
        pytest.param(GOOD_INDEX, "I", id="index"),
        pytest.param(_with_kind(GOOD, b"X"), None, id="unknown-kind"),
        pytest.param(_with_version(GOOD, FORMAT_VERSION + 1), None, id="other-version"),
        pytest.param(GOOD[: len(MAGIC) + 1], None, id="too-short"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"not ours at all", None, id="foreign"),
    ],
)
def test_kind_of(data: bytes, expected: object) -> None:
    assert kind_of(data) == expected


# ---------------------------------------------------------------------------
# A value read in pieces (a streaming store's ValueReader): the body stays in the store


class BytesReader(ValueReader):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)
        self.reads: list[tuple[int, int]] = []
        self.closed = 0

    def pread(self, size: int, offset: int) -> bytes:
        self.reads.append((size, offset))
        return self.data[offset : offset + size]

    def close(self) -> None:
        self.closed += 1


def test_load_from_reader_leaves_the_body_in_the_store() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    reader = BytesReader(dump_response(entry(body=body)))
    loaded = serialize.load_response_from(reader, URL)
    assert loaded is not None and isinstance(loaded.body, StoredBody)
    assert loaded.head.body_length == len(body) and loaded.body.length == len(body)
    assert loaded.head == entry(body=body).head
    assert max(size for size, _ in reader.reads) < 4096  # only the head and the trailer were read
    assert b"".join(loaded.body.pieces(size=100_000)) == body
    assert loaded.body.pread(10, len(body) - 4) == body[-4:]
    loaded.close()
    assert reader.closed == 1


@pytest.mark.parametrize("cut", range(0, len(GOOD), 7))
def test_reader_truncated_is_none(cut: int) -> None:
    reader = BytesReader(GOOD[:cut])
    assert serialize.load_response_from(reader, URL) is None
    assert reader.closed == 0  # the caller closes it


@pytest.mark.parametrize("data", CORRUPT)
def test_reader_corrupt_is_none(data: bytes) -> None:
    assert serialize.load_response_from(BytesReader(data), URL) is None


@pytest.mark.parametrize("data", DAMAGED_BODY)
def test_reader_with_a_damaged_body_fails_when_read(data: bytes) -> None:
    loaded = serialize.load_response_from(BytesReader(data), URL)
    assert loaded is not None and isinstance(loaded.body, StoredBody)
    with pytest.raises(OSError, match="checksum"):
        loaded.body.read_verified()


def test_reader_for_another_url_and_kind_of_reader() -> None:
    assert serialize.load_response_from(BytesReader(GOOD), "http://example.com/other") is None
    assert kind_of(BytesReader(GOOD)) == "R"
    assert kind_of(BytesReader(GOOD_INDEX)) == "I"
    assert kind_of(BytesReader(b"nope")) is None


# ---------------------------------------------------------------------------
# Integrity: checksums over the head and the body (format version 3)


@pytest.mark.parametrize("at", range(len(GOOD)))
def test_any_damaged_byte_is_none(at: int) -> None:
    assert load_response(_flipped(GOOD, at)) is None


@pytest.mark.parametrize("at", range(len(GOOD_INDEX)))
def test_any_damaged_byte_of_an_index_is_none(at: int) -> None:
    assert load_index(_flipped(GOOD_INDEX, at)) is None


def _version_2(stored: Entry) -> bytes:
    """A value as format version 2 wrote it (no checksums)."""
    assert isinstance(stored.body, bytes)
    head = serialize.dump_head(stored.head)[:-4]
    head = head[: len(MAGIC)] + b"\x02" + head[len(MAGIC) + 1 :]
    return head + stored.body + struct.pack(">Q", len(stored.body))


def test_a_version_2_value_is_not_ours() -> None:
    old = _version_2(entry())
    assert load_response(old) is None
    assert kind_of(old) is None
    assert serialize.load_response_from(BytesReader(old), URL) is None


def _streamed(body: bytes, damage_at: Optional[int] = None) -> tuple[Entry, list[str]]:
    """A response decoded from a reader over its value, the body byte ``damage_at`` damaged
    in the store after it was written; and the list its damage reports go to."""
    data = dump_response(entry(body=body))
    if damage_at is not None:
        data = _flipped(data, _head_end(data) + 4 + damage_at)
    loaded = serialize.load_response_from(BytesReader(data), URL)
    assert loaded is not None and isinstance(loaded.body, StoredBody)  # the head is intact: decoded
    reports: list[str] = []
    loaded.body.on_damage = lambda: reports.append("damaged")
    return loaded, reports


BIG = bytes(range(256)) * 9000  # over _body.PIECE


def _read_all(stream: io.RawIOBase, size: int) -> bytes:
    parts: list[bytes] = []
    while True:
        piece = stream.read(size)
        if not piece:
            return b"".join(parts)
        parts.append(piece)


@pytest.mark.parametrize("size", [1000, 65536, -1])
def test_a_stream_of_an_intact_body_reads_it_all(size: int) -> None:
    loaded, reports = _streamed(BIG)
    assert isinstance(loaded.body, StoredBody)
    stream = loaded.body.stream()
    assert stream is not None
    assert _read_all(stream, size) == BIG
    assert reports == []
    assert loaded.body.read_verified() == BIG


@pytest.mark.parametrize("damage_at", [0, 5000, len(BIG) - 1])
@pytest.mark.parametrize("size", [1000, 65536, -1])
def test_a_stream_of_a_damaged_body_raises_before_its_end(damage_at: int, size: int) -> None:
    loaded, reports = _streamed(BIG, damage_at)
    assert isinstance(loaded.body, StoredBody)
    stream = loaded.body.stream()
    assert stream is not None
    handed: list[bytes] = []
    with pytest.raises(OSError, match="checksum"):
        while True:
            piece = stream.read(size)
            if not piece:
                break
            handed.append(piece)
    assert len(b"".join(handed)) < len(BIG)  # never the whole body, as a cut-short transfer
    assert reports == ["damaged"]
    with pytest.raises(OSError):
        stream.read(10)  # and it stays failed
    with pytest.raises(OSError):
        loaded.body.read_verified()
    assert reports == ["damaged"]  # reported once


def test_a_damaged_body_read_whole_raises_before_handing_a_byte() -> None:
    loaded, reports = _streamed(BIG, 123)
    assert isinstance(loaded.body, StoredBody)
    with pytest.raises(OSError):
        loaded.body.read_verified()
    assert reports == ["damaged"]
    stream = loaded.body.stream()
    assert stream is not None
    with pytest.raises(OSError):
        stream.read(10)  # what a caller would get instead: no byte at all


@pytest.mark.parametrize(("start", "stop"), [(0, 10), (100, 200), (len(BIG) - 5, len(BIG)), (1, len(BIG))])
def test_a_part_of_a_body_is_served_only_after_the_whole_body_checks_out(start: int, stop: int) -> None:
    loaded, reports = _streamed(BIG)
    assert isinstance(loaded.body, StoredBody)
    stream = loaded.body.stream(start, stop)
    assert stream is not None
    assert _read_all(stream, 4096) == BIG[start:stop]
    damaged, reports = _streamed(BIG, len(BIG) // 2)  # outside every part asked for
    assert isinstance(damaged.body, StoredBody)
    stream = damaged.body.stream(start, stop)
    assert stream is not None
    with pytest.raises(OSError, match="checksum"):
        stream.read(4096)
    assert reports == ["damaged"]


def test_an_empty_body_with_a_damaged_checksum_raises() -> None:
    data = _flipped(dump_response(entry(body=b"")), -1)
    loaded = serialize.load_response_from(BytesReader(data), URL)
    assert loaded is not None and isinstance(loaded.body, StoredBody)
    stream = loaded.body.stream()
    assert stream is not None
    with pytest.raises(OSError):
        stream.read()


@pytest.mark.parametrize("at", [len(MAGIC) + 7, len(MAGIC) + 30, -1])
def test_a_reader_with_a_damaged_head_is_none(at: int) -> None:
    head_end = _head_end(GOOD)
    data = _flipped(GOOD, head_end + at if at < 0 else at)  # -1: the head's checksum itself
    assert serialize.load_response_from(BytesReader(data), URL) is None

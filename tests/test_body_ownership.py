"""A body kept in the store has one owner at a time (DESIGN.md rule 5): the entry that
opened it, closed by ``with``; or the stream it was handed to, which closes it at its end."""

from __future__ import annotations

from httpcache._body import Entry, StoredBody
from httpcache._headers import Headers
from httpcache.cache import ValueReader
from httpcache.models import StoredResponse

BODY = b"0123456789" * 100


class Reader(ValueReader):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)
        self.closed = 0

    def pread(self, size: int, offset: int) -> bytes:
        assert not self.closed, "read after close"
        return self.data[offset : offset + size]

    def close(self) -> None:
        self.closed += 1


def entry() -> tuple[Entry, Reader]:
    reader = Reader(b"head" + BODY)
    head = StoredResponse("http://h/x", "GET", 200, "OK", Headers(), len(BODY), 0.0, 0.0)
    return Entry(head, StoredBody(reader, 4, len(BODY))), reader


def test_an_entry_closes_what_it_opened() -> None:
    found, reader = entry()
    with found:
        assert isinstance(found.body, StoredBody) and found.body.pread(4, 0) == b"0123"
    assert reader.closed == 1
    found.close()  # closing again changes nothing
    assert reader.closed == 1


def test_a_stream_owns_the_body_it_was_handed() -> None:
    found, reader = entry()
    with found:
        assert isinstance(found.body, StoredBody)
        stream = found.body.stream()
        assert stream is not None
        assert found.body.stream() is None  # one owner: not handed twice
    assert reader.closed == 0  # the entry let go, the stream still reads
    assert stream.read(10) == b"0123456789"
    assert stream.read() == BODY[10:]
    assert reader.closed == 1  # read to its end: closed by the stream
    stream.close()
    assert reader.closed == 1


def test_a_stream_closed_early_closes_the_body() -> None:
    found, reader = entry()
    with found:
        assert isinstance(found.body, StoredBody)
        stream = found.body.stream(0, 20)
        assert stream is not None
    stream.close()
    assert reader.closed == 1


def test_a_freshened_entry_shares_the_one_owner() -> None:
    found, reader = entry()
    with found:
        renewed = found.with_head(found.head.replace(reason="Fresh"))
        assert isinstance(renewed.body, StoredBody)
        stream = renewed.body.stream()
        assert stream is not None
    assert reader.closed == 0
    assert stream.read() == BODY and reader.closed == 1

"""The SQLite store's streaming reader (a snapshot of a chunked value) and chunked writer."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from typing import Optional, Protocol

from ..cache import ValueReader, ValueWriter
from ._sqlite_db import _INHERITED, _INSERT_CHUNK, _SELECT_CHUNK, _deadline, _Swept, _transaction

log = logging.getLogger("httpcache")


class _Store(Protocol):
    """What the reader and the writer use of their ``SQLiteCache`` (not imported here: no cycle)."""

    @property
    def path(self) -> str: ...
    @property
    def max_bytes(self) -> Optional[int]: ...
    @property
    def temp_max_age(self) -> float: ...
    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None: ...
    def delete(self, key: str) -> None: ...
    def _conn(self) -> sqlite3.Connection: ...
    def _publish(self, conn: sqlite3.Connection, row: tuple[object, ...]) -> None: ...
    def _failed(self, what: str, key: str, exc: sqlite3.Error) -> None: ...
    def _reader_connection(self) -> tuple[sqlite3.Connection, int]: ...
    def _reader_done(self, db: sqlite3.Connection, generation: int) -> None: ...


class _SQLiteReader(ValueReader):
    """A chunked value, read through a connection of its own that holds a read transaction
    (a snapshot) until ``close``. Thread-safe: one lock around each chunk fetched."""

    def __init__(self, cache: _Store, blob: int, size: int) -> None:
        self.length = size
        self._blob = blob
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._last: tuple[int, bytes] = (-1, b"")  # the last chunk fetched: (seq, data)
        self._cache = cache
        db, self._generation = cache._reader_connection()
        self._db: Optional[sqlite3.Connection] = db
        try:
            db.execute("BEGIN")  # the snapshot starts with the first SELECT
            count, low, high, total, first = db.execute(
                "SELECT count(*), min(seq), max(seq), sum(length(data)), "
                "(SELECT length(data) FROM httpcache_chunks WHERE blob = ?1 AND seq = 0) "
                "FROM httpcache_chunks WHERE blob = ?1",
                (blob,),
            ).fetchone()
        except BaseException:
            self.close()
            raise
        self._chunk: int = first or 1  # the chunk size, read from chunk 0
        # are the chunks all there, in sequence, of the right lengths in total?
        self.intact = bool(count and low == 0 and high == count - 1 and total == size and first)
        self.intact = self.intact and (count - 1) * first < size <= count * first

    def pread(self, size: int, offset: int) -> bytes:
        if size < 0 or offset < 0:
            raise ValueError(f"pread needs a size and an offset >= 0, not {size}, {offset}")
        with self._lock:
            if self._db is None:
                raise ValueError("pread on a closed ValueReader")
            if os.getpid() != self._pid:
                raise OSError(errno.EBADF, "a ValueReader of SQLiteCache cannot be used in a forked child")
            end = min(offset + size, self.length)
            pieces = []
            while offset < end:
                seq, skip = divmod(offset, self._chunk)
                piece = self._fetch(self._db, seq)[skip : skip + end - offset]
                pieces.append(piece)
                offset += len(piece)
            return b"".join(pieces)

    def _fetch(self, db: sqlite3.Connection, seq: int) -> bytes:
        """Chunk ``seq`` (the last one fetched is kept: callers read in small pieces)."""
        if self._last[0] == seq:
            return self._last[1]
        try:
            row = db.execute(_SELECT_CHUNK, (self._blob, seq)).fetchone()
        except sqlite3.Error as exc:
            raise OSError(errno.EIO, f"SQLiteCache: chunk {seq} unreadable: {exc}") from exc
        want = min(self._chunk, self.length - seq * self._chunk)
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != want:
            raise OSError(errno.EIO, f"SQLiteCache: chunk {seq} of a stored value is missing or damaged")
        self._last = (seq, row[0])
        return row[0]

    def close(self) -> None:
        with self._lock:  # (waits for a pread under way in another thread)
            db, self._db = self._db, None
            self._last = (-1, b"")
        if db is None:
            return
        if os.getpid() != self._pid:
            _INHERITED.append(db)  # the parent's: never touched here
            return
        self._cache._reader_done(db, self._generation)  # (ends the read transaction)

    def __del__(self) -> None:
        if getattr(self, "_db", None) is not None:
            self.close()


class _SQLiteWriter(ValueWriter):
    """A value being written in chunks (one thread at a time), through the thread's connection."""

    def __init__(self, cache: _Store, chunk: int) -> None:
        self._cache = cache
        self._chunk = chunk  # bytes per chunk (and the most kept inline): the store's ``_CHUNK``
        self.length = 0
        self._buffer = bytearray()  # at most one chunk
        self._blob: Optional[int] = None  # the pending blob, once a chunk has been written
        self._seq = 0  # the next chunk's
        self._touched = 0.0  # the last time the pending row's ``started`` was refreshed
        self._spent = False  # committed or aborted
        self._failed = False  # a database error, or over max_bytes: the rest is a no-op
        self._over = False

    def write(self, data: bytes) -> None:
        if self._spent:
            raise ValueError("write to a ValueWriter already committed or aborted")
        if self._failed:
            return
        view, pos = memoryview(data).cast("B"), 0
        self.length += len(view)
        max_bytes = self._cache.max_bytes
        if max_bytes is not None and self.length > max_bytes:  # not to be kept: dropped at once
            self._failed = self._over = True
            self._drop()
            return
        try:
            while pos < len(view):
                if len(self._buffer) >= self._chunk:
                    self._flush()
                take = self._chunk - len(self._buffer)
                self._buffer += view[pos : pos + take]
                pos += take
            if self._blob is not None and time.time() - self._touched > self._cache.temp_max_age / 4:
                conn = self._cache._conn()
                with _transaction(conn):
                    self._touch(conn, time.time())
        except sqlite3.Error as exc:
            self._fail("write", "*", exc)

    def commit(self, key: str, expires: Optional[float] = None) -> None:
        if self._spent:
            raise ValueError("commit of a ValueWriter already committed or aborted")
        self._spent = True
        cache = self._cache
        if self._failed:
            if self._over:
                log.debug("SQLiteCache: a %d-byte value is over max_bytes=%s: not stored", self.length, cache.max_bytes)
                cache.delete(key)
            return
        if self._blob is None:  # one chunk or less: inline, as ``set`` stores it
            value, self._buffer = bytes(self._buffer), bytearray()
            cache.set(key, value, expires)
            return
        now = time.time()
        keep, deadline = _deadline(expires, now)
        if not keep:
            self._drop()
            cache.delete(key)
            return
        try:
            conn = cache._conn()
            with _transaction(conn):
                if conn.execute("DELETE FROM httpcache_pending WHERE blob = ?", (self._blob,)).rowcount != 1:
                    raise _Swept("this writer's chunks were swept or cleared")
                conn.execute(_INSERT_CHUNK, (self._blob, self._seq, self._buffer))
                cache._publish(conn, (key, None, deadline, now, self.length, self._blob))
        except sqlite3.Error as exc:
            self._fail("commit", key, exc)
            return
        self._blob, self._buffer = None, bytearray()  # published: the entry's now, never dropped by us

    def abort(self) -> None:
        self._spent = True
        self._drop()

    def _flush(self) -> None:
        """Write the full buffer as the next chunk, in a short transaction of its own."""
        conn = self._cache._conn()
        now = time.time()
        with _transaction(conn):
            if self._blob is None:
                blob = conn.execute("INSERT INTO httpcache_pending (started) VALUES (?)", (now,)).lastrowid
            else:
                blob = self._touch(conn, now)
            conn.execute(_INSERT_CHUNK, (blob, self._seq, self._buffer))
        self._blob, self._touched = blob, now  # (only once committed: a rolled back id may be reused)
        self._seq += 1
        self._buffer = bytearray()

    def _touch(self, conn: sqlite3.Connection, now: float) -> int:
        """Refresh the pending row (a sign of life for ``sweep_pending``); raise ``_Swept`` if it is gone."""
        assert self._blob is not None
        if conn.execute("UPDATE httpcache_pending SET started = ? WHERE blob = ?", (now, self._blob)).rowcount != 1:
            raise _Swept("this writer's chunks were swept or cleared")
        self._touched = now
        return self._blob

    def _fail(self, what: str, key: str, exc: sqlite3.Error) -> None:
        """Fail open: log, drop what was written, and make the rest of this writer a no-op."""
        self._failed = True
        if isinstance(exc, _Swept):
            log.debug("SQLiteCache %s %s %r: %s: skipped", self._cache.path, what, key, exc)
        else:
            self._cache._failed(what, key, exc)
        self._drop()

    def _drop(self) -> None:
        """Delete this writer's chunks and pending row, if still pending (best effort: else swept later)."""
        blob, self._blob, self._buffer = self._blob, None, bytearray()
        if blob is None:
            return
        try:
            conn = self._cache._conn()
            with _transaction(conn):
                if conn.execute("DELETE FROM httpcache_pending WHERE blob = ?", (blob,)).rowcount:
                    conn.execute("DELETE FROM httpcache_chunks WHERE blob = ?", (blob,))
        except sqlite3.Error as exc:
            log.debug("SQLiteCache %s: a writer's chunks not removed (swept later): %s", self._cache.path, exc)

    def __del__(self) -> None:
        if getattr(self, "_blob", None) is not None and not self._spent:  # abandoned
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - at interpreter exit, in a busy connection: swept later
                pass

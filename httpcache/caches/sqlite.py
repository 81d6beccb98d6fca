"""A store in one SQLite file (stdlib ``sqlite3``, WAL mode), shared safely by threads and processes,
large values streamed in chunks.

House rules: one connection per thread and per process (a forked child opens its
own and never touches its parent's); every write is one ``BEGIN IMMEDIATE``
transaction, so a killed writer leaves the previous value; the number and bytes
of the entries are kept exact by triggers in a one-row ``httpcache_totals``
table, so LRU bounds cost one indexed ``DELETE`` and never a count. A busy or
broken database never raises: a read is a miss and a write is skipped, with a
warning on the ``httpcache`` logger (at most one per 10 seconds, the rest at
debug). Needs SQLite 3.24+ (upsert), which every supported Python bundles.

Streaming (``StreamingCache``, schema version 2): ``set``, and a writer that got
at most ``_CHUNK`` (256 KiB) bytes, store a value inline in ``httpcache.value``. A
larger streamed value has ``value`` NULL, ``size`` its length and ``blob`` an
id from ``httpcache_pending`` (AUTOINCREMENT: never reused); its bytes are the
rows of ``httpcache_chunks`` (``seq`` 0, 1, ..., ``_CHUNK`` bytes each but the
last). A writer buffers one chunk and writes each full one in a short
transaction of its own, never holding the write lock across a download;
``commit`` publishes in one transaction (last chunk, pending row deleted, main
row upserted), so readers see the old entry or the new one. Triggers delete a
row's chunks with the row or its replaced blob: eviction, expiry, ``delete``,
``clear`` and overwrites need no code of their own. ``open_read`` returns an
inline value as ``bytes``, a chunked one as a reader with a connection of its
own holding a read transaction: a WAL snapshot, so it reads the value it opened
even if the key is replaced or evicted meanwhile (a closed reader's connection,
its snapshot ended, is kept for the next one: up to ``_IDLE_READERS`` per store,
as opening one costs more than a small hit). A v1 database is emptied.

Design notes (where this departs from the first sketch, and why):

* ``httpcache_pending.started`` is refreshed with every chunk (and by a write at
  least every ``temp_max_age / 4`` s), in the chunk's transaction: it is the
  writer's last sign of life. As the start time, ``sweep_pending`` would remove
  the chunks of a download longer than ``temp_max_age`` (500 MB at 1 MB/s). A
  chunk is inserted only while its pending row exists, and a writer deletes only
  chunks still pending: a swept (or cleared) writer's commit is a skipped write,
  leaving no orphan chunk and never publishing a torn value.
* A full buffer is flushed only when more bytes come: values up to ``_CHUNK``
  stay inline. Readers take the chunk size from chunk 0, not from ``_CHUNK``.
* ``open_read`` checks the chunks' count, sequence and total length in its
  snapshot (cheap: lengths come from record headers): missing or truncated
  chunks are a miss (and removed), not an ``OSError`` half-way through a
  response; ``pread`` still checks each chunk's length.
* The snapshot's costs: while a reader is open the WAL cannot be reset, so it
  grows by what is written meanwhile; without WAL (a file system refusing it)
  an open reader makes every write wait, then be skipped, until it closes.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import sqlite3
import threading
import time
import weakref
from typing import Iterator, Optional, Union

from ..cache import StreamingCache, ValueReader, ValueWriter, _check_bounds
from ..exceptions import HTTPCacheError
from ._sqlite_db import (
    _INHERITED,
    _UPSERT,
    _current_in,
    _deadline,
    _evict,
    _prepare,
    _read_large_row,
    _transaction,
    _well_formed,
)
from ._sqlite_stream import _SQLiteReader, _SQLiteWriter

log = logging.getLogger("httpcache")

__all__ = ["SQLiteCache"]

_CHUNK = 1 << 18  # bytes per chunk of a streamed value (and the most a writer keeps inline)
_WARN_INTERVAL = 10.0
_MAX_PENDING_READS = 1000

_IDLE_READERS = 4  # readers' connections kept open for the next readers, per store
#: A lookup SELECTs an inline value up to this size; a larger one is read by ``_read_large``.
_SELECT_INLINE_MAX = 64 * 1024
_SELECT_ENTRY = "SELECT CASE WHEN length(value) <= ? THEN value END, expires, size, blob FROM httpcache WHERE key = ?"


class SQLiteCache(StreamingCache):
    """A store in one SQLite database file: expiry hints, optional exact LRU bounds, fail-open,
    large values written and read in chunks.

    ``max_entries`` / ``max_bytes`` (the sum of the values' lengths) are enforced in
    every write's transaction, evicting the least recently ``accessed`` rows. Reads
    stay read-only: a bounded instance notes them in memory and records them in
    ``accessed`` with its next write (or every 1000 reads), so the order is exact
    within a process and approximate between processes. ``timeout`` is the busy
    timeout in seconds. The file (and its WAL) are created with mode 0o600.
    ``temp_max_age`` (seconds): a streaming writer silent for that long counts as
    killed, and ``sweep_pending`` removes its chunks.
    """

    temp_max_age = 300.0

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
        timeout: float = 5.0,
    ) -> None:
        _check_bounds(max_entries, max_bytes)
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            raise HTTPCacheError(f"SQLiteCache needs a file path, not {self.path!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise HTTPCacheError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.timeout = float(timeout)
        self._bounded = max_entries is not None or max_bytes is not None
        self._reads: dict[str, float] = {}  # key -> last read, not yet written to ``accessed``
        self._reads_lock = threading.Lock()
        self._reads_pending = 0
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives its WAL the same mode
        self._local = threading.local()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._pid = os.getpid()
        self._generation = 0
        self._idle_readers: list[sqlite3.Connection] = []  # readers' connections, kept for the next (_IDLE_READERS)
        self._last_warning = -_WARN_INTERVAL
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def forget_parent() -> None:
                cache = ref()
                if cache is not None:
                    cache._forked()

            os.register_at_fork(after_in_child=forget_parent)
        try:
            self._conn()  # WAL mode and the schema, once, before threads share the store
        except sqlite3.Error as exc:
            self._failed("open", "*", exc)
        else:
            self.sweep_pending()

    # -- the store interface ----------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        try:
            value = self._lookup(key, whole=True)
        except sqlite3.Error as exc:
            self._failed("get", key, exc)
            return None
        assert not isinstance(value, _SQLiteReader)
        return value

    def open_read(self, key: str) -> Union[bytes, ValueReader, None]:
        try:
            return self._lookup(key, whole=False)
        except sqlite3.Error as exc:
            self._failed("get", key, exc)
            return None

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        now = time.time()
        keep, deadline = _deadline(expires, now)
        if not keep:
            self.delete(key)
            return
        if self.max_bytes is not None and len(value) > self.max_bytes:
            log.debug("SQLiteCache: a %d-byte value is over max_bytes=%d: not stored", len(value), self.max_bytes)
            self.delete(key)
            return
        try:
            conn = self._conn()
            with _transaction(conn):
                self._publish(conn, (key, value, deadline, now, len(value), None))
        except sqlite3.Error as exc:
            self._failed("set", key, exc)

    def open_write(self) -> ValueWriter:
        return _SQLiteWriter(self, _CHUNK)

    def compare_and_set(
        self, key: str, expected: Optional[bytes], value: Optional[bytes], expires: Optional[float] = None
    ) -> bool:
        """``BaseCache.compare_and_set`` in one ``BEGIN IMMEDIATE`` transaction: atomic across
        threads and processes. A busy or broken database: False (warned)."""
        now = time.time()
        keep, deadline = _deadline(expires, now)
        if value is not None and self.max_bytes is not None and len(value) > self.max_bytes:
            return False
        try:
            conn = self._conn()
            with _transaction(conn):
                if _current_in(conn, key, now) != expected:
                    return False
                if value is None or not keep:
                    conn.execute("DELETE FROM httpcache WHERE key = ?", (key,))
                else:
                    self._publish(conn, (key, value, deadline, now, len(value), None))
            return True
        except sqlite3.Error as exc:
            self._failed("compare_and_set", key, exc)
            return False

    def max_value_size(self) -> Optional[int]:
        """``max_bytes``: a larger value is not stored."""
        return self.max_bytes

    def delete(self, key: str) -> None:
        try:
            self._conn().execute("DELETE FROM httpcache WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            self._failed("delete", key, exc)

    def acquire_lease(self, key: str, seconds: float) -> Optional[str]:
        """Cross-process coalescing: a row in ``httpcache_leases``, taken if absent or expired
        (one upsert). A busy or broken database grants an empty token (fetch, uncoordinated)."""
        token = secrets.token_hex(16)
        now = time.time()
        try:
            cur = self._conn().execute(
                "INSERT INTO httpcache_leases (key, token, until) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET token = excluded.token, until = excluded.until "
                "WHERE httpcache_leases.until <= ?",
                (key, token, now + seconds, now),
            )
        except sqlite3.Error as exc:
            self._failed("acquire_lease", key, exc)
            return ""
        return token if cur.rowcount == 1 else None

    def release_lease(self, key: str, token: str) -> None:
        try:
            self._conn().execute("DELETE FROM httpcache_leases WHERE key = ? AND token = ?", (key, token))
        except sqlite3.Error as exc:
            self._failed("release_lease", key, exc)

    def clear(self) -> None:
        """Remove every entry (and the chunks of the writers under way: their commits are skipped)."""
        try:
            conn = self._conn()
            with _transaction(conn):
                conn.execute("DELETE FROM httpcache_chunks")
                conn.execute("DELETE FROM httpcache_pending")
                conn.execute("DELETE FROM httpcache")
                conn.execute("UPDATE httpcache_totals SET entries = 0, bytes = 0")
        except sqlite3.Error as exc:
            self._failed("clear", "*", exc)

    def purge_expired(self) -> int:
        """Remove the expired entries (and killed writers' leftovers: ``sweep_pending``); return how many entries."""
        self.sweep_pending()
        try:
            cur = self._conn().execute(
                "DELETE FROM httpcache WHERE expires IS NOT NULL AND expires <= ?", (time.time(),)
            )
            return max(cur.rowcount, 0)
        except sqlite3.Error as exc:
            self._failed("purge_expired", "*", exc)
            return 0

    def sweep_pending(self, max_age: Optional[float] = None) -> int:
        """Remove the chunks of streaming writers silent for ``max_age`` seconds (default
        ``temp_max_age``): killed writers' leftovers. Return how many writers'."""
        cutoff = time.time() - (self.temp_max_age if max_age is None else max_age)
        try:
            conn = self._conn()
            stale = "SELECT blob FROM httpcache_pending WHERE coalesce(started, 0) <= ?"
            if conn.execute(stale + " LIMIT 1", (cutoff,)).fetchone() is None:
                return 0  # (the common case costs no write lock)
            with _transaction(conn):
                conn.execute(f"DELETE FROM httpcache_chunks WHERE blob IN ({stale})", (cutoff,))
                cur = conn.execute(f"DELETE FROM httpcache_pending WHERE blob IN ({stale})", (cutoff,))
                return max(cur.rowcount, 0)
        except sqlite3.Error as exc:
            self._failed("sweep_pending", "*", exc)
            return 0

    def close(self) -> None:
        """Close every connection this instance opened (a later call opens new ones; open readers stay open)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
            idle, self._idle_readers = self._idle_readers, []
            self._generation += 1
        for conn in [c for _, c in conns] + idle:
            conn.close()

    def keys(self) -> Iterator[str]:
        """Every key not expired (one ``SELECT``, a snapshot; errors are raised)."""
        rows = self._conn().execute("SELECT key FROM httpcache WHERE expires IS NULL OR expires > ?", (time.time(),))
        return iter([str(row[0]) for row in rows.fetchall()])

    def __len__(self) -> int:
        """The number of entries (expired entries not yet removed count); 0 if the database is unusable."""
        try:
            row = self._conn().execute("SELECT count(*) FROM httpcache").fetchone()
            return int(row[0])
        except sqlite3.Error as exc:
            self._failed("len", "*", exc)
            return 0

    # -- internals --------------------------------------------------------------------

    def _lookup(self, key: str, whole: bool) -> Union[bytes, _SQLiteReader, None]:
        """The value at ``key``: bytes, or a reader of a chunked value unless ``whole``."""
        conn = self._conn()
        row = conn.execute(_SELECT_ENTRY, (_SELECT_INLINE_MAX, key)).fetchone()
        if row is None:
            return None
        value, expires, size, blob = row
        if value is None and blob is None:  # an inline value too large to SELECT cheaply
            large = self._read_large(conn, key)
            if large is None:
                return None
            value, expires, size, blob = large
        now = time.time()
        if not _well_formed(value, expires, size, blob):
            log.debug("SQLiteCache row %r is not a well-formed entry: deleted, a miss", key)
            self._quietly(conn, "DELETE FROM httpcache WHERE key = ?", (key,))
            return None
        if expires is not None and expires <= now:
            self._quietly(conn, "DELETE FROM httpcache WHERE key = ? AND expires <= ?", (key, now))
            return None
        result: Union[bytes, _SQLiteReader, None] = value
        if blob is not None:
            reader = _SQLiteReader(self, blob, size)
            try:
                if not reader.intact:  # (or replaced since the row was read: then the DELETE is a no-op)
                    raise OSError(errno.EIO, "chunks missing or damaged")
                result = reader.pread(size, 0) if whole else reader
            except OSError as exc:
                log.debug("SQLiteCache row %r: %s: deleted, a miss", key, exc)
                self._quietly(conn, "DELETE FROM httpcache WHERE key = ? AND blob = ?", (key, blob))
                result = None
            finally:
                if result is not reader:
                    reader.close()
            if result is None:
                return None
        self._note_read(conn, key, now)
        return result

    _read_large = staticmethod(_read_large_row)  # (a class attribute: a subclass or a test may replace it)

    def _publish(self, conn: sqlite3.Connection, row: tuple[object, ...]) -> None:
        """Upsert ``row`` (``_UPSERT``'s parameters) in the write's transaction, with pending reads and eviction."""
        if self._bounded:
            self._write_reads(conn)
        conn.execute(_UPSERT, row)
        if self._bounded:
            _evict(conn, self.max_entries, self.max_bytes)

    def _note_read(self, conn: sqlite3.Connection, key: str, now: float) -> None:
        """Note a read for LRU (written with the next write, or now if 1000 are pending)."""
        if not self._bounded:
            return
        with self._reads_lock:
            self._reads[key] = now
            self._reads_pending += 1
            pending = self._reads_pending
        if pending >= _MAX_PENDING_READS:  # a store that is read and seldom written
            try:
                with _transaction(conn):
                    self._write_reads(conn)
            except sqlite3.Error as exc:
                log.debug("SQLiteCache %s: last reads not recorded: %s", self.path, exc)

    def _write_reads(self, conn: sqlite3.Connection) -> None:
        """Record the reads made since the last write in ``accessed`` (in a write's transaction)."""
        with self._reads_lock:
            reads, self._reads, self._reads_pending = self._reads, {}, 0
        if reads:
            conn.executemany(
                "UPDATE httpcache SET accessed = ? WHERE key = ? AND accessed < ?",
                [(when, key, when) for key, when in reads.items()],
            )

    def _quietly(self, conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> None:
        """A best-effort write (removing a dead row): a busy database is not a failure."""
        try:
            conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            log.debug("SQLiteCache %s: skipped: %s", self.path, exc)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one in a new thread, after ``close()``, after ``fork()``)."""
        if os.getpid() != self._pid:
            self._forked()
        local = self._local
        conn: Optional[sqlite3.Connection] = getattr(local, "conn", None)
        if conn is not None and local.generation == self._generation:
            return conn
        conn = self._connect()
        with self._conns_lock:
            alive = []
            for thread, other in self._conns:
                if thread.is_alive():
                    alive.append((thread, other))
                else:
                    other.close()  # its thread has ended
            alive.append((threading.current_thread(), conn))
            self._conns = alive
            local.conn, local.generation = conn, self._generation
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    _prepare(conn)
                    return conn
                except sqlite3.OperationalError as exc:
                    # switching to WAL can be refused at once, without waiting, while others open the file
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.005)
        except BaseException:
            conn.close()
            raise

    def _forked(self) -> None:
        """In a forked child: forget (never close) the parent's connections."""
        if os.getpid() == self._pid:
            return
        _INHERITED.extend(conn for _, conn in self._conns)
        _INHERITED.extend(self._idle_readers)
        self._conns, self._idle_readers = [], []
        self._conns_lock = threading.Lock()  # the parent's may have been held at fork time
        self._local = threading.local()
        self._pid = os.getpid()

    def _reader_connection(self) -> tuple[sqlite3.Connection, int]:
        """A connection for one reader (its own: a reader holds a snapshot), idle or new,
        with the generation it belongs to (see ``_reader_done``)."""
        if os.getpid() != self._pid:
            self._forked()
        with self._conns_lock:
            generation = self._generation
            if self._idle_readers:
                return self._idle_readers.pop(), generation
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA cache_size = -256")  # KiB: a reader reads each chunk once, in order
        except BaseException:
            db.close()
            raise
        return db, generation

    def _reader_done(self, db: sqlite3.Connection, generation: int) -> None:
        """A reader's connection, its snapshot ended, kept for the next reader (opening one
        costs more than a small hit) unless enough are kept or the store was closed since."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")  # ends the read transaction: the WAL may move on
            with self._conns_lock:
                if generation == self._generation and len(self._idle_readers) < _IDLE_READERS:
                    self._idle_readers.append(db)
                    return
        except sqlite3.Error:
            pass
        db.close()

    def _failed(self, what: str, key: str, exc: sqlite3.Error) -> None:
        now = time.monotonic()
        level = logging.WARNING if now - self._last_warning >= _WARN_INTERVAL else logging.DEBUG
        if level == logging.WARNING:
            self._last_warning = now
        verb = "a miss" if what == "get" else "skipped"
        log.log(level, "SQLiteCache %s %s %r: %s: %s: %s", self.path, what, key, type(exc).__name__, exc, verb)

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
import math
import os
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional, Union

from ..cache import StreamingCache, ValueReader, ValueWriter, _check_bounds
from ..exceptions import HTTPCacheError

log = logging.getLogger("httpcache")

__all__ = ["SQLiteCache"]

_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS httpcache (
    key TEXT PRIMARY KEY, value BLOB, expires REAL, accessed REAL, size INTEGER, blob INTEGER
);
CREATE INDEX IF NOT EXISTS httpcache_accessed ON httpcache (accessed);
CREATE INDEX IF NOT EXISTS httpcache_expires ON httpcache (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS httpcache_chunks (
    id INTEGER PRIMARY KEY, blob INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS httpcache_chunks_seq ON httpcache_chunks (blob, seq);
CREATE TABLE IF NOT EXISTS httpcache_pending (blob INTEGER PRIMARY KEY AUTOINCREMENT, started REAL);
CREATE TABLE IF NOT EXISTS httpcache_leases (key TEXT PRIMARY KEY, token TEXT NOT NULL, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS httpcache_totals (
    id INTEGER PRIMARY KEY CHECK (id = 0), entries INTEGER NOT NULL, bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO httpcache_totals
    SELECT 0, count(*), coalesce(sum(size), 0) FROM httpcache;
CREATE TRIGGER IF NOT EXISTS httpcache_inserted AFTER INSERT ON httpcache BEGIN
    UPDATE httpcache_totals SET entries = entries + 1, bytes = bytes + coalesce(NEW.size, 0) WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS httpcache_deleted AFTER DELETE ON httpcache BEGIN
    UPDATE httpcache_totals SET entries = entries - 1, bytes = bytes - coalesce(OLD.size, 0) WHERE id = 0;
    DELETE FROM httpcache_chunks WHERE blob = OLD.blob;
END;
CREATE TRIGGER IF NOT EXISTS httpcache_resized AFTER UPDATE OF size ON httpcache BEGIN
    UPDATE httpcache_totals SET bytes = bytes - coalesce(OLD.size, 0) + coalesce(NEW.size, 0) WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS httpcache_reblobbed AFTER UPDATE OF blob ON httpcache
WHEN OLD.blob IS NOT NEW.blob BEGIN
    DELETE FROM httpcache_chunks WHERE blob = OLD.blob;
END;
"""
_UPSERT = (
    "INSERT INTO httpcache (key, value, expires, accessed, size, blob) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires, "
    "accessed = excluded.accessed, size = excluded.size, blob = excluded.blob"
)
_INSERT_CHUNK = "INSERT INTO httpcache_chunks (blob, seq, data) VALUES (?, ?, ?)"
_SELECT_CHUNK = "SELECT data FROM httpcache_chunks WHERE blob = ? AND seq = ?"
_CHUNK = 1 << 18  # bytes per chunk of a streamed value (and the most a writer keeps inline)
_WARN_INTERVAL = 10.0
_MAX_PENDING_READS = 1000

# Connections inherited from a parent process: never used, never closed (closing one in
# the child could disturb the parent's database), kept referenced so they are never collected.
_INHERITED: list[sqlite3.Connection] = []
_IDLE_READERS = 4  # readers' connections kept open for the next readers, per store
#: A lookup SELECTs an inline value up to this size; a larger one is read by ``_read_large``.
_SELECT_INLINE_MAX = 64 * 1024
_SELECT_ENTRY = "SELECT CASE WHEN length(value) <= ? THEN value END, expires, size, blob FROM httpcache WHERE key = ?"


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction: the write lock is taken first (waiting up to the busy timeout)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


class _Swept(sqlite3.DatabaseError):
    """A writer's pending blob is gone (swept or cleared): its value cannot be published."""


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
        return _SQLiteWriter(self)

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
                if self._current_in(conn, key, now) != expected:
                    return False
                if value is None or not keep:
                    conn.execute("DELETE FROM httpcache WHERE key = ?", (key,))
                else:
                    self._publish(conn, (key, value, deadline, now, len(value), None))
            return True
        except sqlite3.Error as exc:
            self._failed("compare_and_set", key, exc)
            return False

    @staticmethod
    def _current_in(conn: sqlite3.Connection, key: str, now: float) -> Optional[bytes]:
        """The whole value at ``key`` in the transaction under way (None: absent, expired or damaged)."""
        row = conn.execute("SELECT value, expires, size, blob FROM httpcache WHERE key = ?", (key,)).fetchone()
        if row is None or not _well_formed(*row):
            return None
        value, expires, size, blob = row
        if expires is not None and expires <= now:
            return None
        if blob is None:
            return bytes(value)
        chunks = conn.execute("SELECT data FROM httpcache_chunks WHERE blob = ? ORDER BY seq", (blob,)).fetchall()
        whole = b"".join(bytes(c[0]) for c in chunks)
        return whole if len(whole) == size else None

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

    @staticmethod
    def _read_large(conn: sqlite3.Connection, key: str) -> Optional[tuple[object, object, object, object]]:
        """The row at ``key`` with a large inline value read through incremental blob I/O:
        SELECTing a blob of a megabyte costs SQLite a buffer of its own and Python a copy,
        ten times the read itself. Row and value come from one read transaction."""
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT value IS NULL, expires, size, blob, rowid FROM httpcache WHERE key = ?", (key,))
            found = row.fetchone()
            if found is None:
                return None
            null, expires, size, blob, rowid = found
            if null or not hasattr(conn, "blobopen"):  # Python < 3.11: SELECT it
                value = conn.execute("SELECT value FROM httpcache WHERE rowid = ?", (rowid,)).fetchone()[0]
            else:
                with conn.blobopen("httpcache", "value", rowid, readonly=True) as handle:
                    value = handle.read()
            return value, expires, size, blob
        finally:
            if own:
                conn.execute("COMMIT")

    def _publish(self, conn: sqlite3.Connection, row: tuple[object, ...]) -> None:
        """Upsert ``row`` (``_UPSERT``'s parameters) in the write's transaction, with pending reads and eviction."""
        if self._bounded:
            self._write_reads(conn)
        conn.execute(_UPSERT, row)
        if self._bounded:
            self._evict(conn)

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

    def _evict(self, conn: sqlite3.Connection) -> None:
        """Delete the least recently used rows until within the bounds (in the write's transaction)."""
        entries, total = conn.execute("SELECT entries, bytes FROM httpcache_totals WHERE id = 0").fetchone()
        if self.max_entries is not None and entries > self.max_entries:
            conn.execute(
                "DELETE FROM httpcache WHERE key IN (SELECT key FROM httpcache ORDER BY accessed, rowid LIMIT ?)",
                (entries - self.max_entries,),
            )
            total = conn.execute("SELECT bytes FROM httpcache_totals WHERE id = 0").fetchone()[0]
        if self.max_bytes is not None and total > self.max_bytes:
            excess = total - self.max_bytes
            victims: list[tuple[str]] = []
            for key, size in conn.execute("SELECT key, coalesce(size + 0, 0) FROM httpcache ORDER BY accessed, rowid"):
                victims.append((key,))
                excess -= size
                if excess <= 0:
                    break
            conn.executemany("DELETE FROM httpcache WHERE key = ?", victims)

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
                    self._prepare(conn)
                    return conn
                except sqlite3.OperationalError as exc:
                    # switching to WAL can be refused at once, without waiting, while others open the file
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.005)
        except BaseException:
            conn.close()
            raise

    @staticmethod
    def _prepare(conn: sqlite3.Connection) -> None:
        """WAL mode, and the schema if the database has none yet (a version-1 one is replaced)."""
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.debug("SQLiteCache: journal mode %s (WAL unavailable)", mode)
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
            return
        with _transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:  # a cache: its entries are dropped, not converted
                conn.execute("DROP TABLE IF EXISTS httpcache")
                conn.execute("DROP TABLE IF EXISTS httpcache_totals")
            elif version not in (0, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"not an httpcache database of this version (user_version {version})")
            for statement in _statements(_SCHEMA):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

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


class _SQLiteReader(ValueReader):
    """A chunked value, read through a connection of its own that holds a read transaction
    (a snapshot) until ``close``. Thread-safe: one lock around each chunk fetched."""

    def __init__(self, cache: SQLiteCache, blob: int, size: int) -> None:
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

    def __init__(self, cache: SQLiteCache) -> None:
        self._cache = cache
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
                if len(self._buffer) >= _CHUNK:
                    self._flush()
                take = _CHUNK - len(self._buffer)
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


def _deadline(expires: Optional[float], now: float) -> tuple[bool, Optional[float]]:
    """(keep the value?, its deadline) for an expiry hint: <= 0 is not kept; None, NaN, inf: no deadline."""
    if expires is None or not math.isfinite(expires):
        return True, None
    return expires > 0, now + expires


def _well_formed(value: object, expires: object, size: object, blob: object) -> bool:
    """Is this row an inline entry (bytes of ``size``) or a chunked one (NULL value, a blob id)?"""
    if not (expires is None or type(expires) in (int, float)) or type(size) is not int:
        return False
    if blob is None:
        return isinstance(value, bytes) and size == len(value)
    return value is None and type(blob) is int and size > 0


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script``, each complete (triggers included)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""

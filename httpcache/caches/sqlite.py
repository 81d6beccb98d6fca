"""A store in one SQLite file (stdlib ``sqlite3``, WAL mode), shared safely by threads and processes.

House rules: one connection per thread and per process (a forked child opens its
own and never touches its parent's); every write is one ``BEGIN IMMEDIATE``
transaction, so a killed writer leaves the previous value; the number and bytes
of the entries are kept exact by triggers in a one-row ``httpcache_totals``
table, so LRU bounds cost one indexed ``DELETE`` and never a count. A busy or
broken database never raises: a read is a miss and a write is skipped, with a
warning on the ``httpcache`` logger (at most one per 10 seconds, the rest at
debug). Needs SQLite 3.24+ (upsert), which every supported Python bundles.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional, Union

from ..cache import BaseCache, _check_bounds
from ..exceptions import HTTPCacheError

log = logging.getLogger("httpcache")

__all__ = ["SQLiteCache"]

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS httpcache (
    key TEXT PRIMARY KEY,
    value BLOB,
    expires REAL,
    accessed REAL,
    size INTEGER
);
CREATE INDEX IF NOT EXISTS httpcache_accessed ON httpcache (accessed);
CREATE INDEX IF NOT EXISTS httpcache_expires ON httpcache (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS httpcache_totals (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO httpcache_totals
    SELECT 0, count(*), coalesce(sum(length(value)), 0) FROM httpcache;
CREATE TRIGGER IF NOT EXISTS httpcache_inserted AFTER INSERT ON httpcache BEGIN
    UPDATE httpcache_totals SET entries = entries + 1, bytes = bytes + coalesce(length(NEW.value), 0) WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS httpcache_deleted AFTER DELETE ON httpcache BEGIN
    UPDATE httpcache_totals SET entries = entries - 1, bytes = bytes - coalesce(length(OLD.value), 0) WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS httpcache_updated AFTER UPDATE OF value ON httpcache BEGIN
    UPDATE httpcache_totals
    SET bytes = bytes - coalesce(length(OLD.value), 0) + coalesce(length(NEW.value), 0) WHERE id = 0;
END;
"""
_UPSERT = (
    "INSERT INTO httpcache (key, value, expires, accessed, size) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires, "
    "accessed = excluded.accessed, size = excluded.size"
)
_WARN_INTERVAL = 10.0
_MAX_PENDING_READS = 1000

# Connections inherited from a parent process: never used, never closed (closing one in
# the child could disturb the parent's database), kept referenced so they are never collected.
_INHERITED: list[sqlite3.Connection] = []


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


class SQLiteCache(BaseCache):
    """A store in one SQLite database file: expiry hints, optional exact LRU bounds, fail-open.

    ``max_entries`` / ``max_bytes`` (the sum of the values' lengths) are enforced in
    every write's transaction, evicting the least recently ``accessed`` rows. Reads
    stay read-only: a bounded instance notes them in memory and records them in
    ``accessed`` with its next write (or every 1000 reads), so the order is exact
    within a process and approximate between processes. ``timeout`` is the busy
    timeout in seconds. The file (and its WAL) are created with mode 0o600.
    """

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

    # -- the store interface ----------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        try:
            return self._get(key)
        except sqlite3.Error as exc:
            self._failed("get", key, exc)
            return None

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        now = time.time()
        deadline: Optional[float] = None
        if expires is not None and math.isfinite(expires):
            if expires <= 0:
                self.delete(key)
                return
            deadline = now + expires
        if self.max_bytes is not None and len(value) > self.max_bytes:
            log.debug("SQLiteCache: a %d-byte value is over max_bytes=%d: not stored", len(value), self.max_bytes)
            self.delete(key)
            return
        try:
            conn = self._conn()
            with _transaction(conn):
                if self._bounded:
                    self._write_reads(conn)
                conn.execute(_UPSERT, (key, value, deadline, now, len(value)))
                if self._bounded:
                    self._evict(conn)
        except sqlite3.Error as exc:
            self._failed("set", key, exc)

    def delete(self, key: str) -> None:
        try:
            self._conn().execute("DELETE FROM httpcache WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            self._failed("delete", key, exc)

    def clear(self) -> None:
        """Remove every entry."""
        try:
            conn = self._conn()
            with _transaction(conn):
                conn.execute("DELETE FROM httpcache")
                conn.execute("UPDATE httpcache_totals SET entries = 0, bytes = 0")
        except sqlite3.Error as exc:
            self._failed("clear", "*", exc)

    def purge_expired(self) -> int:
        """Remove the expired entries; return how many."""
        try:
            cur = self._conn().execute(
                "DELETE FROM httpcache WHERE expires IS NOT NULL AND expires <= ?", (time.time(),)
            )
            return max(cur.rowcount, 0)
        except sqlite3.Error as exc:
            self._failed("purge_expired", "*", exc)
            return 0

    def close(self) -> None:
        """Close every connection this instance opened (a later call opens new ones)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._generation += 1
        for _, conn in conns:
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

    def _get(self, key: str) -> Optional[bytes]:
        conn = self._conn()
        row = conn.execute("SELECT value, expires, size FROM httpcache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value, expires, size = row
        now = time.time()
        if (
            not isinstance(value, bytes)
            or type(size) is not int
            or size != len(value)
            or not (expires is None or type(expires) in (int, float))
        ):
            log.debug("SQLiteCache row %r is not a well-formed entry: deleted, a miss", key)
            self._quietly(conn, "DELETE FROM httpcache WHERE key = ?", (key,))
            return None
        if expires is not None and expires <= now:
            self._quietly(conn, "DELETE FROM httpcache WHERE key = ? AND expires <= ?", (key, now))
            return None
        if self._bounded:
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
        return value

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
            for key, size in conn.execute("SELECT key, length(value) FROM httpcache ORDER BY accessed, rowid"):
                victims.append((key,))
                excess -= size or 0
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
        """WAL mode, and the schema if the database has none yet."""
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.debug("SQLiteCache: journal mode %s (WAL unavailable)", mode)
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
            return
        with _transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"not an httpcache database of this version (user_version {version})")
            for statement in _statements(_SCHEMA):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def _forked(self) -> None:
        """In a forked child: forget (never close) the parent's connections."""
        if os.getpid() == self._pid:
            return
        _INHERITED.extend(conn for _, conn in self._conns)
        self._conns = []
        self._conns_lock = threading.Lock()  # the parent's may have been held at fork time
        self._local = threading.local()
        self._pid = os.getpid()

    def _failed(self, what: str, key: str, exc: sqlite3.Error) -> None:
        now = time.monotonic()
        level = logging.WARNING if now - self._last_warning >= _WARN_INTERVAL else logging.DEBUG
        if level == logging.WARNING:
            self._last_warning = now
        verb = "a miss" if what == "get" else "skipped"
        log.log(level, "SQLiteCache %s %s %r: %s: %s: %s", self.path, what, key, type(exc).__name__, exc, verb)


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script``, each complete (triggers included)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""

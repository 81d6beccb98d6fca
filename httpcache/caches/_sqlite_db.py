"""The SQLite store's schema and SQL helpers: statements, transactions, migration, LRU eviction (no store state)."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

log = logging.getLogger("httpcache")

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


class _Swept(sqlite3.DatabaseError):
    """A writer's pending blob is gone (swept or cleared): its value cannot be published."""


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


def _read_large_row(conn: sqlite3.Connection, key: str) -> Optional[tuple[object, object, object, object]]:
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


def _evict(conn: sqlite3.Connection, max_entries: Optional[int], max_bytes: Optional[int]) -> None:
    """Delete the least recently used rows until within the bounds (in the write's transaction)."""
    entries, total = conn.execute("SELECT entries, bytes FROM httpcache_totals WHERE id = 0").fetchone()
    if max_entries is not None and entries > max_entries:
        conn.execute(
            "DELETE FROM httpcache WHERE key IN (SELECT key FROM httpcache ORDER BY accessed, rowid LIMIT ?)",
            (entries - max_entries,),
        )
        total = conn.execute("SELECT bytes FROM httpcache_totals WHERE id = 0").fetchone()[0]
    if max_bytes is not None and total > max_bytes:
        excess = total - max_bytes
        victims: list[tuple[str]] = []
        for key, size in conn.execute("SELECT key, coalesce(size + 0, 0) FROM httpcache ORDER BY accessed, rowid"):
            victims.append((key,))
            excess -= size
            if excess <= 0:
                break
        conn.executemany("DELETE FROM httpcache WHERE key = ?", victims)


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

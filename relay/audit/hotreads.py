"""Hot proof reads on one long-lived connection, without the pool.

An inclusion or consistency proof is ONE indexed statement reading about twenty rows
(:mod:`relay.audit.proofs`). Through SQLAlchemy's pool most of its time is the checkout:
on SQLite two hand-offs to aiosqlite's thread, on PostgreSQL the pre-ping. So proofs read
through a :class:`HotReader` first:

- **SQLite**: one read-only ``sqlite3`` connection (``mode=ro``, ``query_only``) used in
  the event loop's own thread. The statement takes tens of microseconds, less than one
  thread hand-off; in WAL mode a reader never waits for the writer, and ``busy_timeout``
  is 0 so that it never blocks the loop: a busy or failing read is answered by the pool.
- **PostgreSQL**: one ``asyncpg`` connection (its prepared statement cached), used by one
  proof at a time; a proof arriving while it is busy goes through the pool.

Like a pooled connection it fails when the database does (a broken connection raises, a
new one is refused), so a relay whose database is down answers proofs 503 as every other
path does.

Either way a read that cannot be served here returns None and the caller uses the pool
as before, so this changes how fast a proof is read, never what it says. After a failure
the connection is dropped and not tried again for :data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

RETRY_SECONDS = 1.0
"""After a failure, proofs go through the pool for this long before reconnecting."""
FAILURES = (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
"""What a read or a connection attempt may raise when the database or the way to it fails."""


class HotReader:
    """A long-lived read connection for single-statement proof reads."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.postgres = parsed.drivername.startswith("postgresql")
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        database = parsed.database or ""
        self._path = None if self.postgres or database in ("", ":memory:") else database
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None  # asyncpg.Connection
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self.served = 0  # reads served here (for tests and the benchmark)

    async def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        """The rows of ``sql`` (driver-level, the driver's placeholders) with ``params``,
        or None: not available now, read through the pool."""
        if self._path is None and not self.postgres:
            return None
        if time.monotonic() < self._retry_at or self._lock.locked():
            return None  # failed a moment ago, or another proof is reading (PostgreSQL)
        async with self._lock:
            try:
                if self._sqlite is None and self._pg is None:
                    await self._connect()
                if self._sqlite is not None:
                    found = self._sqlite.execute(sql, params).fetchall()
                else:
                    found = [tuple(r) for r in await self._pg.fetch(sql, *params)]
            except FAILURES:
                await self.drop()
                self._retry_at = time.monotonic() + RETRY_SECONDS
                return None
        self.served += 1
        return found

    async def _connect(self) -> None:
        """Open the connection (one attempt)."""
        if self.postgres:
            self._pg = await asyncpg.connect(self._dsn, timeout=5)
        elif self._path is not None:
            self._sqlite = _open_sqlite(self._path)

    async def drop(self) -> None:
        """Close the connection; the next read opens a new one."""
        lite, self._sqlite = self._sqlite, None
        conn, self._pg = self._pg, None
        if lite is not None:
            lite.close()
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        self._retry_at = float("inf")
        await self.drop()


def _open_sqlite(path: str) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA busy_timeout=0")
    return conn

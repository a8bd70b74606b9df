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
        if time.monotonic() < self._retry_at:
            return None
        if self.postgres:
            return await self._pg_rows(sql, params)
        return self._sqlite_rows(sql, params)

    def _sqlite_rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        if self._path is None:
            return None
        try:
            if self._sqlite is None:
                self._sqlite = _open_sqlite(self._path)
            found = self._sqlite.execute(sql, params).fetchall()
        except sqlite3.Error:
            self._failed()
            return None
        self.served += 1
        return found

    async def _pg_rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        if self._lock.locked():
            return None  # another proof is reading: this one takes the pool
        async with self._lock:
            try:
                if self._pg is None:
                    self._pg = await asyncpg.connect(self._dsn, timeout=5)
                records = await self._pg.fetch(sql, *params)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                await self._drop_pg()
                self._failed()
                return None
        self.served += 1
        return [tuple(r) for r in records]

    def _failed(self) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    async def _drop_pg(self) -> None:
        conn, self._pg = self._pg, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        self._failed()
        await self._drop_pg()


def _open_sqlite(path: str) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA busy_timeout=0")
    return conn

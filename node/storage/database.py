"""The node's SQLite database file: engines, pragmas, creation, one writer at a time.

The database holds plaintext of sent and received requests: it is created with mode 0600.
SQLite runs in WAL mode with ``synchronous=FULL``, so a commit survives a crash of the
process (``kill -9``) and of the machine. ``node send`` and ``node run`` may use the store at
the same time: every write transaction starts with ``BEGIN IMMEDIATE`` (a writer waits for
another instead of failing on a lock upgrade), reads go through a second engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Select, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from keys.errors import LocalError
from node.storage import schema
from node.storage.schema import meta

BUSY_TIMEOUT_MS = 15000


class StoreError(LocalError):
    """The local database cannot be used."""

    code = "store_error"


def _engine(path: Path, *, writer: bool) -> AsyncEngine:
    """An engine on ``path``. The writer's transactions start with ``BEGIN IMMEDIATE``;
    the reader runs each SELECT on its own (autocommit, no BEGIN/ROLLBACK round trips).
    ``engine.begin()`` rolls a failed transaction back itself, so connections are not
    reset again when they return to the pool."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The node's SQLite database: a writer engine and a reader engine."""

    def __init__(self, writer: AsyncEngine, reader: AsyncEngine) -> None:
        self._writer = writer
        self._reader = reader
        # One writer at a time in this process: SQLite allows one anyway, and waiting
        # here is far cheaper than SQLite's busy-handler sleeps between connections.
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (and create, mode 0600) the database at ``path``.

        Raises:
            StoreError: it cannot be created or opened.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as e:
            raise StoreError(f"cannot create the database {path}: {e.strerror}") from e
        store = cls(_engine(path, writer=True), _engine(path, writer=False))
        try:
            await store._create(path)
        except BaseException:
            await store.close()  # no aiosqlite thread outlives a failed open
            raise
        return store

    async def _create(self, path: Path) -> None:
        """Create the tables and record the schema version (or check it).

        Raises:
            StoreError: written by a newer version, or the file cannot be written.
        """
        try:
            async with self._writer.begin() as conn:
                await conn.run_sync(schema.metadata.create_all)
                for ddl in (*schema.APPEND_ONLY_TRIGGERS, *schema.LATER_INDEXES):
                    await conn.execute(text(ddl))
                version = (
                    await conn.execute(select(meta.c.value).where(meta.c.key == "schema_version"))
                ).scalar()
                if version is None:
                    await conn.execute(
                        insert(meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION))
                    )
                elif int(version) > schema.SCHEMA_VERSION:
                    raise StoreError(
                        f"the database {path} was written by a newer version (schema {version})"
                    )
        except OSError as e:
            raise StoreError(f"cannot create the database {path}: {e.strerror}") from e

    async def close(self) -> None:
        await self._writer.dispose()
        await self._reader.dispose()

    async def _rows(self, query: Select[Any]) -> Sequence[Any]:
        async with self._reader.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(query)).mappings().all()
        return rows

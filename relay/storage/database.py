"""Database engines and schema versions (SQLite through aiosqlite, PostgreSQL through asyncpg).

SQLite runs in WAL mode with the configured ``synchronous`` level. Python's sqlite3 module
would otherwise open transactions behind SQLAlchemy's back, so the driver's own
transaction handling is switched off: the writer's transactions start with an explicit
``BEGIN IMMEDIATE`` (the write lock at once), reads run statement by statement.
Connections are pooled without overflow, so none is opened and closed per request.

Migrations are Alembic's, run in-process (no ``alembic`` command on PATH is needed).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from keys.errors import ConfigError, LocalError

SQLITE_NAME = "relay.db"
_HERE = Path(__file__).parent
WRITE_OPTION = "pocnet_write"
# asyncpg's errors for a server that is down, starting, refusing, or not the writable one.
NO_SERVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)


class Unavailable(LocalError):
    """The database cannot be reached or its schema is not current."""

    code = "unavailable"
    http_status = 503


def database_failure(error: BaseException) -> Unavailable | None:
    """``error`` as :class:`Unavailable` if the database or the way to it failed, else None.

    asyncpg reports a refused or broken connection as an ``OSError`` (not wrapped by
    SQLAlchemy when it happens while connecting), a server shutting down or starting up as
    its own ``PostgresError``; SQLite's "disk full" or "locked" arrive as ``sqlite3.Error``
    or SQLAlchemy's ``OperationalError``. With several hosts and
    ``target_session_attrs=read-write``, every host answering but none writable (a standby
    not yet promoted, an old primary restarted as a standby) is asyncpg's
    ``TargetServerAttributeNotMatched``: unavailable too. The message names only the error's
    type: the driver's text can quote parameters.
    """
    if isinstance(error, Unavailable):
        return error
    if isinstance(error, (SQLAlchemyError, OSError, sqlite3.Error, *NO_SERVER_ERRORS)):
        wrapped = Unavailable("the relay's database is unavailable; try again shortly")
        wrapped.__cause__ = error
        return wrapped
    return None


class SchemaBehind(ConfigError):
    """The database's schema is older than this relay's: ``relay db upgrade`` fixes it."""

    code = "schema_behind"
    http_status = 503


def database_url(configured: str, data_dir: Path) -> str:
    """The SQLAlchemy URL to use: the configured one, else SQLite under ``data_dir``.

    Raises:
        ConfigError: the URL is not one this relay can use.
    """
    if not configured:
        return f"sqlite+aiosqlite:///{(data_dir / SQLITE_NAME).resolve()}"
    try:
        url = make_url(configured)
    except ArgumentError as e:
        raise ConfigError("database_url is not a database URL") from e
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        raise ConfigError(
            "database_url must be postgresql+asyncpg://... or sqlite+aiosqlite:///...",
        )
    return url.render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN for asyncpg itself (the LISTEN connection, the leader
    lock, ``relay audit tail``) of a ``postgresql+asyncpg://`` URL.

    Several hosts (a primary and its standbys) are written for SQLAlchemy as repeated
    ``?host=h1:5432&host=h2:5432``, which asyncpg would read as the last host alone; they
    become asyncpg's ``h1:5432,h2:5432``, and the other parameters
    (``target_session_attrs=read-write``) stay.
    """
    parsed = make_url(url).set(drivername="postgresql")
    hosts = parsed.query.get("host")
    if not isinstance(hosts, tuple) or len(hosts) < 2:
        return parsed.render_as_string(hide_password=False)
    user = quote(parsed.username or "", safe="")
    if parsed.password is not None:
        user += ":" + quote(str(parsed.password), safe="")
    rest = {k: v for k, v in parsed.query.items() if k != "host"}
    query = "?" + urlencode(rest, doseq=True) if rest else ""
    netloc = ",".join(quote(h, safe=":[]") for h in hosts)
    return (
        f"postgresql://{user + '@' if user else ''}{netloc}/{quote(parsed.database or '')}{query}"
    )


def safe_url(url: str) -> str:
    """The URL with any password hidden, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_setup(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock at once. Reads run without a transaction: each
        # statement sees one consistent snapshot, and no BEGIN/ROLLBACK round trips.
        if conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, synchronous: str = "FULL", pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` with this project's settings."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
        _sqlite_setup(engine, synchronous)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig(str(_HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest migration this relay knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(sync_conn: Connection) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


async def current_revision(conn: AsyncConnection) -> str | None:
    """The migration the database is at (None: an empty database)."""
    return await conn.run_sync(_current)


def _upgrade(sync_conn: Connection, target: str) -> None:
    cfg = _alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, target)


async def upgrade(engine: AsyncEngine, target: str = "head") -> tuple[str | None, str | None]:
    """Run the migrations up to ``target``; return (revision before, revision after).

    Raises:
        Unavailable: the database cannot be reached.
    """
    try:
        async with engine.begin() as conn:
            before = await current_revision(conn)
            await conn.run_sync(_upgrade, target)
            after = await current_revision(conn)
    except Exception as e:
        if database_failure(e) is None:
            raise
        raise Unavailable(f"cannot upgrade the database: {type(e).__name__}") from e
    return before, after


async def check_schema(engine: AsyncEngine) -> str:
    """Return the current revision if it is this relay's head.

    Raises:
        SchemaBehind: the schema is older (or empty); ``relay db upgrade`` fixes it.
        Unavailable: the database cannot be reached or is newer than this relay.
    """
    try:
        async with engine.connect() as conn:
            current = await current_revision(conn)
    except Exception as e:
        if database_failure(e) is None:
            raise
        raise Unavailable(f"cannot reach the database: {type(e).__name__}") from e
    head = head_revision()
    if current == head:
        return current
    known = {
        rev.revision for rev in ScriptDirectory.from_config(_alembic_config()).walk_revisions()
    }
    if current is not None and current not in known:
        raise Unavailable(
            f"the database schema ({current}) is newer than this relay ({head}): upgrade the relay"
        )
    raise SchemaBehind(
        f"the database schema is at {current or 'nothing'}, this relay needs {head}: "
        "run 'relay db upgrade' (with the same --data / --database-url)"
    )

"""Test helpers for the relay: members with keys, sealed envelopes, throwaway databases.

Reusable by any test (the node's too): nothing here starts a process; see
:mod:`tests.integration.relayproc` for a real ``relay serve`` subprocess.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import format_time
from keys.envelope import Envelope, seal_at
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle
from keys.receipts import SignedReceipt, issue_at

PG_ENV = "POCNET_TEST_POSTGRES_URL"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Member:
    """A node's keys and public bundle, made in memory."""

    party: str
    keystore: Keystore
    bundle: bytes

    @property
    def key(self) -> SigningKey:
        return self.keystore.signing_key


def make_member(party: str, suite: str = "x25519", now: datetime = T0) -> Member:
    """A new party with fresh keys (x25519 by default: fast to make)."""
    key = EncryptionPrivateKey.generate(suite)
    ks = Keystore(party, SigningKey.generate(), (StoredEncryptionKey(key, format_time(now)),))
    return Member(party, ks, make_bundle(ks, now))


def make_relay_keystore(now: datetime = T0) -> tuple[Keystore, bytes]:
    ks = Keystore("relay", SigningKey.generate())
    return ks, make_bundle(ks, now)


def seal(
    sender: Member,
    recipient: Member,
    now: datetime = T0,
    *,
    priority: str = "routine",
    ttl: timedelta = timedelta(days=7),
    body: dict[str, Any] | None = None,
    msg_id: str | None = None,
    attachments: tuple[Any, ...] = (),
) -> Envelope:
    """An envelope from ``sender`` to ``recipient`` created at ``now``."""
    return seal_at(
        now,
        signing_key=sender.key,
        recipient_key=recipient.keystore.current_encryption_key.public,
        sender=sender.party,
        recipient=recipient.party,
        kind="ping",
        body=body if body is not None else {"note": "test"},
        priority=priority,
        ttl=ttl,
        msg_id=msg_id,
        attachments=attachments,
    ).envelope


def node_receipt(
    issuer: Member, envelope: Envelope, type: str, now: datetime, reason: str | None = None
) -> SignedReceipt:
    return issue_at(
        now,
        issuer.key,
        type=type,
        msg_id=envelope.header.msg_id,
        envelope_sha256=envelope.sha256,
        issuer=issuer.party,
        reason=reason,
    )


def write_members(data_dir: Path, members: list[Member]) -> None:
    folder = data_dir / "members"
    folder.mkdir(parents=True, exist_ok=True)
    for m in members:
        (folder / f"{m.party}.json").write_bytes(m.bundle)


def postgres_url() -> str | None:
    """The test PostgreSQL server's URL, or None when tests must skip it."""
    return os.environ.get(PG_ENV) or None


def skip_without_postgres() -> None:
    if postgres_url() is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_pg_database() -> str:
    """A new, empty PostgreSQL database; returns its SQLAlchemy URL."""
    import asyncpg

    base = postgres_url()
    assert base is not None
    name = f"pocnet_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    head, _, _ = _asyncpg_dsn(base).rpartition("/")
    return f"postgresql+asyncpg://{head.removeprefix('postgresql://')}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    base = postgres_url()
    assert base is not None
    name = url.rpartition("/")[2]
    admin = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


_shared_pg: str | None = None


async def _shared_postgres() -> str:
    """One migrated PostgreSQL database for this test run, dropped when the run ends."""
    global _shared_pg
    if _shared_pg is None:
        from relay.storage.database import make_engine, upgrade

        url = await create_pg_database()
        atexit.register(lambda: asyncio.run(drop_pg_database(url)))
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()
        _shared_pg = url
    return _shared_pg


async def _truncate(url: str) -> None:
    """Empty the shared database for the next test.

    A session a previous test's relay left behind (a connection checked out when a task was
    cancelled, idle in a transaction) would make TRUNCATE wait for ever for its lock: end
    every other session on this database first, and bound the wait for the lock anyway.
    """
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await conn.execute("SET lock_timeout = '20s'")
        await conn.execute(
            "TRUNCATE envelopes, inbox, receipts, events, merkle_nodes, checkpoints, nonces, "
            "attachment_chunks, attachments "
            "RESTART IDENTITY"
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty relay database of ``kind`` (``sqlite`` or ``postgres``).

    PostgreSQL: one uniquely named database per test run (dropped at exit), emptied for
    each test; skipped with a reason when POCNET_TEST_POSTGRES_URL is unset.
    """
    from relay.storage.database import make_engine, upgrade

    if kind == "postgres":
        skip_without_postgres()
        url = await _shared_postgres()
        await _truncate(url)
        yield url
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    yield url


@contextlib.asynccontextmanager
async def engine_on(kind: str, tmp_path: Path) -> AsyncIterator[Any]:
    """An engine on a migrated, empty relay database of ``kind`` (:func:`database`),
    disposed of afterwards."""
    from relay.storage.database import make_engine

    async with database(kind, tmp_path) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class AppUnderTest:
    """An in-process relay app on a test server, with members and a fake clock."""

    url: str
    app: Any
    clock: FakeClock
    members: dict[str, Member]
    relay_key: Any
    database_url: str
    server: Any = None

    async def close(self) -> None:
        """Stop the relay (its shutdown runs to the end) before its database goes away."""
        if self.server is not None:
            await self.server.close()

    def client(self, party: str, session: Any = None) -> Any:
        from tests.integration.relayproc import SignedClient

        return SignedClient(
            self.url, party, self.members[party].key, clock=self.clock, session=session
        )

    @property
    def runtime(self) -> Any:
        from relay.http.routes import RUNTIME

        return self.app[RUNTIME]


PARTIES = ("FR", "DE", "IT", "SU")


async def start_app(
    aiohttp_server: Any,
    database_url: str,
    *,
    config: Any = None,
    suspended: tuple[str, ...] = ("SU",),
) -> AppUnderTest:
    """Start a relay app on ``database_url`` with members FR, DE, IT and SU (suspended)."""
    from relay.app import AppParts
    from relay.config import RelayConfig
    from relay.core.members import StaticMembers

    members = {p: make_member(p) for p in PARTIES}
    relay_ks, relay_bundle = make_relay_keystore()
    static = StaticMembers(
        {p: m.bundle for p, m in members.items()}, relay_bundle, frozenset(suspended)
    )
    # Start in the past: moving the clock forward must not sign requests "in the future".
    clock = FakeClock(datetime.now(UTC) - timedelta(days=60))
    parts = AppParts(
        config=config or RelayConfig(),
        database_url=database_url,
        signing_key=relay_ks.signing_key,
        load_members=lambda: static,
        clock=clock,
    )
    return await serve_app(aiohttp_server, parts, clock, members)


async def serve_app(
    aiohttp_server: Any, parts: Any, clock: FakeClock, members: dict[str, Member]
) -> AppUnderTest:
    """The relay app made of ``parts`` (a :class:`relay.app.AppParts`) on a test server."""
    from relay.app import create_app

    app = create_app(parts)
    server = await aiohttp_server(app)
    return AppUnderTest(
        str(server.make_url("")),
        app,
        clock,
        members,
        parts.signing_key.public,
        parts.database_url,
        server,
    )

"""Storage: migrations build the schema, the writer's group commit, the audit sequence.

Runs on SQLite, and on PostgreSQL when POCNET_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from keys.errors import Conflict
from relay.audit.append import Event, append_event
from relay.storage.database import SchemaBehind, check_schema, head_revision, make_engine
from relay.storage.schema import events, from_micros, metadata, to_micros
from relay.storage.writer import Tx, Writer
from tests.integration.relaykit import T0, engine_on


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: Any, tmp_path: Path) -> Any:
    async with engine_on(request.param, tmp_path) as eng:
        yield eng


async def test_migrations_build_exactly_the_declared_schema(engine: Any) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await check_schema(engine) == head_revision()


async def test_an_empty_database_is_behind_and_says_how_to_fix_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(SchemaBehind, match="relay db upgrade"):
            await check_schema(engine)
    finally:
        await engine.dispose()


def test_time_round_trips_through_microseconds() -> None:
    assert from_micros(to_micros(T0)) == T0
    assert to_micros(from_micros(1_772_366_400_123_456)) == 1_772_366_400_123_456


async def _count(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


async def test_concurrent_operations_share_commits_and_get_gap_free_sequence(engine: Any) -> None:
    writer = Writer(engine, max_batch=64)
    writer.start()

    async def op(tx: Tx) -> int:
        return await append_event(tx, Event("directory_installed", T0, directory_version="1"))

    try:
        seqs = await asyncio.gather(*(writer.run(op) for _ in range(100)))
    finally:
        await writer.close()
    assert sorted(seqs) == list(range(100))
    assert writer.batches < 100, "concurrent operations were committed together"
    assert await _count(engine) == 100


async def test_a_failing_operation_fails_alone(engine: Any) -> None:
    writer = Writer(engine, max_batch=64)
    writer.start()

    async def good(tx: Tx) -> int:
        return await append_event(tx, Event("directory_installed", T0, directory_version="1"))

    async def refused(tx: Tx) -> int:
        raise Conflict("no")

    async def broken(tx: Tx) -> int:
        await append_event(tx, Event("directory_installed", T0, directory_version="2"))
        raise RuntimeError("a bug after writing")

    try:
        results = await asyncio.gather(
            writer.run(good),
            writer.run(refused),
            writer.run(broken),
            writer.run(good),
            return_exceptions=True,
        )
    finally:
        await writer.close()
    assert isinstance(results[1], Conflict)
    assert type(results[2]).__name__ == "Unavailable"
    assert sorted(r for r in results if isinstance(r, int)) == [0, 1]
    async with engine.connect() as conn:
        versions = [r[0] for r in await conn.execute(select(events.c.directory_version))]
    assert versions == ["1", "1"], "the broken operation's write was rolled back"


async def test_closed_writer_refuses_work(engine: Any) -> None:
    writer = Writer(engine)
    writer.start()
    await writer.close()
    with pytest.raises(Exception, match="shutting down"):
        await writer.run(lambda tx: asyncio.sleep(0))

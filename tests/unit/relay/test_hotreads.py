"""Proofs read on the long-lived connection (relay.audit.hotreads) are the pool's proofs,
send no statement through the pool, and fall back to it when busy, broken or asked about
a tree the log has not reached. SQLite, and PostgreSQL when POCNET_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from keys.errors import NotFound
from keys.identities import SigningKey
from relay.audit.append import append_event
from relay.audit.checkpoints import Signer
from relay.audit.hotreads import HotReader
from relay.audit.proofs import AuditLog
from relay.storage.writer import Tx, Writer
from tests.integration.relaykit import database
from tests.unit.relay.test_audit_queries import make_event, statements

SIZE = 100
CASES = ((0, 1), (37, 64), (99, SIZE), (5, 77))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def logs(request: Any, tmp_path: Path) -> Any:
    """(the log read through the pool only, the log read hot first, the engine)."""
    from relay.storage.database import make_engine

    async with database(request.param, tmp_path) as url:
        engine = make_engine(url)
        writer = Writer(engine)
        writer.start()

        async def fill(tx: Tx) -> None:
            for i in range(SIZE):
                await append_event(tx, make_event(i))

        signer = Signer(SigningKey.generate(), "pocnet.relay/q")
        hot = AuditLog(engine, writer, signer, refresh=timedelta(seconds=300), hot=HotReader(url))
        try:
            await writer.run(fill)
            yield AuditLog(engine, writer, signer, refresh=timedelta(seconds=300)), hot, engine
        finally:
            await hot.close()
            await writer.close()
            await engine.dispose()


async def test_hot_proofs_are_the_pools_and_skip_the_pool(logs: Any) -> None:
    pooled, hot, engine = logs
    assert hot.hot is not None
    for index, size in CASES:
        with statements(engine) as seen:
            got_inclusion = await hot.inclusion(index, size)
            got_consistency = await hot.consistency(index + 1, size)
        assert seen == []
        assert got_inclusion == await pooled.inclusion(index, size)
        assert got_consistency == await pooled.consistency(index + 1, size)
    assert hot.hot.served == 2 * len(CASES)


async def test_a_tree_the_log_has_not_reached_is_still_refused(logs: Any) -> None:
    _, hot, _ = logs
    with pytest.raises(NotFound) as caught:
        await hot.inclusion(3, SIZE + 1)
    assert caught.value.code == "tree_size_unknown"


async def test_a_broken_hot_connection_falls_back_to_the_pool(logs: Any) -> None:
    pooled, hot, engine = logs
    reader = hot.hot
    assert reader is not None
    await hot.inclusion(1, 2)  # opens the connection
    if reader.postgres:
        reader._pg.terminate()  # the server went away
    else:
        reader._sqlite.close()
    served, want = reader.served, await pooled.inclusion(37, 64)
    with statements(engine) as seen:
        assert await hot.inclusion(37, 64) == want
        assert await hot.inclusion(5, 77) == await pooled.inclusion(5, 77)
    # The failed read and the next one (within RETRY_SECONDS) went through the pool.
    assert len(seen) == 3 and reader.served == served


@pytest.mark.postgres
async def test_a_busy_hot_connection_sends_the_next_proof_to_the_pool(
    tmp_path: Path,
) -> None:
    async with database("postgres", tmp_path) as url:
        reader = HotReader(url)
        try:
            async with reader._lock:  # a proof is reading
                assert await reader.rows("SELECT 1", ()) is None
            assert await reader.rows("SELECT 1", ()) == [(1,)]
        finally:
            await reader.close()
    await asyncio.sleep(0)

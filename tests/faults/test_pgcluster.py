"""The private PostgreSQL fixture really stops, starts and crashes its server, and keeps data."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.pgcluster import PgCluster

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def _dsn(cluster: PgCluster, name: str) -> str:
    return cluster.database_url(name)


async def test_stop_refuses_connections_and_start_brings_the_data_back(
    pg_cluster: PgCluster,
) -> None:
    url = pg_cluster.create_database("pocnet_fixture")
    conn = await asyncpg.connect(_dsn(pg_cluster, "pocnet_fixture"))
    await conn.execute("CREATE TABLE t (x int)")
    await conn.execute("INSERT INTO t VALUES (42)")
    await conn.close()

    pg_cluster.stop()
    assert not pg_cluster.running()
    with pytest.raises(OSError):
        await asyncpg.connect(url, timeout=10)

    pg_cluster.start()
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT x FROM t") == 42
    await conn.close()


async def test_kill_is_a_crash_and_the_next_start_recovers(pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database("pocnet_crash")
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE t (x int)")
    await conn.execute("INSERT INTO t VALUES (7)")
    await conn.close()

    pg_cluster.kill()
    assert not pg_cluster.running()
    pg_cluster.start()
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT x FROM t") == 7
    await conn.close()

"""PostgreSQL really stops (or crashes) under load and comes back; the relay answers only
503 meanwhile, recovers without a restart, and loses or duplicates nothing it accepted.

A real ``relay serve`` on a database of a private PostgreSQL server (``pg_cluster``:
the shared test server is never stopped), three members submitting without pause. After
30 envelopes ACCEPTED the server is stopped (``pg_ctl stop -m fast``: every session
ended, connections refused) or killed (SIGKILL of every server process: a crash, with
WAL recovery at the next start); once the relay has answered 30 submissions with 503,
the server is started again on the same port, and the test waits for 30 more ACCEPTED.
Every step waits for a count, never for a delay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.load import Load, probe
from tests.integration.relaykit import make_member
from tests.integration.relayproc import RelayProcess
from tests.support.pgcluster import PgCluster

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(400)]
ENV = {
    "POCNET_RELAY_RATE_PER_SECOND": "100000",
    "POCNET_RELAY_RATE_BURST": "100000",
    "POCNET_RELAY_READY_PROBE_SECONDS": "0",  # /readyz looks again each time
}
STEP = 30  # envelopes accepted before, answers of 503 during, accepted after the outage


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_postgres_stopped_under_load(
    fault: str, pg_cluster: PgCluster, tmp_path: Path
) -> None:
    pg_cluster.create_database("relay")
    url = pg_cluster.database_url("relay").replace("postgresql://", "postgresql+asyncpg://", 1)
    relay = RelayProcess.create(tmp_path / "relay", database_url=url, env=ENV)
    senders = [make_member(p) for p in ("FR", "IT", "ES")]
    de = make_member("DE")
    for member in [*senders, de]:
        relay.add_member(member.bundle)
    with relay.running():
        load = Load(relay.url, senders, de)
        load.start()
        await load.until(lambda: len(load.accepted) >= STEP, f"{STEP} accepted before")
        await asyncio.to_thread(pg_cluster.stop if fault == "stop" else pg_cluster.kill)
        refused_from = load.statuses[503]
        await load.until(lambda: load.statuses[503] >= refused_from + STEP, f"{STEP} 503s")
        status, ready, headers = await probe(relay.url, "/readyz")
        assert status == 503 and ready["status"] == "unavailable", ready
        assert "Retry-After" in headers
        assert (await probe(relay.url, "/healthz"))[0] == 200  # alive: no restart needed
        during = len(load.accepted)
        await asyncio.to_thread(pg_cluster.start)
        await load.until(lambda: len(load.accepted) >= during + STEP, f"{STEP} accepted after")
        figures = await load.finish(relay)
    print(f"FAULT-SUMMARY postgres-{fault} {figures}")
    load.check(figures)

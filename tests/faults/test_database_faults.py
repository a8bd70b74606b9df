"""The database goes away under load and comes back; the relay answers only 503 meanwhile,
recovers without a restart, and loses or duplicates nothing it accepted.

PostgreSQL: a real ``relay serve`` process on its own database, senders submitting without
pause; the outage is the database refusing connections (``ALLOW_CONNECTIONS false`` and
every session ended: what the relay sees when PostgreSQL stops) for as many submissions as
the load makes, never for a wall-clock delay. SQLite: the store stops taking writes, in
process; ``/readyz`` says so, writes are 503, and both recover.

SQLite's ``max_page_count`` does not make *every* write fail (a small one reuses free
pages, and the WAL file keeps its space), so the SQLite test refuses every write instead
(``PRAGMA query_only``): the store takes no writes, as on a full disk. The free-space
threshold that catches a filling disk before that is tested in
tests/unit/relay/test_hardening.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from keys.encoding import b64u_decode
from relay.config import RelayConfig
from tests.integration.relaykit import (
    _asyncpg_dsn,
    create_pg_database,
    database,
    drop_pg_database,
    make_member,
    seal,
    skip_without_postgres,
    start_app,
)
from tests.integration.relayproc import RelayProcess, SignedClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
BOUND = 60.0  # seconds: every wait below ends by this, however loaded the machine


async def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.postgres
async def test_postgres_outage_under_load(tmp_path: Path) -> None:
    skip_without_postgres()
    url = await create_pg_database()
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(_asyncpg_dsn(url.rsplit("/", 1)[0] + "/postgres"))
    try:
        relay = RelayProcess.create(
            tmp_path / "relay",
            database_url=url,
            env={"POCNET_RELAY_RATE_PER_SECOND": "10000", "POCNET_RELAY_RATE_BURST": "10000"},
        )
        senders = [make_member(p) for p in ("FR", "IT", "ES")]
        de = make_member("DE")
        for m in [*senders, de]:
            relay.add_member(m.bundle)
        statuses: Counter[int] = Counter()
        accepted: set[str] = set()
        stop = asyncio.Event()

        async def sender(member: Any) -> None:
            async with SignedClient(relay.url, member.party, member.key) as c:
                while not stop.is_set():
                    env = seal(member, de, _now())
                    status, _ = await c.submit(env.to_bytes())
                    statuses[status] += 1
                    if status in (200, 201):
                        accepted.add(env.header.msg_id)

        with relay.running():
            tasks = [asyncio.create_task(sender(m)) for m in senders]
            await _wait(lambda: len(accepted) >= 30, "30 accepted before the outage")
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            refused_from = statuses[503]
            await _wait(lambda: statuses[503] >= refused_from + 30, "30 answers of 503")
            async with SignedClient(relay.url, "DE", de.key) as cd:
                status, _, headers = await cd.request("GET", "/readyz", sign=False)
                assert status == 503 and "Retry-After" in headers
                assert (await cd.request("GET", "/healthz", sign=False))[0] == 200
            during = len(accepted)
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await _wait(lambda: len(accepted) >= during + 30, "30 accepted after the outage")
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
            received = await _drain(relay.url, de)
        lost = accepted - set(received)
        duplicated = len(received) - len(set(received))
        server_errors = sum(n for s, n in statuses.items() if s >= 500 and s != 503)
        print(
            f"FAULT-SUMMARY postgres-outage requests={sum(statuses.values())} "
            f"statuses={dict(sorted(statuses.items()))} accepted={len(accepted)} "
            f"delivered={len(set(received))} lost={len(lost)} duplicated={duplicated} "
            f"other_5xx={server_errors}"
        )
        assert set(statuses) <= {200, 201, 503}, statuses
        assert not lost and not duplicated
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await drop_pg_database(url)


async def _drain(url: str, de: Any) -> list[str]:
    received: list[str] = []
    async with SignedClient(url, "DE", de.key) as cd:
        for _ in range(10_000):  # bounded: far more pages than the test sends
            _, inbox = await cd.inbox(limit=100)
            if not inbox["items"]:
                break
            received += [
                json.loads(b64u_decode(i["envelope"]["header"]))["msg_id"] for i in inbox["items"]
            ]
            await cd.ack([i["id"] for i in inbox["items"]])
    return received


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_sqlite_store_refusing_writes_is_503_not_ready_then_recovers(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    async with database("sqlite", tmp_path) as url:
        relay = await start_app(aiohttp_server, url, config=RelayConfig(ready_probe_seconds=0))
        fr, de = relay.members["FR"], relay.members["DE"]
        engine = relay.runtime.service.store.engine
        statuses: Counter[int] = Counter()

        def full(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only = ON")  # every write fails
            cursor.close()

        async with relay.client("FR") as cf:
            for _ in range(5):
                statuses[(await cf.submit(seal(fr, de, relay.clock()).to_bytes()))[0]] += 1
            event.listen(engine.sync_engine, "connect", full)
            await engine.dispose()  # every connection from now on: the disk is full
            big = {"text": "x" * 60_000}
            for _ in range(20):
                env = seal(fr, de, relay.clock(), body=big)
                statuses[(await cf.submit(env.to_bytes()))[0]] += 1
            status, ready, headers = await cf.request("GET", "/readyz", sign=False)
            assert status == 503 and ready["status"] == "unavailable", ready
            assert "Retry-After" in headers
            event.remove(engine.sync_engine, "connect", full)
            await engine.dispose()  # space again
            assert (await cf.request("GET", "/readyz", sign=False))[0] == 200
            env = seal(fr, de, relay.clock(), body=big)
            assert (await cf.submit(env.to_bytes()))[0] == 201
            metrics = relay.runtime.metrics.render().decode()
        print(
            f"FAULT-SUMMARY sqlite-writes-refused statuses={dict(sorted(statuses.items()))} "
            "ready_during=503 ready_after=200"
        )
        assert statuses[503] >= 1 and set(statuses) <= {200, 201, 503}, statuses
        # Each refused write counted as a database error and a 5xx (/readyz's 503 too).
        for prefix in (
            "pocnet_relay_database_errors_total",
            'pocnet_relay_http_responses_total{code_class="5xx"}',
        ):
            lines = [ln for ln in metrics.splitlines() if ln.startswith(prefix)]
            assert lines and float(lines[0].split()[-1]) >= statuses[503], (prefix, lines)

"""The SQLite store stops taking writes, in process: ``/readyz`` says so, writes are 503,
and both recover.

Every write is refused (``PRAGMA query_only`` on every new connection), as on a disk that
has no free page left at all: the case a real full disk (tests/faults/test_sqlite_disk_full.py,
a tmpfs filled up) reaches only part of the time, since a small write can still reuse a
free page there. The real outages of PostgreSQL are tests/faults/test_postgres_outage.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from relay.config import RelayConfig
from tests.integration.relaykit import (
    database,
    seal,
    start_app,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


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

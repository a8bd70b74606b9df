"""The metrics operators alert on: what the database says (OVERDUE per recipient, the last
checkpoint, the directory in force, the schema) and what each process saw (last poll per
member, responses by class), on SQLite and PostgreSQL, with injected time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from relay.config import RelayConfig
from relay.monitoring.metrics import RelayMetrics
from relay.storage.database import head_revision, make_engine
from relay.storage.health import Snapshots
from tests.integration.relaykit import AppUnderTest, database, seal, start_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    cfg = RelayConfig(overdue_emergency_seconds=60)
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url, config=cfg)


async def test_overdue_poll_checkpoint_schema_and_directory(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    started = relay.clock()
    service = relay.runtime.service
    env = seal(fr, de, relay.clock(), priority="emergency", ttl=timedelta(minutes=10))
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        done = await service.process_deadlines(relay.clock.advance(seconds=61))
        assert done.overdue == 1
        polled = relay.clock.advance(seconds=5)
        status, inbox = await cd.inbox()  # downloaded, not confirmed: still pending
        assert status == 200 and len(inbox["items"]) == 1
        relay.clock.advance(seconds=30)
        status, text, _ = await cf.request("GET", "/metrics", sign=False)
    assert status == 200
    got = samples(text)
    assert got[("pocnet_relay_overdue_pending", (("recipient", "DE"),))] == 1
    assert got[("pocnet_relay_queue_depth", (("recipient", "DE"),))] == 1
    build = [k for k in got if k[0] == "pocnet_relay_build_info"]
    assert build == [
        ("pocnet_relay_build_info", (("schema", head_revision()), ("version", build[0][1][1][1])))
    ]
    # DE polled at `polled`; the others never did: the process's start stands in.
    last = "pocnet_relay_member_last_poll_timestamp_seconds"
    assert got[(last, (("party", "DE"),))] == polled.timestamp()
    assert got[(last, (("party", "FR"),))] == started.timestamp()
    assert {k[1] for k in got if k[0] == last} == {
        (("party", p),) for p in ("DE", "FR", "IT", "SU")
    }
    # The first checkpoint was signed at start-up: it covers the membership's audit entry.
    assert got[("pocnet_relay_checkpoint_tree_size", ())] >= 1
    assert got[("pocnet_relay_checkpoint_age_seconds", ())] >= 30
    # The members folder, no signed directory: version 0, and no expiry to alert on.
    assert got[("pocnet_relay_directory_version", ())] == 0
    assert not [k for k in got if k[0].startswith("pocnet_relay_directory_expi")]
    assert got[("pocnet_relay_http_responses_total", (("code_class", "2xx"),))] >= 2
    if relay.database_url.startswith("sqlite"):
        assert got[("pocnet_relay_database_disk_free_bytes", ())] > 0
    else:
        assert ("pocnet_relay_database_disk_free_bytes", ()) not in got


async def test_scrapes_read_the_database_at_most_once_a_second(relay: AppUnderTest) -> None:
    engine = make_engine(relay.database_url)
    try:
        snapshots = Snapshots(engine, every=1.0)
        first = await snapshots.read(100.0)
        assert await snapshots.read(100.9) is first  # a flood of scrapes: one query
        fresh = await snapshots.read(101.0)
        assert fresh is not first and fresh.schema == first.schema == head_revision()
    finally:
        await engine.dispose()


def test_directory_expiry_and_members_bound_the_labels() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    metrics = RelayMetrics(version="9.9", started=now)
    metrics.polled("FR", now + timedelta(seconds=5))
    metrics.polled("XX", now + timedelta(seconds=6))  # a member no more
    metrics.set_state(
        now=now + timedelta(seconds=10),
        schema="0004",
        overdue={},
        checkpoint_size=None,
        checkpoint_at=None,
        directory_version=7,
        directory_expires=now + timedelta(days=20),
        members=["FR", "DE"],
        disk_free=None,
    )
    got = samples(metrics.render().decode())
    assert got[("pocnet_relay_directory_version", ())] == 7
    expires_in = got[("pocnet_relay_directory_expires_in_seconds", (("version", "7"),))]
    assert expires_in == 20 * 86400 - 10
    expiry = got[("pocnet_relay_directory_expiry_timestamp_seconds", (("version", "7"),))]
    assert expiry == (now + timedelta(days=20)).timestamp()
    assert got[("pocnet_relay_checkpoint_age_seconds", ())] == -1
    assert got[("pocnet_relay_build_info", (("schema", "0004"), ("version", "9.9")))] == 1
    polls = {k[1][0][1]: v for k, v in got.items() if k[0].endswith("last_poll_timestamp_seconds")}
    assert polls == {"FR": (now + timedelta(seconds=5)).timestamp(), "DE": now.timestamp()}
    # An expired directory: negative, so "expires within 30 days" keeps firing.
    metrics.set_state(
        now=now + timedelta(days=21),
        schema="0004",
        overdue={"DE": 2},
        checkpoint_size=3,
        checkpoint_at=now,
        directory_version=7,
        directory_expires=now + timedelta(days=20),
        members=["FR"],
        disk_free=123,
    )
    got = samples(metrics.render().decode())
    assert got[("pocnet_relay_directory_expires_in_seconds", (("version", "7"),))] == -86400
    assert got[("pocnet_relay_overdue_pending", (("recipient", "DE"),))] == 2
    assert got[("pocnet_relay_checkpoint_age_seconds", ())] == 21 * 86400
    assert got[("pocnet_relay_database_disk_free_bytes", ())] == 123
    assert [k for k in got if k[0].endswith("last_poll_timestamp_seconds")] == [
        ("pocnet_relay_member_last_poll_timestamp_seconds", (("party", "FR"),))
    ]

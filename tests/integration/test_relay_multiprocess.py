"""Two relay instances on one PostgreSQL database, as several ``relay serve`` processes run.

Each instance is a full app (its own writer, listener, deadline task and clock) on its own
test server. Skipped visibly without POCNET_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from keys.receipts import verify as verify_receipt
from relay.app import DEADLINES, AppParts
from relay.config import RelayConfig
from relay.core.members import StaticMembers
from relay.storage.database import make_engine
from relay.storage.schema import events
from tests.integration.relaykit import (
    PARTIES,
    AppUnderTest,
    FakeClock,
    database,
    make_member,
    make_relay_keystore,
    seal,
    serve_app,
)

pytestmark = pytest.mark.postgres
# Bounded waits: generous for a loaded CI machine, far below the hour a missed wake-up costs.
WAKE_BOUND_SECONDS = 5.0


@dataclass
class Pair:
    a: AppUnderTest
    b: AppUnderTest
    bundle: bytes


async def _pair(aiohttp_server: Any, url: str, config: RelayConfig, b_ahead: timedelta) -> Pair:
    """Two relay instances with one key and one membership; B's clock runs ``b_ahead``."""
    members = {p: make_member(p) for p in PARTIES}
    relay_ks, relay_bundle = make_relay_keystore()
    static = StaticMembers({p: m.bundle for p, m in members.items()}, relay_bundle, frozenset())
    start = datetime.now(UTC) - timedelta(days=60)
    apps = []
    for clock in (FakeClock(start), FakeClock(start + b_ahead)):
        parts = AppParts(
            config=config,
            database_url=url,
            signing_key=relay_ks.signing_key,
            load_members=lambda: static,
            clock=clock,
        )
        apps.append(await serve_app(aiohttp_server, parts, clock, members))
    return Pair(apps[0], apps[1], relay_bundle)


async def _events(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(events).order_by(events.c.seq))
            return [dict(r._mapping) for r in rows]
    finally:
        await engine.dispose()


def _json_report(out: str) -> dict[str, Any]:
    """The command's JSON report among the log lines the running instances print too."""
    decoder = json.JSONDecoder()
    for start in (i for i, ch in enumerate(out) if ch == "{" and (i == 0 or out[i - 1] == "\n")):
        with contextlib.suppress(ValueError):
            value, _ = decoder.raw_decode(out, start)
            if isinstance(value, dict) and "entries" in value:
                return value
    raise AssertionError(f"no JSON report in the output: {out[-500:]!r}")


def _types(relay: AppUnderTest, items: list[dict[str, Any]]) -> list[str]:
    return [verify_receipt(i["receipt"], relay.relay_key).receipt.type for i in items]


async def test_a_deadline_stored_by_one_process_wakes_the_others(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    # B's clock is two minutes ahead: once B looks, A's 60 s emergency deadline has passed
    # for B, while A's own deadline task sleeps for a minute of real time.
    cfg = RelayConfig(overdue_emergency_seconds=60)
    async with database("postgres", tmp_path) as url:
        pair = await _pair(aiohttp_server, url, cfg, timedelta(minutes=2))
        a, b = pair.a, pair.b
        b_task = b.app[DEADLINES]
        await asyncio.wait_for(b_task.idle.wait(), WAKE_BOUND_SECONDS)  # no deadline: asleep
        fr, de = a.members["FR"], a.members["DE"]
        env = seal(fr, de, a.clock(), priority="emergency", ttl=timedelta(minutes=10))
        async with a.client("FR") as ca, b.client("FR") as cb:
            waiting = asyncio.create_task(cb.inbox(wait=WAKE_BOUND_SECONDS))
            submitted = time.perf_counter()
            assert (await ca.submit(env.to_bytes()))[0] == 201
            status, inbox = await asyncio.wait_for(waiting, WAKE_BOUND_SECONDS + 1)
            latency = time.perf_counter() - submitted
            assert status == 200 and _types(b, inbox["items"]) == ["OVERDUE"], inbox
            assert latency < WAKE_BOUND_SECONDS, f"B emitted OVERDUE after {latency:.3f} s"
            # A, later past the deadline too, and both racing again: nothing more.
            a.clock.advance(minutes=3)
            b.clock.advance(minutes=3)
            again = await asyncio.gather(
                a.runtime.service.process_deadlines(a.clock()),
                b.runtime.service.process_deadlines(b.clock()),
            )
            assert sum(r.overdue for r in again) == 0
            _, inbox = await ca.inbox()
            assert _types(a, inbox["items"]) == ["OVERDUE"]
    kinds = Counter(e["type"] for e in await _events(url))
    assert kinds["overdue"] == 1 and kinds["accepted"] == 1


async def test_two_processes_racing_for_one_deadline_issue_one_overdue(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    cfg = RelayConfig(overdue_emergency_seconds=60)
    async with database("postgres", tmp_path) as url:
        pair = await _pair(aiohttp_server, url, cfg, timedelta(0))
        a, b = pair.a, pair.b
        fr, de = a.members["FR"], a.members["DE"]
        envs = [
            seal(fr, de, a.clock(), priority="emergency", ttl=timedelta(minutes=10))
            for _ in range(5)
        ]
        async with a.client("FR") as ca, b.client("FR") as cb:
            for i, env in enumerate(envs):
                client = ca if i % 2 else cb
                assert (await client.submit(env.to_bytes()))[0] == 201
            a.clock.advance(seconds=61)
            b.clock.advance(seconds=61)
            done = await asyncio.gather(
                *(
                    app.runtime.service.process_deadlines(app.clock())
                    for app in (a, b, a, b)  # the deadline tasks may join in too
                )
            )
            assert sum(r.overdue for r in done) <= len(envs)
            _, inbox = await ca.inbox()
    overdue = [e["msg_id"] for e in await _events(url) if e["type"] == "overdue"]
    assert sorted(overdue) == sorted(e.header.msg_id for e in envs)
    assert _types(a, inbox["items"]) == ["OVERDUE"] * len(envs)


async def test_concurrent_writers_keep_one_gap_free_audit_log(
    tmp_path: Path, aiohttp_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from relay.cli.main import main

    per_writer = 12
    async with database("postgres", tmp_path) as url:
        pair = await _pair(aiohttp_server, url, RelayConfig(), timedelta(0))
        a, b = pair.a, pair.b
        fr, de, it = (a.members[p] for p in ("FR", "DE", "IT"))
        async with a.client("FR") as ca, b.client("IT") as cb:
            sent = [(ca, seal(fr, de, a.clock(), body={"n": n})) for n in range(per_writer)] + [
                (cb, seal(it, de, b.clock(), body={"n": n})) for n in range(per_writer)
            ]
            results = await asyncio.gather(*(c.submit(e.to_bytes()) for c, e in sent))
        assert [status for status, _ in results] == [201] * len(sent)
        evs = await _events(url)
    assert [e["seq"] for e in evs] == list(range(len(evs)))
    accepted = [e for e in evs if e["type"] == "accepted"]
    assert sorted(e["msg_id"] for e in accepted) == sorted(e.header.msg_id for _, e in sent)
    leaves = {
        verify_receipt(body["receipt"], a.relay_key).receipt.leaf_index for _, body in results
    }
    assert leaves == {e["seq"] for e in accepted}
    (tmp_path / "bundle.json").write_bytes(pair.bundle)
    capsys.readouterr()
    argv = ["audit", "verify", "--data", str(tmp_path), "--database-url", url, "--json"]
    code = await asyncio.to_thread(main, argv)
    report = _json_report(capsys.readouterr().out)
    assert code == 0 and report["ok"] is True, report
    assert report["entries"] == len(evs) and report["checkpoints_checked"] >= 1

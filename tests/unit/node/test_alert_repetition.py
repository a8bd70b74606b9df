"""Alerts that repeat until someone acts (issue 11), on the fake relay with injected clocks:
reminders of an unacknowledged incoming emergency, ``relay_unreachable``/``relay_back``,
``directory_expiring``/``directory_renewed``; each with a stable id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from keys import receipts
from keys.encoding import format_time
from node.config import AlertSettings, OutboxSettings
from node.daemon.loop import Daemon
from node.daemon.watch import check_directory, check_reminders
from node.exchange.alerts import Alerter
from node.exchange.outbox import Backoff
from node.forms import validate_form
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, emergency_sent, fake_node

T0 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


class Recorder(Alerter):
    """An alerter that keeps what it raised."""

    def __init__(self) -> None:
        super().__init__(AlertSettings(), structlog.get_logger())
        self.raised: list[dict[str, Any]] = []

    async def raise_alert(self, alert: Any) -> None:
        self.raised.append(alert.to_dict(include_content=False))


async def test_an_unacknowledged_emergency_is_recalled_until_acknowledged(tmp_path: Path) -> None:
    async with emergency_sent(tmp_path, T0) as s:
        de, sent, clock = s.de, s.sent, s.clock
        await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())
        settings = AlertSettings(remind_every_emergency=5.0)
        recorder = Recorder()
        schedule: list[tuple[float, list[str]]] = [
            (0, []),
            (4.9, []),
            (5, [f"reminder:{sent.msg_id}:1"]),
            (6, []),  # the same reminder is not said twice
            (10, [f"reminder:{sent.msg_id}:2"]),
            (10.5, []),
            (15, [f"reminder:{sent.msg_id}:3"]),
        ]
        for minutes, expected in schedule:
            now = T0 + timedelta(minutes=minutes)
            assert await check_reminders(de.store, recorder, settings, now) == expected, minutes
        assert [a["reminder"] for a in recorder.raised] == [1, 2, 3]
        assert all(
            a["alert"] == "reminder" and a["priority"] == "emergency" for a in recorder.raised
        )
        assert "node ack" in recorder.raised[0]["advice"]
        # Acknowledged: the reminders stop.
        moment = T0 + timedelta(minutes=16)
        signed = receipts.issue_at(
            moment,
            de.keystore.signing_key,
            type="ACKNOWLEDGED",
            msg_id=sent.msg_id,
            envelope_sha256=sent.envelope_sha256,
            issuer="DE",
        )
        assert await de.store.acknowledge(sent.msg_id, signed, format_time(moment))
        for minutes in (20, 25, 60):
            now = T0 + timedelta(minutes=minutes)
            assert await check_reminders(de.store, recorder, settings, now) == []
        assert len(recorder.raised) == 3


async def test_directory_expiring_fires_at_30_7_1_days_then_clears(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    node = await fake_node(FakeRelayNetwork(clock), tmp_path / "fr", "FR", clock=clock)
    try:
        expires = T0 + timedelta(days=40)
        peers: Any = SimpleNamespace(current=SimpleNamespace(version=3, expires=expires))
        recorder = Recorder()
        ids = []
        for day in range(0, 41):
            now = T0 + timedelta(days=day, hours=1)
            found = await check_directory(node.store, recorder, peers, now)
            if found:
                ids.append((day, found))
        assert ids == [
            (10, "directory_expiring:3:30"),
            (33, "directory_expiring:3:7"),
            (39, "directory_expiring:3:1"),
        ]
        assert recorder.raised[-1]["days_left"] <= 1
        # Version 4, valid for a year, is installed: one directory_renewed, then quiet.
        peers.current = SimpleNamespace(version=4, expires=T0 + timedelta(days=400))
        now = T0 + timedelta(days=39, hours=12)
        assert await check_directory(node.store, recorder, peers, now) == "directory_renewed:4"
        assert await check_directory(node.store, recorder, peers, now) is None
        assert [a["alert"] for a in recorder.raised] == ["directory_expiring"] * 3 + [
            "directory_renewed"
        ]
        # Development mode (no signed directory): nothing to say.
        assert await check_directory(node.store, recorder, SimpleNamespace(), now) is None
    finally:
        await node.close()


@contextlib.asynccontextmanager
async def running(node: Node) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(Daemon(node, reconnect=Backoff(0.01, 0.05)).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def eventually(check: Any, timeout: float = 60.0) -> None:
    # A bound, not a wait: the checks pass as soon as the daemon has done its work; the
    # bound only has to outlast a machine whose both cores are busy.
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_relay_unreachable_repeats_then_relay_back(tmp_path: Path) -> None:
    net = FakeRelayNetwork()
    clock = lambda: datetime.now(UTC)  # noqa: E731 - the daemon runs in real time here
    alerts = AlertSettings(relay_unreachable_after=0.1, relay_unreachable_repeat=0.2)
    fr = await fake_node(
        net,
        tmp_path / "fr",
        "FR",
        clock=clock,
        log=structlog.get_logger(),
        alerts=alerts,
        outbox=OutboxSettings(retry_base=0.02, retry_max=0.1, scan_interval=0.05),
    )
    await fr.peers.refresh(fr.transport, clock())
    net.down = True
    with capture_logs() as logs:

        def raised(kind: str) -> list[dict[str, Any]]:
            return [e for e in logs if e["event"] == f"alert.{kind}"]

        async with running(fr):
            await eventually(lambda: len(raised("relay_unreachable")) >= 2)
            assert not raised("relay_back")
            net.down = False
            await eventually(lambda: len(raised("relay_back")) == 1)
    down = raised("relay_unreachable")
    ids = [e["alert_id"] for e in down]
    assert len(set(ids)) == len(ids)  # each repetition has its own id
    # The repetition's number counts repeat periods since the outage began: on a loaded
    # machine the daemon may look late and skip a number, never go back or repeat one.
    numbers = [int(i.rsplit(":", 1)[1]) for i in ids]
    assert numbers[0] == 1 and numbers == sorted(set(numbers)), ids
    assert ids[0].rsplit(":", 1)[0] == ids[1].rsplit(":", 1)[0]  # one outage
    assert down[0]["error"] == "relay_unreachable" and down[0]["setting"] is None
    back = raised("relay_back")[0]
    assert back["alert_id"].startswith("relay_back:") and back["since"] == down[0]["since"]
    await fr.close()


@pytest.mark.parametrize("priority", ["routine"])
async def test_routine_requests_are_not_recalled(tmp_path: Path, priority: str) -> None:
    clock = FakeClock(T0)
    net = FakeRelayNetwork(clock)
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    try:
        await fr.peers.refresh(fr.transport, clock())
        await de.peers.refresh(de.transport, clock())
        form = validate_form("ping", {}, now=T0, priority=priority)
        sent = await fr.outbox.queue("DE", form, clock(), grace=timedelta(0))
        assert await fr.outbox.submit(sent, clock()) == "accepted"
        await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())
        later = T0 + timedelta(days=1)
        assert await check_reminders(de.store, Recorder(), AlertSettings(), later) == []
    finally:
        await fr.close()
        await de.close()

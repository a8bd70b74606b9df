"""The daemon on the fake relay: long-poll delivery, reconnection, deadlines, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from keys import receipts
from keys.encoding import format_time
from node.config import AlertSettings, OutboxSettings
from node.daemon.loop import Daemon, pause
from node.daemon.watch import check_acknowledgements, check_preservations
from node.exchange.outbox import Backoff
from node.forms import validate_form
from node.forms.examples import example
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FAST = Backoff(base=0.01, cap=0.05)


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 5.0) -> None:
    """Wait (bounded) until ``check`` holds: the daemon works in the background."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(node: Node) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(Daemon(node, reconnect=FAST).run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.fixture
def net() -> FakeRelayNetwork:
    return FakeRelayNetwork()


async def nodes(net: FakeRelayNetwork, tmp_path: Path, **fr_settings: Any) -> tuple[Node, Node]:
    clock = lambda: datetime.now(UTC)  # noqa: E731 - the daemon runs in real time here
    log = structlog.get_logger()
    settings: dict[str, Any] = {
        "outbox": OutboxSettings(retry_base=0.02, retry_max=0.1, scan_interval=0.05)
    }
    fr = await fake_node(
        net, tmp_path / "fr", "FR", clock=clock, log=log, **{**settings, **fr_settings}
    )
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log, **settings)
    return fr, de


async def test_two_daemons_deliver_and_collect_receipts(
    net: FakeRelayNetwork, tmp_path: Path
) -> None:
    fr, de = await nodes(net, tmp_path)
    async with running(fr), running(de):
        await fr.peers.refresh(fr.transport, fr.clock())
        form = validate_form("assistance_request", example("assistance_request", T0), now=T0)
        msg = await fr.outbox.queue(
            "DE", form, fr.clock(), grace=timedelta(0)
        )  # queued only, due at once: the daemon submits

        async def retrieved() -> bool:
            return "RETRIEVED" in {r.type for r in await fr.store.receipts_for(msg.msg_id)}

        await eventually(retrieved)
    assert (await de.store.get_message(msg.msg_id)).state == "new"
    assert {r.type for r in await fr.store.receipts_for(msg.msg_id)} == {
        "ACCEPTED",
        "DELIVERED",
        "RETRIEVED",
    }
    assert net.inboxes["DE"] == {} and net.inboxes["FR"] == {}
    await fr.close()
    await de.close()


async def test_daemon_reconnects_after_an_outage(net: FakeRelayNetwork, tmp_path: Path) -> None:
    fr, de = await nodes(net, tmp_path)
    await fr.peers.refresh(fr.transport, fr.clock())
    net.down = True
    with capture_logs() as logs:
        async with running(fr), running(de):
            form = validate_form("ping", {}, now=T0)
            msg = await fr.outbox.queue("DE", form, fr.clock(), grace=timedelta(0))

            async def retried_while_down() -> bool:
                return any(e["event"] == "outbox.retry" for e in logs)

            # The relay stays down until the daemon has tried and scheduled a retry
            # (bounded wait, not a fixed sleep: under load the first attempt can be late).
            await eventually(retried_while_down)
            assert (await fr.store.get_message(msg.msg_id)).state == "queued"
            net.down = False

            async def retrieved() -> bool:
                return "RETRIEVED" in {r.type for r in await fr.store.receipts_for(msg.msg_id)}

            await eventually(retrieved)
    events = [e["event"] for e in logs]
    assert "relay.unreachable" in events and "relay.reconnected" in events
    assert "outbox.retry" in events
    assert events[-1] == "daemon.stopped"
    assert len(net.envelopes) == 1
    await fr.close()
    await de.close()


async def test_stop_interrupts_the_long_poll_at_once(net: FakeRelayNetwork, tmp_path: Path) -> None:
    fr, de = await nodes(net, tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(Daemon(de).run(stop))
    await asyncio.sleep(0.1)  # DE now waits in a 30 s long-poll
    started = asyncio.get_running_loop().time()
    stop.set()
    await asyncio.wait_for(task, 2)
    assert asyncio.get_running_loop().time() - started < 1
    await fr.close()
    await de.close()


async def test_a_crashing_loop_stops_the_daemon_with_its_error(
    net: FakeRelayNetwork, tmp_path: Path
) -> None:
    fr, de = await nodes(net, tmp_path)

    async def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    de.inbox.handle = boom  # type: ignore[method-assign]
    await fr.peers.refresh(fr.transport, fr.clock())
    msg = await fr.outbox.queue("DE", validate_form("ping", {}, now=T0), fr.clock())
    await fr.outbox.submit(msg, fr.clock())
    with capture_logs() as logs, pytest.raises(RuntimeError, match="disk on fire"):
        await asyncio.wait_for(Daemon(de).run(asyncio.Event()), 5)
    assert any(e["event"] == "daemon.loop_failed" and e["loop"] == "inbox" for e in logs)
    await fr.close()
    await de.close()


async def test_pause_returns_early_on_stop_or_wake() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    t = loop.time()
    loop.call_later(0.05, wake.set)
    await pause(stop, 10, wake)
    assert loop.time() - t < 1
    stop.set()
    await pause(stop, 10)
    assert loop.time() - t < 1


# -- deadlines and preservation warnings (clock injected) ------------------------------------


async def test_unacknowledged_urgent_request_warns_once_naming_the_phone(
    net: FakeRelayNetwork, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    fr = await fake_node(
        net,
        tmp_path / "fr",
        "FR",
        clock=clock,
        log=structlog.get_logger(),
        contacts={"DE": "+49 30 5555 0000"},
        alerts=AlertSettings(ack_deadline_urgent=60, ack_deadline_emergency=15),
    )
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    await fr.peers.refresh(fr.transport, clock())
    urgent = await fr.outbox.queue("DE", validate_form("ping", {}, now=T0, priority="urgent"), T0)
    emergency = await fr.outbox.queue(
        "DE", validate_form("ping", {}, now=T0, priority="emergency"), T0
    )
    await fr.outbox.queue("DE", validate_form("ping", {}, now=T0), T0)  # routine: never warned
    settings = fr.config.alerts
    assert await check_acknowledgements(fr.store, fr.alerter, fr.peers, settings, clock()) == []
    clock.advance(minutes=16)
    with capture_logs() as logs:
        warned = await check_acknowledgements(fr.store, fr.alerter, fr.peers, settings, clock())
    assert warned == [emergency.msg_id]
    [alert] = [e for e in logs if e["event"] == "alert.not_acknowledged"]
    assert alert["phone"] == "+49 30 5555 0000" and "+49 30 5555 0000" in alert["advice"]
    clock.advance(minutes=45)
    assert await check_acknowledgements(fr.store, fr.alerter, fr.peers, settings, clock()) == [
        urgent.msg_id
    ]
    clock.advance(hours=5)
    assert await check_acknowledgements(fr.store, fr.alerter, fr.peers, settings, clock()) == []
    await fr.close()
    await de.close()


async def test_acknowledged_request_is_not_warned_about(
    net: FakeRelayNetwork, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    await fr.peers.refresh(fr.transport, clock())
    await de.peers.refresh(de.transport, clock())
    msg = await fr.outbox.queue("DE", validate_form("ping", {}, now=T0, priority="urgent"), T0)
    await fr.outbox.submit(msg, clock())
    await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())

    got = await de.store.get_message(msg.msg_id)
    ack = receipts.issue_at(
        clock(),
        de.keystore.signing_key,
        type="ACKNOWLEDGED",
        msg_id=msg.msg_id,
        envelope_sha256=got.envelope_sha256,
        issuer="DE",
    )
    assert await de.store.acknowledge(msg.msg_id, ack, format_time(clock()))
    assert not await de.store.acknowledge(msg.msg_id, ack, format_time(clock()))  # once only
    await de.outbox.post_receipts(clock())
    await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=10), clock())
    clock.advance(hours=2)
    assert (
        await check_acknowledgements(fr.store, fr.alerter, fr.peers, fr.config.alerts, clock())
        == []
    )
    await fr.close()
    await de.close()


async def test_preservation_ending_is_warned_once(net: FakeRelayNetwork, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log)
    await fr.peers.refresh(fr.transport, clock())
    await de.peers.refresh(de.transport, clock())
    request = await fr.outbox.queue(
        "DE", validate_form("preservation_request", example("preservation_request", T0), now=T0), T0
    )
    await fr.outbox.submit(request, clock())
    await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())
    response = validate_form("preservation_response", example("preservation_response", T0), now=T0)
    reply = await de.outbox.queue(
        "FR", response, clock(), conversation_id=request.conversation_id, in_reply_to=request.msg_id
    )
    await de.outbox.submit(reply, clock())
    await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=10), clock())
    settings = AlertSettings(preservation_warn_days=14)
    for node in (fr, de):
        assert await check_preservations(node.store, node.alerter, settings, clock()) == []
    clock.advance(days=80)  # 10 days left of the 90
    for node in (fr, de):
        with capture_logs() as logs:
            assert await check_preservations(node.store, node.alerter, settings, clock()) == [
                request.msg_id
            ]
        [alert] = logs
        assert alert["event"] == "alert.preservation_expiring" and alert["days_left"] == 10
        assert alert["role"] == ("requested" if node is fr else "executed")
        assert await check_preservations(node.store, node.alerter, settings, clock()) == []
    await fr.close()
    await de.close()


async def test_daemon_outbox_waits_out_the_send_grace_of_a_killed_send(
    net: FakeRelayNetwork, tmp_path: Path
) -> None:
    """``node send`` killed (-9) after queueing: the daemon leaves the envelope alone for
    ``send_grace_seconds`` of the (injected) clock, then submits it."""
    clock = FakeClock(T0)
    settings = OutboxSettings(retry_base=0.02, retry_max=0.1, scan_interval=0.05)
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log, outbox=settings)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log, outbox=settings)
    await fr.peers.refresh(fr.transport, clock())
    msg = await fr.outbox.queue("DE", validate_form("ping", {}, now=T0), clock())
    passes = 0
    flush = fr.outbox.flush

    async def counted(now: datetime, **kw: Any) -> Any:
        nonlocal passes
        passes += 1
        return await flush(now, **kw)

    fr.outbox.flush = counted  # type: ignore[method-assign]
    daemon = Daemon(fr, reconnect=FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.outbox_loop(stop))
    try:

        async def several_passes() -> bool:
            return passes >= 3

        await eventually(several_passes)
        clock.advance(seconds=9.9)
        start = passes
        daemon.outbox_wake.set()

        async def more_passes() -> bool:
            return passes >= start + 2

        await eventually(more_passes)
        assert net.envelopes == {}
        assert (await fr.store.get_message(msg.msg_id)).state == "queued"
        clock.advance(seconds=0.1)
        daemon.outbox_wake.set()

        async def accepted() -> bool:
            return (await fr.store.get_message(msg.msg_id)).state == "accepted"

        await eventually(accepted)
        assert list(net.envelopes) == [msg.msg_id]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await fr.close()
        await de.close()

"""Outbox flush with concurrent submits: nothing lost, nothing sent twice, every ACCEPTED
verified, whatever order the relay answers in and whichever submits fail."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keys import receipts
from keys.errors import Forbidden
from keys.host.command import Unreachable
from node.config import OutboxSettings
from node.exchange.outbox import FLUSH_CONCURRENCY
from node.forms import validate_form
from node.relayapi.transport import SubmitResult
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelay, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
N = 40


class FlakyRelay(FakeRelay):
    """A fake relay whose answers come back in a shuffled order, and which fails the
    submits it is told to: ``down`` (no answer, nothing stored), ``lost`` (stored, but the
    answer is lost), ``forged`` (an ACCEPTED for another message), ``refused`` (final)."""

    def __init__(self, network: FakeRelayNetwork, party: str, seed: int) -> None:
        super().__init__(network, party)
        self.rand = random.Random(seed)
        self.faults: dict[str, str] = {}  # msg_id -> fault, applied once (refused: always)
        self.reached: Counter[str] = Counter()  # submits that reached the relay
        self.created: Counter[str] = Counter()  # submits the relay stored anew
        self.in_flight = 0
        self.max_in_flight = 0
        self.last_accepted: dict[str, Any] | None = None

    async def submit(self, envelope: bytes) -> SubmitResult:
        from keys.envelope import Envelope

        msg_id = Envelope.parse(envelope).header.msg_id
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.rand.randrange(4)):  # answers overtake one another
                await asyncio.sleep(0)
            fault = self.faults.get(msg_id)
            if fault != "refused":
                self.faults.pop(msg_id, None)
            if fault == "down":
                raise Unreachable("the relay did not answer (test)")
            if fault == "refused":
                raise Forbidden("unknown recipient")
            result = await super().submit(envelope)
            self.reached[msg_id] += 1
            self.created[msg_id] += result.created
            if fault == "lost":
                raise Unreachable("the connection was reset (test)")
            if fault == "forged" and self.last_accepted is not None:
                return SubmitResult(self.last_accepted, created=result.created)
            self.last_accepted = dict(result.receipt)
            return result
        finally:
            self.in_flight -= 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def _pair(net: FakeRelayNetwork, clock: FakeClock, tmp: Path) -> tuple[Node, Node]:
    fr = await fake_node(
        net, tmp / "fr", "FR", clock=clock, outbox=OutboxSettings(retry_base=1, retry_max=4)
    )
    de = await fake_node(net, tmp / "de", "DE", clock=clock)
    await fr.peers.refresh(fr.transport, clock())
    return fr, de


async def _queue(fr: Node, clock: FakeClock, n: int) -> list[str]:
    form = validate_form("ping", {}, now=clock())
    return [
        (await fr.outbox.queue("DE", form, clock(), grace=timedelta(0))).msg_id for _ in range(n)
    ]


async def _check_accepted(fr: Node, net: FakeRelayNetwork, ids: list[str]) -> None:
    """Every message is ``accepted`` with exactly one stored ACCEPTED that verifies with
    the relay's key and names that message and its envelope."""
    relay_key = net.relay_key.public
    for msg_id in ids:
        msg = await fr.store.get_message(msg_id)
        assert msg.state == "accepted", (msg_id, msg.state, msg.last_error)
        held = [r for r in await fr.store.receipts_for(msg_id) if r.type == "ACCEPTED"]
        assert len(held) == 1, msg_id
        signed = receipts.verify(held[0].wire, relay_key)
        assert signed.receipt.msg_id == msg_id
        assert signed.receipt.envelope_sha256 == msg.envelope_sha256


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_flush_loses_nothing_and_sends_nothing_twice(
    clock: FakeClock, tmp_path: Path, seed: int
) -> None:
    net = FakeRelayNetwork(clock)
    fr, de = await _pair(net, clock, tmp_path)
    flaky = FlakyRelay(net, "FR", seed)
    fr.outbox.transport = flaky
    try:
        ids = await _queue(fr, clock, N)
        pick = random.Random(seed).sample(ids, 16)
        down, lost, forged, refused = pick[0:5], pick[5:10], pick[10:14], pick[14:16]
        for group, fault in ((down, "down"), (lost, "lost"), (forged, "forged")):
            for msg_id in group:
                flaky.faults[msg_id] = fault
        for msg_id in refused:
            flaky.faults[msg_id] = "refused"
        accepted: list[str] = []
        failed: list[str] = []
        for _ in range(30):  # flushes stop at an unanswered batch; the clock moves on
            report = await fr.outbox.flush(clock(), everything=True)
            accepted += report.accepted
            failed += report.failed
            if not await fr.store.due_outgoing(""):
                break
            clock.advance(seconds=10)
        delivered = [i for i in ids if i not in refused]
        # Nothing lost, nothing reported twice.
        assert sorted(accepted) == sorted(delivered)
        assert sorted(failed) == sorted(refused)
        await _check_accepted(fr, net, delivered)
        for msg_id in refused:
            assert (await fr.store.get_message(msg_id)).state == "failed"
        # Nothing sent twice: every envelope stored once by the relay, and only a lost
        # answer (or a forged ACCEPTED) made the outbox resubmit the same bytes.
        assert all(flaky.created[i] == 1 for i in delivered)
        assert not any(flaky.reached[i] for i in refused)
        resent = {i for i in delivered if flaky.reached[i] > 1}
        assert resent <= set(lost) | set(forged)
        assert set(lost) <= resent
        assert all(flaky.reached[i] <= 2 for i in delivered)
        inbox = list(net.inboxes["DE"].values())
        assert sorted(item["_msg_id"] for item in inbox) == sorted(delivered)
        # Bounded concurrency, and actually concurrent.
        assert 1 < flaky.max_in_flight <= FLUSH_CONCURRENCY
    finally:
        await fr.close()
        await de.close()


async def test_sequential_setting_submits_one_at_a_time(clock: FakeClock, tmp_path: Path) -> None:
    net = FakeRelayNetwork(clock)
    fr, de = await _pair(net, clock, tmp_path)
    flaky = FlakyRelay(net, "FR", 7)
    fr.outbox.transport = flaky
    fr.outbox.concurrency = 1
    try:
        ids = await _queue(fr, clock, 10)
        report = await fr.outbox.flush(clock())
        assert report.accepted == ids  # oldest first
        assert flaky.max_in_flight == 1
        await _check_accepted(fr, net, ids)
    finally:
        await fr.close()
        await de.close()


async def test_an_unanswered_batch_stops_the_flush_after_that_batch(
    clock: FakeClock, tmp_path: Path
) -> None:
    net = FakeRelayNetwork(clock)
    fr, de = await _pair(net, clock, tmp_path)
    flaky = FlakyRelay(net, "FR", 3)
    fr.outbox.transport = flaky
    try:
        ids = await _queue(fr, clock, 3 * FLUSH_CONCURRENCY)
        flaky.faults[ids[FLUSH_CONCURRENCY + 2]] = "down"  # in the second batch
        report = await fr.outbox.flush(clock())
        assert report.unreachable
        assert report.retrying == [ids[FLUSH_CONCURRENCY + 2]]
        assert len(report.accepted) == 2 * FLUSH_CONCURRENCY - 1
        # The third batch was not tried: still queued, never sent.
        assert not any(flaky.reached[i] for i in ids[2 * FLUSH_CONCURRENCY :])
        retry = await fr.store.get_message(ids[FLUSH_CONCURRENCY + 2])
        assert (retry.state, retry.attempts, retry.last_error) == ("queued", 1, "relay_unreachable")
        await _check_accepted(fr, net, report.accepted)
    finally:
        await fr.close()
        await de.close()

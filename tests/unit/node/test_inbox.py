"""Inbox: open, verify, store once, RETRIEVED / REJECTED, receipts about our messages,
alerts, and logs free of plaintext."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from keys import receipts
from keys.identities import SigningKey
from node.config import AlertSettings
from node.evidence.timeline import build_timeline
from node.exchange.inbox import InboxReport
from node.forms import validate_form
from node.forms.examples import example
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECRET_FACT = "the attacker connected from the address below"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def net(clock: FakeClock) -> FakeRelayNetwork:
    return FakeRelayNetwork(clock)


class Nodes:
    """Makes nodes on one fake relay; the fixture closes them all, whatever happens."""

    def __init__(self, net: FakeRelayNetwork, clock: FakeClock, folder: Path) -> None:
        self.net, self.clock, self.folder = net, clock, folder
        self.made: list[Node] = []

    async def node(self, party: str, **settings: object) -> Node:
        log = structlog.get_logger()
        node = await fake_node(
            self.net, self.folder / party.lower(), party, clock=self.clock, log=log, **settings
        )
        self.made.append(node)
        return node

    async def pair(self, **de_settings: object) -> tuple[Node, Node]:
        """FR and DE, each knowing the other's keys (``de_settings``: DE's node settings)."""
        fr = await self.node("FR")
        de = await self.node("DE", **de_settings)
        await fr.peers.refresh(fr.transport, self.clock())
        await de.peers.refresh(de.transport, self.clock())
        return fr, de


@pytest.fixture
async def nodes(net: FakeRelayNetwork, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Nodes]:
    made = Nodes(net, clock, tmp_path)
    yield made
    for node in made.made:
        await node.close()


async def send(fr: Node, kind: str, clock: FakeClock, priority: str | None = None) -> str:
    form = validate_form(kind, example(kind, clock()), now=clock(), priority=priority)
    msg = await fr.outbox.queue("DE", form, clock())
    assert await fr.outbox.submit(msg, clock()) == "accepted"
    return msg.msg_id


async def drain(node: Node, clock: FakeClock):  # type: ignore[no-untyped-def]
    items = await node.transport.inbox(wait=0, limit=100)
    return await node.inbox.handle(items, clock())


async def test_full_exchange_stores_once_and_the_sender_gets_every_receipt(
    clock: FakeClock, nodes: Nodes
) -> None:
    fr, de = await nodes.pair()
    msg_id = await send(fr, "preservation_request", clock)
    clock.advance(seconds=1)
    report = await drain(de, clock)
    assert report.received == [msg_id] and report.acked == 1
    got = await de.store.get_message(msg_id)
    assert (got.direction, got.state, got.counterpart) == ("in", "new", "FR")
    assert got.body["summary_of_facts"].endswith(SECRET_FACT + ".")
    [retrieved] = await de.store.receipts_for(msg_id)
    assert (retrieved.type, retrieved.origin, retrieved.posted) == ("RETRIEVED", "self", True)
    clock.advance(seconds=1)
    report = await drain(fr, clock)
    assert report.receipts == 2
    types = [r.type for r in await fr.store.receipts_for(msg_id)]
    assert sorted(types) == ["ACCEPTED", "DELIVERED", "RETRIEVED"]


async def test_redelivery_is_shown_once(clock: FakeClock, nodes: Nodes) -> None:
    fr, de = await nodes.pair()
    msg_id = await send(fr, "assistance_request", clock)
    items = await de.transport.inbox(wait=0, limit=10)
    # The first handling stores the message but "crashes" before the ack reaches the relay.
    await de.inbox._envelope(items[0], clock(), InboxReport(), False)
    again = await de.transport.inbox(wait=0, limit=10)
    assert [i.id for i in again] == [i.id for i in items]  # the relay delivers again
    report = await de.inbox.handle(again, clock())
    assert report.received == [] and report.duplicates == 1 and report.acked == 1
    assert len(await de.store.list_messages(direction="in")) == 1
    assert [r.type for r in await de.store.receipts_for(msg_id)] == ["RETRIEVED"]


async def test_envelope_altered_at_the_relay_is_rejected_and_the_sender_sees_it(
    net: FakeRelayNetwork, clock: FakeClock, nodes: Nodes
) -> None:
    fr, de = await nodes.pair()
    msg_id = await send(fr, "preservation_request", clock)
    net.tamper(msg_id)
    with capture_logs() as logs:
        report = await drain(de, clock)
    assert report.rejected == [msg_id] and report.received == []
    assert await de.store.list_messages(direction="in") == []
    [rejection] = await de.store.rejections()
    assert (rejection.reason, rejection.sent_reason) == ("outer_signature", "verification_failed")
    assert any(e["event"] == "inbox.rejected" and e["reason"] == "outer_signature" for e in logs)
    await drain(fr, clock)
    msg = await fr.store.get_message(msg_id)
    stored = await fr.store.receipts_for(msg_id)
    rejected = next(r for r in stored if r.type == "REJECTED")
    assert rejected.reason == "verification_failed" and rejected.issuer == "DE"
    timeline = build_timeline(msg, stored, [], fr.peers.key_at)
    assert timeline.all_signatures_valid and timeline.altered
    events = {e.event: e for e in timeline.entries}
    assert events["REJECTED"].detail["digest"] == "differs"
    assert events["ACCEPTED"].detail["digest"] == "matches"


async def test_unknown_sender_is_rejected(
    net: FakeRelayNetwork, clock: FakeClock, nodes: Nodes
) -> None:
    fr, de = await nodes.pair()
    msg_id = await send(fr, "ping", clock)
    # DE cannot learn FR's key: the relay's directory no longer lists FR.
    del net.bundles["FR"]
    de.peers._bundles.pop("FR")
    report = await drain(de, clock)
    assert report.rejected == [msg_id]
    [rejection] = await de.store.rejections()
    assert rejection.sent_reason == "unknown_sender"


async def test_forged_receipt_is_ignored(
    net: FakeRelayNetwork, clock: FakeClock, nodes: Nodes
) -> None:
    fr, _ = await nodes.pair()
    msg_id = await send(fr, "ping", clock)
    msg = await fr.store.get_message(msg_id)
    forged = receipts.issue_at(
        clock(),
        SigningKey.generate(),
        type="ACKNOWLEDGED",
        msg_id=msg_id,
        envelope_sha256=msg.envelope_sha256,
        issuer="DE",
    )
    net._push("FR", {"type": "receipt", "msg_id": msg_id, "receipt": forged.to_wire()})
    with capture_logs() as logs:
        report = await drain(fr, clock)
    assert report.ignored == 1 and report.receipts == 0
    assert [r.type for r in await fr.store.receipts_for(msg_id)] == ["ACCEPTED"]
    assert any(e["event"] == "receipt.ignored" and e["reason"] == "receipt_signature" for e in logs)


async def test_receipt_from_a_third_party_is_ignored(
    net: FakeRelayNetwork, clock: FakeClock, nodes: Nodes
) -> None:
    fr, _ = await nodes.pair()
    it = await nodes.node("IT")
    await fr.peers.refresh(fr.transport, clock())
    msg_id = await send(fr, "ping", clock)
    msg = await fr.store.get_message(msg_id)
    wrong = receipts.issue_at(
        clock(),
        it.keystore.signing_key,
        type="ACKNOWLEDGED",
        msg_id=msg_id,
        envelope_sha256=msg.envelope_sha256,
        issuer="IT",
    )
    net._push("FR", {"type": "receipt", "msg_id": msg_id, "receipt": wrong.to_wire()})
    report = await drain(fr, clock)
    assert report.ignored == 1


@pytest.mark.parametrize("include_content", [False, True])
async def test_urgent_items_raise_an_alert_through_the_hook(
    clock: FakeClock, tmp_path: Path, nodes: Nodes, include_content: bool
) -> None:
    out = tmp_path / "alert.json"
    hook = (
        f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write(sys.stdin.read())\" {out}"
    )
    fr, de = await nodes.pair(alerts=AlertSettings(hook=hook, include_content=include_content))
    msg_id = await send(fr, "emergency_disclosure_request", clock)
    with capture_logs() as logs:
        await drain(de, clock)
    alert = json.loads(out.read_text())
    assert alert["alert"] == "incoming" and alert["msg_id"] == msg_id
    assert (alert["priority"], alert["counterpart"], alert["kind"]) == (
        "emergency",
        "FR",
        "emergency_disclosure_request",
    )
    assert ("content" in alert) is include_content
    assert "ransom" in out.read_text() if include_content else "ransom" not in out.read_text()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["alert.incoming"]
    assert (await de.store.get_message(msg_id)).alerted_at is not None


async def test_routine_items_raise_no_alert(clock: FakeClock, nodes: Nodes) -> None:
    fr, de = await nodes.pair()
    await send(fr, "assistance_request", clock)
    with capture_logs() as logs:
        await drain(de, clock)
    assert not [e for e in logs if e["event"].startswith("alert.")]


async def test_no_plaintext_reaches_the_logs(clock: FakeClock, nodes: Nodes) -> None:
    with capture_logs() as logs:
        fr, de = await nodes.pair()
        msg_id = await send(fr, "preservation_request", clock, priority="urgent")
        await drain(de, clock)
        await drain(fr, clock)
    dump = json.dumps(logs, default=str)
    assert msg_id in dump  # metadata is logged ...
    for secret in (SECRET_FACT, "203.0.113.7", "Example Hosting", "suspect@example.org"):
        assert secret not in dump  # ... content never
    keys_material = [fr.keystore.signing_key.seed.hex(), de.keystore.signing_key.seed.hex()]
    assert not any(k in dump for k in keys_material)

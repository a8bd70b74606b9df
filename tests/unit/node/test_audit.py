"""The node catches a lying relay: checkpoints, consistency, inclusion (fake relay).

Every test starts from an honest exchange (FR sends to DE, DE retrieves it and confirms
the download, FR holds ACCEPTED, DELIVERED and RETRIEVED), then makes the fake relay lie
in one way and checks that FR's auditor raises the right alarm, keeps its old checkpoint,
records what proves it, logs it at error level and calls the alert hook.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.checkpoint import origin_for
from keys.identities import SigningKey
from node.audit.auditor import MAX_ATTEMPTS, AuditReport, auditor_for
from node.cli.audit import audit_status, render_status
from node.cli.working import _timeline
from node.config import AlertSettings, AuditSettings, OutboxSettings
from node.daemon.loop import Daemon
from node.evidence.timeline import render_text
from node.exchange.outbox import Backoff
from node.forms import validate_form
from node.forms.examples import example
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ORIGIN = origin_for("pocnet")


class World:
    """A fake relay, FR and DE, and helpers to exchange messages on it."""

    def __init__(self, net: FakeRelayNetwork, clock: FakeClock, fr: Node, de: Node) -> None:
        self.net, self.clock, self.fr, self.de = net, clock, fr, de

    async def exchange(self) -> str:
        """FR sends a request to DE; DE retrieves it; FR receives the receipts."""
        form = validate_form(
            "preservation_request", example("preservation_request", self.clock()), now=self.clock()
        )
        msg = await self.fr.outbox.queue("DE", form, self.clock())
        await self.fr.outbox.submit(msg, self.clock())
        self.clock.advance(seconds=1)
        await self.de.inbox.handle(await self.de.transport.inbox(wait=0, limit=50), self.clock())
        self.clock.advance(seconds=1)
        await self.fr.inbox.handle(await self.fr.transport.inbox(wait=0, limit=50), self.clock())
        return msg.msg_id

    async def audit(self, node: Node | None = None, **kw: Any) -> AuditReport:
        return await auditor_for(node or self.fr).run_once(self.clock(), **kw)


async def make_world(tmp_path: Path, **fr_settings: Any) -> World:
    clock = FakeClock(T0)
    net = FakeRelayNetwork(clock)
    hook_out = tmp_path / "alerts.jsonl"
    write = f"open({str(hook_out)!r}, 'a').write(sys.stdin.read() + chr(10))"
    hook = f'{sys.executable} -c "import sys; {write}"'
    log = structlog.get_logger()
    fr = await fake_node(
        net,
        tmp_path / "fr",
        "FR",
        clock=clock,
        log=log,
        alerts=AlertSettings(hook=hook),
        **fr_settings,
    )
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log)
    for n in (fr, de):
        await n.peers.refresh(n.transport, clock())
    return World(net, clock, fr, de)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    yield w
    await w.fr.close()
    await w.de.close()


def hook_alerts(world: World) -> list[dict[str, Any]]:
    path = world.fr.config.data_dir.parent / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- an honest relay ---------------------------------------------------------------------------


async def test_honest_relay_every_receipt_is_proven(world: World) -> None:
    msg_id = await world.exchange()
    report = await world.audit()
    assert report.alarms == [] and report.errors == []
    assert report.proven == 3 and report.pending == 0
    proofs = await world.fr.store.proofs_for(msg_id)
    assert sorted(p.receipt_type for p in proofs) == ["ACCEPTED", "DELIVERED", "RETRIEVED"]
    accepted = next(p for p in proofs if p.receipt_type == "ACCEPTED")
    stored = next(r for r in await world.fr.store.receipts_for(msg_id) if r.type == "ACCEPTED")
    payload = json.loads(base64.urlsafe_b64decode(json.loads(stored.wire)["payload"] + "=="))
    assert accepted.leaf_index == payload["leaf_index"] == 0
    trusted = await world.fr.store.trusted_checkpoint()
    assert trusted is not None and trusted.tree_size == world.net.audit.size
    # Nothing left to do: a second pass proves nothing new and raises nothing.
    again = await world.audit()
    assert again.proven == 0 and again.alarms == []


async def test_receipts_of_several_messages_are_proven_with_one_request(world: World) -> None:
    ids = [await world.exchange() for _ in range(3)]
    world.net.calls.clear()
    report = await world.audit()
    assert report.alarms == [] and report.proven == 9 and report.pending == 0
    asked = [name for party, name in world.net.calls if party == "FR"]
    assert asked.count("audit_messages") == 1 and "evidence" not in asked
    for msg_id in ids:
        assert len(await world.fr.store.proofs_for(msg_id)) == 3


async def test_a_message_left_out_of_a_batch_is_retried_not_alarmed(world: World) -> None:
    kept, dropped = await world.exchange(), await world.exchange()
    del world.net.envelopes[dropped]  # the relay no longer answers for it
    report = await world.audit()
    assert report.alarms == [] and report.proven == 3 and report.pending == 3
    assert len(await world.fr.store.proofs_for(kept)) == 3


async def test_a_relay_without_batched_proofs_is_asked_message_by_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keys.errors import NotFound

    async def not_served(msg_ids: object) -> None:
        raise NotFound("the relay answered 404", code="not_found")

    ids = [await world.exchange() for _ in range(2)]
    monkeypatch.setattr(world.fr.transport, "audit_messages", not_served)
    world.net.calls.clear()
    report = await world.audit()
    assert report.alarms == [] and report.errors == [] and report.proven == 6
    asked = [name for party, name in world.net.calls if party == "FR"]
    assert asked.count("evidence") == 2
    for msg_id in ids:
        assert len(await world.fr.store.proofs_for(msg_id)) == 3


async def test_checkpoint_advances_with_a_consistency_proof(world: World) -> None:
    await world.exchange()
    await world.audit()
    first = await world.fr.store.trusted_checkpoint()
    assert first is not None
    await world.exchange()
    world.net.calls.clear()
    with capture_logs() as logs:
        report = await world.audit(force=True)
    assert report.advanced and report.alarms == []
    assert ("FR", "audit_consistency") in world.net.calls
    second = await world.fr.store.trusted_checkpoint()
    assert second is not None and second.tree_size > first.tree_size
    assert any(e["event"] == "audit.checkpoint_advanced" for e in logs)
    assert not any(e["log_level"] == "error" for e in logs)


async def test_accepted_beyond_the_checkpoint_fetches_a_new_one(world: World) -> None:
    await world.exchange()
    await world.audit()
    form = validate_form("ping", example("ping", world.clock()), now=world.clock())
    msg = await world.fr.outbox.queue("DE", form, world.clock())
    await world.fr.outbox.submit(msg, world.clock())
    auditor = auditor_for(world.fr)
    await auditor.run_once(world.clock())  # fetches: first pass
    world.net.calls.clear()
    await world.exchange()  # an ACCEPTED beyond the trusted size
    await auditor.run_once(world.clock())  # not due by time, due by leaf index
    assert ("FR", "audit_checkpoint") in world.net.calls


def grow(world: World, n: int) -> None:
    """Log ``n`` events about no message (directory installations)."""
    for version in range(n):
        world.net.audit.append(type="directory_installed", time=T0, directory_version=version)


async def test_evidence_against_an_older_checkpoint_is_checked_as_a_prefix(world: World) -> None:
    first, second = await world.exchange(), await world.exchange()
    world.net.audit.evidence_size = world.net.audit.size  # 6: covers both messages
    grow(world, 2)
    world.net.calls.clear()
    report = await world.audit()  # trusts the latest (8), proves against 6 (a prefix)
    assert report.alarms == [] and report.proven == 6
    assert ("FR", "audit_consistency") in world.net.calls
    proofs = await world.fr.store.proofs_for(first) + await world.fr.store.proofs_for(second)
    used = await world.fr.store.checkpoints([p.checkpoint_id for p in proofs])
    assert [c.tree_size for c in used.values()] == [6]
    trusted = await world.fr.store.trusted_checkpoint()
    assert trusted is not None and trusted.tree_size == 8


async def test_evidence_against_an_older_checkpoint_of_another_history(tmp_path: Path) -> None:
    world = await make_world(tmp_path, audit=AuditSettings(batch=1))
    try:
        await world.exchange()
        await world.exchange()
        grow(world, 2)
        auditor = auditor_for(world.fr)
        await auditor.run_once(world.clock())  # trusts 8; proves the first message only
        view = world.net.split_view("FR")
        view.rewrite(0, sender="IT")
        view.evidence_size = 6
        report = await auditor.run_once(world.clock())  # not due: the second's evidence only
        assert [(a["kind"], a["trusted_size"], a["presented_size"]) for a in report.alarms] == [
            ("fork", 8, 6)
        ]
    finally:
        await world.fr.close()
        await world.de.close()


# -- a lying relay -----------------------------------------------------------------------------


async def test_same_size_other_root_is_a_fork(world: World) -> None:
    await world.exchange()
    await world.audit()
    trusted = await world.fr.store.trusted_checkpoint()
    world.net.audit.rewrite(0, sender="IT")  # history rewritten, size unchanged
    world.clock.advance(seconds=5)
    with capture_logs() as logs:
        report = await world.audit(force=True)
    assert [a["kind"] for a in report.alarms] == ["fork"]
    assert await world.fr.store.trusted_checkpoint() == trusted  # the old one stays
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["audit.fork"]
    assert any(e["event"] == "alert.audit" for e in logs)
    (alarm,) = await world.fr.store.alarms()
    # Conclusive on its own: two notes validly signed by the relay, same size, other roots.
    key = world.net.relay_key.public
    a = signed_checkpoint.verify(alarm.evidence["trusted_checkpoint"].encode(), key, ORIGIN)
    b = signed_checkpoint.verify(alarm.evidence["presented_checkpoint"].encode(), key, ORIGIN)
    assert a.size == b.size and a.root_hash != b.root_hash
    assert [h["alert"] for h in hook_alerts(world)] == ["audit"]
    # Raised once: the same forked checkpoint again adds nothing.
    again = await world.audit(force=True)
    assert again.alarms == [] and len(await world.fr.store.alarms()) == 1


async def test_bigger_tree_that_does_not_extend_ours_is_a_fork(world: World) -> None:
    await world.exchange()
    await world.audit()
    world.net.audit.rewrite(1, time="2025-03-01T11:59:00.000Z")
    await world.exchange()  # the log grows on top of the rewritten history
    report = await world.audit(force=True)
    assert [(a["kind"], a["trusted_size"] < a["presented_size"]) for a in report.alarms] == [
        ("fork", True)
    ]


async def test_split_view_is_caught_by_the_node_shown_the_other_history(world: World) -> None:
    await world.exchange()
    await world.audit()
    await world.audit(world.de)
    view = world.net.split_view("FR")
    view.rewrite(1, time="2025-03-01T12:00:00.500Z")  # FR is shown another past
    await world.exchange()
    assert [a["kind"] for a in (await world.audit(force=True)).alarms] == ["fork"]
    assert (await world.audit(world.de, force=True)).alarms == []


async def test_split_view_after_our_checkpoint_is_caught_by_content(world: World) -> None:
    await world.exchange()
    await world.audit()
    view = world.net.split_view("FR")
    await world.exchange()
    # FR's branch extends what FR trusts, but the entry of FR's own DELIVERED names
    # another recipient: consistent, yet it does not say what the receipt says.
    view.rewrite(view.size - 1, recipient="IT")
    report = await world.audit(force=True)
    assert [(a["kind"], a["reason"], a["receipt"]) for a in report.alarms] == [
        ("inclusion_failed", "audit_entry_mismatch", "DELIVERED")
    ]


async def test_smaller_tree_is_a_rollback(world: World) -> None:
    await world.exchange()
    await world.audit()
    view = world.net.split_view("FR")
    view.truncate(2)
    world.clock.advance(seconds=5)
    report = await world.audit(force=True)
    assert [(a["kind"], a["reason"]) for a in report.alarms] == [("rollback", "rollback")]


async def test_receipt_missing_from_the_log(world: World) -> None:
    world.net.audit.skip_types = {"delivered"}  # DELIVERED issued, never logged
    msg_id = await world.exchange()
    with capture_logs() as logs:
        report = await world.audit()
    assert [(a["kind"], a["reason"], a["receipt"]) for a in report.alarms] == [
        ("inclusion_failed", "audit_entry_missing", "DELIVERED")
    ]
    assert "audit.inclusion_failed" in [e["event"] for e in logs if e["log_level"] == "error"]
    assert report.proven == 2 and report.pending == 0  # an alarmed receipt is not retried
    # node status shows it, next to the receipt.
    _, _, timeline = await _timeline(world.fr, msg_id)
    delivered = next(e for e in timeline.entries if e.event == "DELIVERED")
    assert delivered.audit_log == "ALARM audit_entry_missing"
    accepted = next(e for e in timeline.entries if e.event == "ACCEPTED")
    assert accepted.audit_log == "leaf 0" and accepted.to_dict()["audit_log"] == "leaf 0"
    assert "AUDIT ALARM" in render_text(timeline)
    assert timeline.to_dict()["audit_alarms"][0]["msg_id"] == msg_id


async def test_bad_inclusion_proof(world: World) -> None:
    world.net.audit.corrupt_proofs = True
    await world.exchange()
    report = await world.audit()
    reasons = {(a["receipt"], a["reason"]) for a in report.alarms}
    # Leaf 0 of 3..: every proof that has a hash is corrupted.
    assert reasons and all(r == "audit_inclusion" for _, r in reasons)
    assert all(a["kind"] == "inclusion_failed" for a in report.alarms)


async def test_entry_that_says_something_else(world: World) -> None:
    msg_id = await world.exchange()
    world.net.audit.rewrite(0, envelope_sha256="00" * 32)  # before FR ever saw the log
    report = await world.audit()
    assert [(a["receipt"], a["reason"]) for a in report.alarms] == [
        ("ACCEPTED", "audit_entry_mismatch")
    ]
    assert {p.receipt_type for p in await world.fr.store.proofs_for(msg_id)} == {
        "DELIVERED",
        "RETRIEVED",
    }


async def test_stale_checkpoint_is_an_alarm(tmp_path: Path) -> None:
    relay_clock, node_clock = FakeClock(T0), FakeClock(T0)
    net = FakeRelayNetwork(relay_clock)
    fr = await fake_node(
        net, tmp_path / "fr", "FR", clock=node_clock, audit=AuditSettings(max_checkpoint_age=600)
    )
    try:
        await fr.peers.refresh(fr.transport, node_clock())
        node_clock.advance(seconds=601)  # the relay keeps signing at T0: frozen
        report = await auditor_for(fr).run_once(node_clock())
        assert [(a["kind"], a["reason"]) for a in report.alarms] == [
            ("checkpoint_rejected", "checkpoint_stale")
        ]
        assert await fr.store.trusted_checkpoint() is None
    finally:
        await fr.close()


# -- failures that prove nothing ----------------------------------------------------------------


async def test_note_not_signed_by_the_relay_key_is_an_error_not_an_alarm(world: World) -> None:
    await world.exchange()
    world.net.audit.key = SigningKey.generate()
    with capture_logs() as logs:
        report = await world.audit()
    assert report.alarms == [] and report.proven == 0
    assert any("note_unsigned" in e for e in report.errors)
    assert "audit.checkpoint_rejected" in [e["event"] for e in logs if e["log_level"] == "error"]
    assert await world.fr.store.trusted_checkpoint() is None


async def test_relay_down_is_retried_later(world: World) -> None:
    await world.exchange()
    world.net.down = True
    report = await world.audit()
    assert report.unreachable and report.alarms == [] and report.pending == 3
    world.net.down = False
    assert (await world.audit()).proven == 3


async def test_a_relay_that_never_gives_evidence_is_not_believed(world: World) -> None:
    msg_id = await world.exchange()
    del world.net.envelopes[msg_id]  # the evidence endpoint now answers 404
    auditor = auditor_for(world.fr)
    for _ in range(MAX_ATTEMPTS - 1):
        assert (await auditor.run_once(world.clock())).alarms == []
    report = await auditor.run_once(world.clock())
    assert len(report.alarms) == 3
    assert {a["reason"] for a in report.alarms} == {"evidence_not_found"}


async def test_status_of_the_checks_is_kept(world: World) -> None:
    await world.exchange()
    await world.audit()
    checked_at, result = await world.fr.store.audit_result()
    assert checked_at == "2025-03-01T12:00:02.000Z"
    assert result == {"proven": 3, "pending": 0, "alarms": 0, "errors": []}
    assert (await world.fr.store.audit_counts()) == {"proven": 3, "alarms": 0}


# -- the daemon ----------------------------------------------------------------------------------


async def test_the_daemon_proves_receipts_as_they_arrive(tmp_path: Path) -> None:
    net = FakeRelayNetwork()  # real time: the daemon's loops run in the background
    clock = net.clock
    fast = {
        "outbox": OutboxSettings(retry_base=0.02, retry_max=0.1, scan_interval=0.05),
        "audit": AuditSettings(check_interval=30.0),  # receipts wake it, not the interval
    }
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log, **fast)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log, **fast)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(Daemon(n, reconnect=Backoff(0.01, 0.05)).run(stop)) for n in (fr, de)
    ]
    try:
        await fr.peers.refresh(fr.transport, clock())
        form = validate_form("ping", {}, now=clock())
        msg = await fr.outbox.queue("DE", form, clock(), grace=timedelta(0))
        deadline = asyncio.get_running_loop().time() + 10
        while len(await fr.store.proofs_for(msg.msg_id)) < 3:
            assert asyncio.get_running_loop().time() < deadline, "receipts not proven in time"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    proofs = await fr.store.proofs_for(msg.msg_id)
    assert [p.leaf_index for p in proofs] == [0, 1, 2]
    assert await fr.store.alarms() == []


async def test_audit_status_shows_the_checkpoint_and_alarms(world: World) -> None:
    await world.exchange()
    await world.audit()
    status = await audit_status(world.fr)
    assert status["checkpoint"]["tree_size"] == 3 and status["alarm_count"] == 0
    assert status["proven"] == 3 and status["pending"] == 0
    assert "no alarms" in render_status(status)
    world.net.audit.rewrite(2, sender="IT")
    await world.audit(force=True)
    status = await audit_status(world.fr)
    assert status["alarm_count"] == 1 and status["checkpoint"]["tree_size"] == 3
    text = render_status(status)
    assert "ALARMS: 1" in text and "fork (fork)" in text and "trusted 3 entries" in text
    assert "presented_checkpoint" in status["alarms"][0]["evidence"]


async def test_checkpoints_no_proof_needs_are_pruned(world: World) -> None:
    from sqlalchemy import select

    from node.storage.schema import audit_checkpoints

    first = await world.exchange()
    await world.audit()
    for _ in range(3):  # the log grows, the node trusts newer checkpoints
        world.clock.advance(minutes=11)
        grow(world, 1)
        await world.audit(force=True)
    world.clock.advance(minutes=11)  # younger ones are kept: another process may use them
    second = await world.exchange()
    await world.audit(force=True)
    rows = await world.fr.store._rows(select(audit_checkpoints.c.id, audit_checkpoints.c.tree_size))
    proofs = await world.fr.store.proofs_for(first) + await world.fr.store.proofs_for(second)
    needed = {p.checkpoint_id for p in proofs}
    trusted = await world.fr.store.trusted_checkpoint()
    assert trusted is not None
    assert {r["id"] for r in rows} == needed | {trusted.id}
    assert sorted(r["tree_size"] for r in rows) == [3, 9]

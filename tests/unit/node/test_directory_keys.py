"""Keys over time with the signed directory: an encryption key rotated while envelopes are
in flight, revoked senders, evidence from before a revocation, the relay's key rotated,
and a daemon that holds its inbox while it has no trusted directory."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from keys import receipts
from keys.directory import edit
from keys.encoding import format_time
from keys.envelope import Envelope
from keys.errors import Rejected
from keys.identities import RELAY_ID, EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, make_bundle, verify_bundle
from node.daemon.loop import Daemon
from node.evidence.bundle import build_evidence, verify_bundle_doc
from node.evidence.timeline import build_timeline
from node.exchange.outbox import Backoff
from node.forms import ValidatedForm, validate_form
from node.runtime import Node
from tests.unit.node.test_directory import DAY, World, make_world, ping

HOUR = timedelta(hours=1)


async def drain(node: Node, w: World):  # type: ignore[no-untyped-def]
    return await node.inbox.handle(await node.transport.inbox(wait=0, limit=100), w.clock())


async def sealed_to(node: Node, msg_id: str) -> str:
    return Envelope.parse((await node.store.get_message(msg_id)).envelope).header.enc_key_id


# -- an encryption key rotated while envelopes are in flight -------------------------------

ROTATION = [
    # name, when DE's daemon comes back after the rotation, envelopes to the old key opened
    ("opened_during_the_overlap", HOUR, True),
    ("refused_after_the_overlap", 2 * DAY, False),
]


@pytest.mark.parametrize(("name", "later", "opened"), ROTATION, ids=[r[0] for r in ROTATION])
async def test_encryption_key_rotated_while_envelopes_in_flight(
    tmp_path: Path, name: str, later: timedelta, opened: bool
) -> None:
    w = make_world(("FR", "DE"))
    old = w.keystores["DE"]
    # 'node rotate-key' at DE: the keystore keeps the old key and gains a new one.
    rotated = old.with_new_encryption_key(EncryptionPrivateKey.generate("x25519"), w.clock())
    old_id = old.current_encryption_key.public.key_id
    new_id = rotated.current_encryption_key.public.key_id
    fr = await w.node(tmp_path, "FR")
    de = await w.node(tmp_path, "DE", keystore=rotated)
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    in_flight = [await ping(fr, "DE", w.clock) for _ in range(3)]
    assert {await sealed_to(fr, m) for m in in_flight} == {old_id}

    # The secretariat lists the new key with a one-day overlap; FR seals to it at once.
    bundle = verify_bundle(make_bundle(rotated, w.clock()))
    w.change(lambda d: edit.rotate_encryption_key(d, "DE", bundle, now=w.clock(), overlap=DAY))
    w.publish()
    await fr.peers.refresh(fr.transport, w.clock())
    after = await ping(fr, "DE", w.clock)
    assert await sealed_to(fr, after) == new_id

    w.clock.advance(seconds=later.total_seconds())
    await de.peers.refresh(de.transport, w.clock())  # the daemon's periodic refresh
    report = await drain(de, w)
    assert after in report.received
    if opened:
        assert sorted(report.received) == sorted([*in_flight, after]) and not report.rejected
    else:
        assert sorted(report.rejected) == sorted(in_flight)
        rows = {r.msg_id: r for r in await de.store.rejections()}
        assert {(rows[m].reason, rows[m].sent_reason) for m in in_flight} == {
            ("enc_key_retired", "unknown_key")
        }
        await drain(fr, w)  # FR learns why, by a signed REJECTED receipt
        for m in in_flight:
            got = {(r.type, r.reason) for r in await fr.store.receipts_for(m)}
            assert ("REJECTED", "unknown_key") in got
    await fr.close()
    await de.close()


async def test_a_late_recipient_refreshes_before_it_opens(tmp_path: Path) -> None:
    """FR refreshed first and sealed to DE's new key; DE, still on the old version, fetches
    the new one instead of refusing the envelope."""
    w = make_world(("FR", "DE"))
    rotated = w.keystores["DE"].with_new_encryption_key(
        EncryptionPrivateKey.generate("x25519"), w.clock()
    )
    fr = await w.node(tmp_path, "FR")
    de = await w.node(tmp_path, "DE", keystore=rotated)
    await de.peers.refresh(de.transport, w.clock())
    bundle = verify_bundle(make_bundle(rotated, w.clock()))
    w.change(lambda d: edit.rotate_encryption_key(d, "DE", bundle, now=w.clock(), overlap=DAY))
    w.publish()
    await fr.peers.refresh(fr.transport, w.clock())
    msg_id = await ping(fr, "DE", w.clock)
    report = await drain(de, w)
    assert report.received == [msg_id] and not report.rejected
    await fr.close()
    await de.close()


# -- revocation -------------------------------------------------------------------------------

REVOCATION = [
    # name, revocation time relative to the envelope's created_at, opened by DE
    ("revoked_before_it_was_sealed", -HOUR / 2, False),
    ("revoked_after_it_was_sealed", HOUR / 2, True),
]


@pytest.mark.parametrize(("name", "shift", "opened"), REVOCATION, ids=[r[0] for r in REVOCATION])
async def test_revoked_sender_refused_by_the_node(
    tmp_path: Path, name: str, shift: timedelta, opened: bool
) -> None:
    """The fake relay does not enforce the directory, as a relay that has not installed the
    new version yet would not: the node itself judges the sender's key at created_at."""
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    w.clock.advance(hours=1)
    sealed_at = w.clock()
    msg_id = await ping(fr, "DE", w.clock)
    w.clock.advance(hours=1)
    w.change(lambda d: edit.revoke(d, "FR", at=sealed_at + shift, reason="key compromise"))
    w.publish()
    await de.peers.refresh(de.transport, w.clock())
    report = await drain(de, w)
    if opened:
        assert report.received == [msg_id]
    else:
        assert report.rejected == [msg_id]
        [row] = await de.store.rejections()
        assert (row.reason, row.sent_reason) == ("sender_inactive", "unknown_sender")
    await fr.close()
    await de.close()


async def test_envelope_sealed_before_a_revocation_still_verifies_in_evidence(
    tmp_path: Path,
) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    msg_id = await ping(fr, "DE", w.clock)
    w.clock.advance(minutes=5)
    assert (await drain(de, w)).received == [msg_id]
    await drain(fr, w)  # DELIVERED and RETRIEVED reach FR
    created = (await de.store.get_message(msg_id)).created_at
    w.clock.advance(hours=1)
    w.change(lambda d: edit.revoke(d, "FR", at=w.clock(), reason="left the network"))
    w.publish()
    w.clock.advance(hours=1)
    for n in (fr, de):
        assert (await n.peers.refresh(n.transport, w.clock())).updated

    assert de.peers.verify_key_for("FR", created) == w.keystores["FR"].signing_key.public
    with pytest.raises(Rejected) as e:
        de.peers.verify_key_for("FR", w.clock())
    assert e.value.reason == "sender_inactive"
    for node in (de, fr):
        msg = await node.store.get_message(msg_id)
        stored = await node.store.receipts_for(msg_id)
        keys = {p: h for p in ("FR", "DE", RELAY_ID) if (h := node.peers.key_history(p))}
        doc = build_evidence(
            msg, stored, keys, exported_at=format_time(w.clock()), exported_by=node.config.party
        )
        report = verify_bundle_doc(doc, node.peers.key_history)
        assert report.valid and report.key_source == "pinned", report.to_dict()
        timeline = build_timeline(msg, stored, [], node.peers.key_at)
        assert timeline.all_signatures_valid
    await fr.close()
    await de.close()


# -- the relay's key, judged at issued_at -------------------------------------------------------


async def test_accepted_receipts_checked_with_the_relay_key_valid_when_issued(
    tmp_path: Path,
) -> None:
    w = make_world(("FR", "DE"))
    fr = await w.node(tmp_path, "FR")
    await fr.peers.refresh(fr.transport, w.clock())
    old_relay = w.relay.keystore
    new_relay = Keystore(RELAY_ID, SigningKey.generate())
    switch = w.clock() + HOUR
    bundle = verify_bundle(make_bundle(new_relay, w.clock()))
    w.change(lambda d: edit.set_relay(d, bundle, at=switch))
    w.publish()
    await fr.peers.refresh(fr.transport, w.clock())

    before = await ping(fr, "DE", w.clock)  # the old key, inside its window
    w.clock.advance(hours=2)
    w.relay.keystore = old_relay  # a relay still signing with the retired key: refused
    form_msg = await fr.outbox.queue("DE", _ping_form(w), w.clock())
    assert await fr.outbox.submit(form_msg, w.clock()) == "retrying"
    w.relay.envelopes.pop(form_msg.msg_id)
    w.relay.keystore = new_relay
    assert (
        await fr.outbox.submit(await fr.store.get_message(form_msg.msg_id), w.clock()) == "accepted"
    )
    for m in (before, form_msg.msg_id):
        [accepted] = [r for r in await fr.store.receipts_for(m) if r.type == "ACCEPTED"]
        issuer_key = old_relay if m == before else new_relay
        receipts.verify(accepted.wire, issuer_key.signing_key.public)
    await fr.close()


def _ping_form(w: World) -> ValidatedForm:
    return validate_form("ping", {}, now=w.clock())


# -- the daemon without a trusted directory ------------------------------------------------------


async def test_daemon_holds_the_inbox_until_it_trusts_a_directory(tmp_path: Path) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    await fr.peers.refresh(fr.transport, w.clock())
    msg_id = await ping(fr, "DE", w.clock)
    served = w.relay.directory_file
    w.relay.directory_file = None  # the relay lost its directory: it serves bundles
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(Daemon(de, reconnect=Backoff(0.01, 0.05)).run(stop))
        await asyncio.sleep(0.3)
        assert ("DE", "inbox") not in w.relay.calls  # nothing opened without trusted keys
        assert await de.store.counts() == {}
        w.relay.directory_file = served
        for _ in range(200):
            if await de.store.has_message(msg_id):
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
    events = [e["event"] for e in logs]
    assert await de.store.has_message(msg_id)
    assert events.count("inbox.held") == 1 and "inbox.resumed" in events
    assert "directory.rejected" in events
    await fr.close()
    await de.close()

"""Checkpoints are checked with the relay key that signed them, valid at their time.

The secretariat publishes the relay's next key ahead of the switch; nodes take the new
directory at once, while the relay keeps signing with its current key until the switch.
The node's audit checks (and evidence bundles) must accept checkpoints of both keys, each
within its window, and refuse a key used outside it. Named cases for
:func:`node.audit.relaykeys.verify_checkpoint`, then the daemon's auditor on the fake relay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.auditlog.checkpoint import Checkpoint
from keys.directory import SigningKeyEntry
from keys.errors import Rejected
from keys.identities import RELAY_ID, SigningKey
from node.audit.auditor import auditor_for
from node.audit.relaykeys import verify_checkpoint
from node.evidence.bundle import verify_bundle_doc
from node.trust.keyhistory import KeyHistory
from tests.unit.keys.test_keys_at_time import (
    HOUR,
    ORIGIN,
    bundle_of,
    drain,
    failures,
    rotate_relay,
    switch_relay,
)
from tests.unit.node.test_directory import T0, make_world, ping

OLD, NEW = SigningKey.generate(), SigningKey.generate()
SWITCH = T0 + HOUR
RELAY = KeyHistory(
    RELAY_ID,
    (SigningKeyEntry(OLD.public, T0 - HOUR, SWITCH), SigningKeyEntry(NEW.public, SWITCH)),
)


def note(at: datetime, *keys: SigningKey, origin: str = ORIGIN) -> bytes:
    head = Checkpoint.at(at, origin, 3, merkle.leaf_hash(b"x"))
    signed = signed_checkpoint.sign(head, keys[0])
    for key in keys[1:]:  # more signature lines on the same text
        signed += signed_checkpoint.sign(head, key).split(b"\n\n", 1)[1]
    return signed


def _bad_line(at: datetime) -> bytes:
    good = note(at, OLD)
    text, sig = good.split(b"\n\n", 1)
    return text.replace(b"\n3\n", b"\n4\n") + b"\n\n" + sig  # a relay key's line, wrong text


CASES = [
    # name, note, the reason it is refused (None: accepted)
    ("old key inside its window", note(SWITCH - timedelta(minutes=1), OLD), None),
    ("new key inside its window", note(SWITCH, NEW), None),
    ("new key published ahead, used early", note(SWITCH - HOUR / 2, NEW), "checkpoint_key_window"),
    ("old key after the switch", note(SWITCH + HOUR / 2, OLD), "checkpoint_key_window"),
    ("both keys sign at the switch", note(SWITCH, OLD, NEW), None),
    ("a key the directory does not list", note(SWITCH, SigningKey.generate()), "note_unsigned"),
    ("a relay key's line that does not verify", _bad_line(SWITCH - HOUR / 2), "note_signature"),
    (
        "another log (its own key name)",
        note(SWITCH, NEW, origin="pocnet.relay/other"),
        "note_unsigned",
    ),
]


@pytest.mark.parametrize(("name", "signed", "reason"), CASES, ids=[c[0] for c in CASES])
def test_checkpoint_key_by_key_id_and_window(name: str, signed: bytes, reason: str | None) -> None:
    if reason is None:
        assert verify_checkpoint(signed, RELAY, ORIGIN).size == 3
        return
    with pytest.raises(Rejected) as e:
        verify_checkpoint(signed, RELAY, ORIGIN)
    assert e.value.reason == reason


async def test_relay_key_rotation_with_the_new_key_published_ahead(tmp_path: Path) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    auditor = auditor_for(fr)

    async def audit_clean() -> None:
        report = await auditor.run_once(w.clock(), force=True)
        assert report.errors == [] and report.alarms == [], report.to_dict()

    old_key = w.relay.keystore.signing_key
    first = await ping(fr, "DE", w.clock)
    await audit_clean()  # ACCEPTED proven against a checkpoint of the old key
    old_size = (await fr.store.trusted_checkpoint()).tree_size  # type: ignore[union-attr]

    # The next relay key is published an hour ahead; FR and DE take the directory now.
    new_key = rotate_relay(w, w.clock() + HOUR)
    for n in (fr, de):
        assert (await n.peers.refresh(n.transport, w.clock())).updated
    w.clock.advance(minutes=10)
    second = await ping(fr, "DE", w.clock)
    await audit_clean()  # the relay still signs with the old key, inside its window

    w.clock.advance(hours=1)
    switch_relay(w, new_key)
    w.clock.advance(seconds=5)
    await drain(de, w)  # DELIVERED by the new key, RETRIEVED by DE
    await drain(fr, w)
    await audit_clean()  # consistency from the old key's checkpoint to the new key's
    trusted = await fr.store.trusted_checkpoint()
    assert trusted is not None and trusted.tree_size > old_size
    assert await fr.store.unaudited_receipts(100) == []

    # The first message's proofs lead to checkpoints of both keys: both verify offline.
    doc = await bundle_of(fr, first)
    assert len(doc["audit"]["checkpoints"]) == 2
    for report in (verify_bundle_doc(doc), verify_bundle_doc(doc, fr.peers.key_history)):
        assert report.valid, failures(report)
    assert verify_bundle_doc(await bundle_of(fr, second), fr.peers.key_history).valid

    # A relay still signing with the retired key after the switch: refused, no alarm.
    switch_relay(w, old_key)
    w.clock.advance(seconds=1)
    report = await auditor.run_once(w.clock(), force=True)
    assert report.alarms == [] and any("checkpoint_key_window" in e for e in report.errors)
    assert (await fr.store.trusted_checkpoint()) == trusted
    await fr.close()
    await de.close()

"""Signatures are judged with the key valid when they were made, not the newest one.

After a party rotates its signing key, or the relay rotates its receipt key, every older
signature must still show ``valid`` in the timeline (``node status``) and in the evidence
bundle (``node evidence verify``, with the bundle's keys and with the verifier's own
directory), while a signature made with a key outside its window, or after its party was
revoked, must not. Named cases on the fake relay with the signed directory
(:func:`tests.unit.node.test_directory.make_world`).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import receipts
from keys.directory import Directory, edit
from keys.encoding import format_time, loads_strict
from keys.errors import Rejected
from keys.identities import RELAY_ID, SigningKey
from keys.keystore import Keystore, make_bundle, verify_bundle
from node.evidence.bundle import export_bundle, verify_bundle_doc
from node.evidence.timeline import build_timeline, render_text
from node.runtime import Node
from node.storage.records import StoredReceipt
from node.trust.keyhistory import KeyHistory
from tests.unit.node.test_directory import BEFORE, T0, World, make_world, ping

HOUR = timedelta(hours=1)
ORIGIN = "pocnet.relay/pocnet"


async def drain(node: Node, w: World) -> Any:
    return await node.inbox.handle(await node.transport.inbox(wait=0, limit=100), w.clock())


async def exchange(w: World, fr: Node, de: Node) -> str:
    """FR pings DE; DE opens it; FR receives DELIVERED and RETRIEVED."""
    msg_id = await ping(fr, "DE", w.clock)
    w.clock.advance(seconds=5)
    assert (await drain(de, w)).received == [msg_id]
    await drain(fr, w)
    return msg_id


def rotate_party(w: World, party: str, at: datetime) -> SigningKey:
    """The secretariat gives ``party`` a new signing key from ``at`` (published now)."""
    old = w.keystores[party]
    new = Keystore(party, SigningKey.generate(), old.encryption_keys)
    bundle = verify_bundle(make_bundle(new, w.clock()))
    w.change(lambda d: edit.rotate_signing_key(d, party, bundle, at=at))
    w.publish()
    return new.signing_key


def rotate_relay(w: World, at: datetime) -> SigningKey:
    """The secretariat lists a new relay key from ``at`` (published now, ahead of it)."""
    new = Keystore(RELAY_ID, SigningKey.generate())
    bundle = verify_bundle(make_bundle(new, w.clock()))
    w.change(lambda d: edit.set_relay(d, bundle, at=at))
    w.publish()
    return new.signing_key


def switch_relay(w: World, key: SigningKey) -> None:
    """The relay starts signing receipts and checkpoints with ``key``."""
    w.relay.keystore = Keystore(RELAY_ID, key)
    w.relay.audit.key = key


async def timeline_of(node: Node, msg_id: str) -> Any:
    msg = await node.store.get_message(msg_id)
    stored = await node.store.receipts_for(msg_id)
    return build_timeline(msg, stored, await node.store.replies_to(msg_id), node.peers.key_at)


async def bundle_of(node: Node, msg_id: str) -> dict[str, Any]:
    return await export_bundle(
        node.store,
        node.peers,
        await node.store.get_message(msg_id),
        origin=ORIGIN,
        exported_at=format_time(node.clock()),
        exported_by=node.config.party,
    )


def failures(report: Any) -> list[str]:
    return [f"{c['check']}: {c.get('note', '')}" for c in report.checks if not c["ok"]]


# -- rotations: older signatures stay valid ------------------------------------------------------

ROTATIONS = ["sender FR", "recipient DE", "relay"]


@pytest.mark.parametrize("rotated", ROTATIONS)
async def test_signatures_made_before_a_rotation_stay_valid(tmp_path: Path, rotated: str) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    before = await exchange(w, fr, de)
    switch = w.clock() + HOUR
    if rotated == "relay":
        new_relay = rotate_relay(w, switch)
    else:
        rotate_party(w, rotated.split()[1], switch)
    for n in (fr, de):
        assert (await n.peers.refresh(n.transport, w.clock())).updated
    w.clock.advance(hours=2)
    if rotated == "relay":  # the relay switched: a message after it has new-key receipts
        switch_relay(w, new_relay)
        after = await exchange(w, fr, de)
    for node in (fr, de):
        t = await timeline_of(node, before)
        assert t.all_signatures_valid, render_text(t)
        assert "WARNING" not in render_text(t)
        for report in (
            verify_bundle_doc(await bundle_of(node, before)),
            verify_bundle_doc(await bundle_of(node, before), node.peers.key_history),
        ):
            assert report.valid, failures(report)
    if rotated == "relay":
        assert (await timeline_of(fr, after)).all_signatures_valid
        doc = await bundle_of(fr, after)
        assert verify_bundle_doc(doc, fr.peers.key_history).valid
        assert len(doc["keys"]["relay"]["signing_keys"]) == 2  # both keys, with windows
    await fr.close()
    await de.close()


async def test_bundle_carries_windows_status_and_the_directory_version(tmp_path: Path) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    msg_id = await exchange(w, fr, de)
    doc = await bundle_of(fr, msg_id)
    assert doc["v"] == 3 and doc["content"] is None and sorted(doc["keys"]) == ["DE", "FR", "relay"]
    assert doc["directory"] == {
        "version": w.directory.version,
        "payload_sha256": w.directory.payload_sha256,
    }
    fr_keys = doc["keys"]["FR"]
    assert fr_keys["status"] == {"state": "active"}
    assert fr_keys["signing_keys"] == [e.to_dict() for e in w.directory.party("FR").signing_keys]
    report = verify_bundle_doc(doc)
    assert report.valid and report.directory == doc["directory"]
    await fr.close()
    await de.close()


# -- a key used outside its window, or after a revocation ----------------------------------------


def _resigned(row: StoredReceipt, key: SigningKey, at: datetime) -> StoredReceipt:
    """``row``'s receipt re-issued at ``at`` and signed by ``key``."""
    statement = loads_strict(receipts.parse_wire(row.wire)[0])
    signed = receipts.issue_at(
        at,
        key,
        type=statement["type"],
        msg_id=statement["msg_id"],
        envelope_sha256=statement["envelope_sha256"],
        issuer=statement["issuer"],
        reason=statement.get("reason"),
        leaf_index=statement.get("leaf_index"),
    )
    return replace(row, wire=signed.to_bytes(), issued_at=at, sha256=signed.sha256)


async def test_relay_key_used_outside_its_window_is_invalid(tmp_path: Path) -> None:
    """The new relay key signing a receipt dated before the switch (or the old key after
    it) is refused in the timeline and in the bundle, even with the bundle's own keys."""
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    msg_id = await exchange(w, fr, de)
    old_relay = w.relay.keystore.signing_key
    switch = w.clock() + HOUR
    new_relay = rotate_relay(w, switch)
    await fr.peers.refresh(fr.transport, w.clock())
    msg = await fr.store.get_message(msg_id)
    stored = await fr.store.receipts_for(msg_id)
    accepted = next(r for r in stored if r.type == "ACCEPTED")
    cases = {
        "new key before its window": _resigned(accepted, new_relay, switch - HOUR / 2),
        "old key after its window": _resigned(accepted, old_relay, switch + HOUR / 2),
    }
    for name, forged in cases.items():
        rows = [forged if r is accepted else r for r in stored]
        t = build_timeline(msg, rows, [], fr.peers.key_at)
        entry = next(e for e in t.entries if e.event == "ACCEPTED")
        assert entry.signature == "INVALID" and not t.all_signatures_valid, name
        doc = await bundle_of(fr, msg_id)
        doc["receipts"][0] = loads_strict(forged.wire)
        for report in (verify_bundle_doc(doc), verify_bundle_doc(doc, fr.peers.key_history)):
            assert "receipt 0 signature by relay: receipt_signature" in failures(report), name
    await fr.close()
    await de.close()


async def test_receipt_signed_after_its_issuer_was_revoked(tmp_path: Path) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    msg_id = await exchange(w, fr, de)
    revoked_at = w.clock() + HOUR
    w.change(lambda d: edit.revoke(d, "DE", at=revoked_at, reason="key compromise"))
    w.publish()
    await fr.peers.refresh(fr.transport, w.clock())
    msg = await fr.store.get_message(msg_id)
    stored = await fr.store.receipts_for(msg_id)
    retrieved = next(r for r in stored if r.type == "RETRIEVED")
    late = _resigned(retrieved, w.keystores["DE"].signing_key, revoked_at + HOUR)
    late = replace(late, type="ACKNOWLEDGED")
    t = build_timeline(msg, [*stored, late], [], fr.peers.key_at)
    signatures = {e.event: e.signature for e in t.entries}
    assert signatures["RETRIEVED"] == "valid"  # made before the revocation: still evidence
    assert signatures["ACKNOWLEDGED"] == "no key valid then"
    assert not t.all_signatures_valid
    doc = await bundle_of(fr, msg_id)
    doc["receipts"].append(loads_strict(late.wire))
    assert doc["keys"]["DE"]["status"]["state"] == "revoked"
    for report in (verify_bundle_doc(doc), verify_bundle_doc(doc, fr.peers.key_history)):
        bad = failures(report)
        assert len(bad) == 1 and "no key of DE valid at" in bad[0], bad
        assert "sender_inactive" in bad[0]
    await fr.close()
    await de.close()


async def test_pinned_directory_wins_over_a_forged_window(tmp_path: Path) -> None:
    """A forger who re-dates the windows in the bundle passes a consistency-only check,
    not the verifier's own directory."""
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    msg_id = await exchange(w, fr, de)
    stored = await fr.store.receipts_for(msg_id)
    forger = SigningKey.generate()
    doc = await bundle_of(fr, msg_id)
    for i, row in enumerate(stored):  # every relay receipt, re-signed by the forger
        if row.issuer == RELAY_ID:
            doc["receipts"][i] = loads_strict(_resigned(row, forger, w.clock()).wire)
    doc["keys"]["relay"] = KeyHistory.single(RELAY_ID, forger.public).to_dict()
    doc["audit"] = None
    assert verify_bundle_doc(doc).valid  # the bundle is consistent with itself
    report = verify_bundle_doc(doc, fr.peers.key_history)
    assert not report.valid
    assert any("receipt_signature" in f for f in failures(report))
    await fr.close()
    await de.close()


# -- version 1 bundles are still read -------------------------------------------------------------


async def test_version_1_bundle_still_verifies(tmp_path: Path) -> None:
    w = make_world(("FR", "DE"))
    fr, de = await w.node(tmp_path, "FR"), await w.node(tmp_path, "DE")
    for n in (fr, de):
        await n.peers.refresh(n.transport, w.clock())
    msg_id = await exchange(w, fr, de)
    doc = copy.deepcopy(await bundle_of(fr, msg_id))
    v1 = {k: v for k, v in doc.items() if k != "directory"}
    v1["v"] = 1
    v1["keys"] = {p: h["signing_keys"][-1]["key"] for p, h in doc["keys"].items()}
    assert verify_bundle_doc(v1).valid
    v1["keys"]["DE"] = SigningKey.generate().public.to_b64()
    assert not verify_bundle_doc(v1).valid
    await fr.close()
    await de.close()


# -- KeyHistory says what the directory says -------------------------------------------------------


def _directory_with_rotations() -> tuple[Directory, datetime]:
    w = make_world(("FR", "DE"))
    rotate_party(w, "FR", T0 + HOUR)
    rotate_party(w, "FR", T0 + 3 * HOUR)
    rotate_relay(w, T0 + 2 * HOUR)
    w.change(lambda d: edit.revoke(d, "DE", at=T0 + 4 * HOUR, reason="left"))
    return w.directory, T0


DIRECTORY, START = _directory_with_rotations()
HISTORIES = {
    p: KeyHistory(p, DIRECTORY.party(p).signing_keys, DIRECTORY.party(p).status)
    for p in ("FR", "DE")
}
assert DIRECTORY.relay is not None
HISTORIES[RELAY_ID] = KeyHistory(RELAY_ID, DIRECTORY.relay.signing_keys)


@settings(max_examples=200, deadline=None)
@given(
    party=st.sampled_from(sorted(HISTORIES)),
    offset=st.integers(-2 * 3600 * 1000, 6 * 3600 * 1000),
)
def test_key_history_agrees_with_the_directory(party: str, offset: int) -> None:
    at = START + timedelta(milliseconds=offset)
    lookup = DIRECTORY.relay_key_for if party == RELAY_ID else None

    def expected() -> Any:
        try:
            return lookup(at) if lookup else DIRECTORY.signing_key_for(party, at)
        except Rejected as e:
            return e.reason

    def got() -> Any:
        try:
            return HISTORIES[party].key_at(at)
        except Rejected as e:
            return e.reason

    assert got() == expected()
    history = HISTORIES[party]
    assert KeyHistory.from_dict(party, history.to_dict()) == history


def test_key_history_refuses_overlapping_windows() -> None:
    a, b = SigningKey.generate().public, SigningKey.generate().public
    entries = HISTORIES["FR"].to_dict()
    entries["signing_keys"][0]["not_after"] = None  # open-ended, then another key
    with pytest.raises(Exception, match="overlap"):
        KeyHistory.from_dict("FR", entries)
    assert KeyHistory.single("FR", a).key_at(datetime(2000, 1, 1, tzinfo=UTC)) == a
    assert KeyHistory.single("FR", b).key_at(BEFORE) == b

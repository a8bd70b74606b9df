"""Evidence bundles with audit-log proofs: they verify offline, and any tampering fails.

The bundle comes from FR after an exchange on the fake relay and one audit pass: each of
ACCEPTED, DELIVERED and RETRIEVED carries its log entry, leaf index and inclusion proof,
and the signed checkpoint they lead to. Named tampering cases, a property test flipping
any byte of the audit part, and ``node evidence verify`` (exit 7) on a file.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.auditlog.checkpoint import Checkpoint, origin_for
from keys.auditlog.entry import entry_bytes, parse_entry
from keys.encoding import b64u_decode, b64u_encode
from keys.host.command import EXIT_REFUSED
from keys.identities import SigningKey
from node.audit.auditor import auditor_for
from node.cli.main import main as node_main
from node.evidence.bundle import export_bundle, verify_bundle_doc
from node.forms import validate_form
from node.trust.keyhistory import KeyHistory
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ORIGIN = origin_for("pocnet")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """FR's evidence bundle of a request DE retrieved, after FR's audit pass."""
    import asyncio

    return asyncio.run(_make_bundle(tmp_path_factory.mktemp("evidence")))


async def _make_bundle(tmp: Path) -> dict[str, Any]:
    clock = FakeClock(T0)
    net = FakeRelayNetwork(clock)
    fr = await fake_node(net, tmp / "fr", "FR", clock=clock)
    de = await fake_node(net, tmp / "de", "DE", clock=clock)
    try:
        for n in (fr, de):
            await n.peers.refresh(n.transport, clock())
        form = validate_form("ping", {}, now=T0)
        msg = await fr.outbox.queue("DE", form, clock())
        await fr.outbox.submit(msg, clock())
        clock.advance(seconds=1)
        await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())
        clock.advance(seconds=1)
        await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=10), clock())
        report = await auditor_for(fr).run_once(clock())
        assert report.proven == 3 and not report.alarms
        stored = await fr.store.get_message(msg.msg_id)
        return await export_bundle(
            fr.store,
            fr.peers,
            stored,
            origin=ORIGIN,
            exported_at="2025-03-02T00:00:00.000Z",
            exported_by="FR",
        )
    finally:
        await fr.close()
        await de.close()


def failures(doc: dict[str, Any]) -> list[str]:
    report = verify_bundle_doc(doc)
    return [f"{c['check']}: {c.get('note', '')}" for c in report.checks if not c["ok"]]


def audit_checks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in verify_bundle_doc(doc).checks if "audit" in c["check"]]


def test_bundle_with_proofs_verifies_offline(bundle: dict[str, Any]) -> None:
    report = verify_bundle_doc(bundle)
    assert report.valid, failures(bundle)
    audit = bundle["audit"]
    assert audit["origin"] == ORIGIN and len(audit["checkpoints"]) == 1
    assert sorted(p["leaf_index"] for p in audit["proofs"]) == [0, 1, 2]
    logged = [c["check"] for c in report.checks if c["check"].endswith("relay's audit log")]
    assert len(logged) == 3
    assert report.notes == []
    # The relay's keys travel in "keys", with their windows (not in the audit part).
    assert "relay_key" not in audit and bundle["keys"]["relay"]["signing_keys"]


def test_bundle_without_proofs_says_so(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    doc["audit"] = None
    report = verify_bundle_doc(doc)
    assert report.valid and report.notes == ["no audit-log proofs in this bundle"]
    doc = copy.deepcopy(bundle)
    doc["audit"]["proofs"] = doc["audit"]["proofs"][:2]
    report = verify_bundle_doc(doc)
    assert report.valid and len(report.notes) == 1 and "no audit-log proof" in report.notes[0]


def _entry_of(doc: dict[str, Any], n: int) -> dict[str, Any]:
    return parse_entry(b64u_decode(doc["audit"]["proofs"][n]["entry"]))


def _flip_hash(doc: dict[str, Any]) -> None:
    proof = next(p for p in doc["audit"]["proofs"] if p["hashes"])
    raw = bytearray(b64u_decode(proof["hashes"][0]))
    raw[0] ^= 1
    proof["hashes"][0] = b64u_encode(bytes(raw))


def _other_entry(doc: dict[str, Any]) -> None:
    fields = _entry_of(doc, 0)
    fields["recipient"] = "IT"
    doc["audit"]["proofs"][0]["entry"] = b64u_encode(entry_bytes(fields))


def _edit_checkpoint(doc: dict[str, Any]) -> None:
    note = doc["audit"]["checkpoints"][0]
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    doc["audit"]["checkpoints"][0] = "\n".join(lines)


def _wrong_leaf(doc: dict[str, Any]) -> None:
    a, b = doc["audit"]["proofs"][0], doc["audit"]["proofs"][1]
    a["leaf_index"], b["leaf_index"] = b["leaf_index"], a["leaf_index"]


def _relay_history(key: SigningKey) -> dict[str, Any]:
    return KeyHistory.single("relay", key.public).to_dict()


def _other_relay_key(doc: dict[str, Any]) -> None:
    doc["keys"]["relay"] = _relay_history(SigningKey.generate())


def _forked_checkpoints(doc: dict[str, Any]) -> None:
    # Two validly signed checkpoints of the same size with other roots (a new relay key
    # signs both here: the relay's receipts then fail too, which is not what we look at).
    key = SigningKey.generate()
    doc["keys"]["relay"] = _relay_history(key)
    first = Checkpoint.from_body(doc["audit"]["checkpoints"][0].split("\n\n")[0].encode() + b"\n")
    other = Checkpoint(first.origin, first.size, merkle.leaf_hash(b"x"), first.time)
    doc["audit"]["checkpoints"] = [
        signed_checkpoint.sign(first, key).decode(),
        signed_checkpoint.sign(other, key).decode(),
    ]


def _unknown_receipt(doc: dict[str, Any]) -> None:
    doc["audit"]["proofs"][0]["receipt_sha256"] = "ab" * 32


def _missing_checkpoint(doc: dict[str, Any]) -> None:
    doc["audit"]["proofs"][0]["checkpoint"] = 5


TAMPERING = {
    "a proof hash flipped": (_flip_hash, "does not lead to the checkpoint's root"),
    "an entry naming another recipient": (_other_entry, "does not say what the receipt says"),
    "the checkpoint's size edited": (_edit_checkpoint, "note_signature"),
    "two proofs' leaf indexes swapped": (_wrong_leaf, "the receipt names leaf"),
    "another relay key": (_other_relay_key, "signature"),
    "two checkpoints of one size": (_forked_checkpoints, "the relay forked its log"),
    "a proof of a receipt not in the bundle": (_unknown_receipt, ""),
    "a proof naming no checkpoint": (_missing_checkpoint, "checkpoint is missing"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_audit_part_fails(bundle: dict[str, Any], case: str) -> None:
    tamper, expected = TAMPERING[case]
    doc = copy.deepcopy(bundle)
    tamper(doc)
    report = verify_bundle_doc(doc)
    assert not report.valid
    assert any(expected in f for f in failures(doc)), failures(doc)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_byte_of_an_entry_or_hash_flipped_fails(bundle: dict[str, Any], data: Any) -> None:
    doc = copy.deepcopy(bundle)
    proofs = doc["audit"]["proofs"]
    proof = proofs[data.draw(st.integers(0, len(proofs) - 1))]
    field = data.draw(st.sampled_from(["entry", "hash"]))
    if field == "hash" and not proof["hashes"]:
        field = "entry"
    raw = bytearray(b64u_decode(proof["entry"] if field == "entry" else proof["hashes"][0]))
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    if field == "entry":
        proof["entry"] = b64u_encode(bytes(raw))
    else:
        proof["hashes"][0] = b64u_encode(bytes(raw))
    assert not verify_bundle_doc(doc).valid


def test_node_evidence_verify_exit_codes(bundle: dict[str, Any], tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle))
    doc = copy.deepcopy(bundle)
    _flip_hash(doc)
    bad.write_text(json.dumps(doc))
    empty = tmp_path / "no-node"
    empty.mkdir()
    common = ["--data", str(empty), "--included-keys"]
    assert node_main(["evidence", "verify", str(good), *common]) == 0
    assert node_main(["evidence", "verify", str(bad), *common]) == EXIT_REFUSED

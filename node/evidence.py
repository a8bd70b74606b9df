"""Evidence bundles: everything a third party needs to check, offline, what happened to a
message.

A bundle (``pocnet-evidence`` v1, JSON) holds the envelope's wire form and digest, every
receipt this node holds about it (wire form, so signatures can be checked), the signing
keys of the issuers as this node pinned them, the relay-logged receipts' audit-log entries
with inclusion proofs and the signed checkpoints they lead to (``"audit"``, see
:mod:`node.evidence_audit`), and optionally the relay's own evidence answer.
:func:`verify_bundle_doc` recomputes the digest, checks the envelope's outer signature,
each receipt's signature, ``msg_id`` and digest, and each audit proof (checkpoint
signature, entry content, inclusion), with keys pinned by the verifier when given (else
the keys included, which proves consistency only, and says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keys import receipts
from keys.encoding import canonical, loads_strict
from keys.envelope import Envelope
from keys.errors import PocnetError, Rejected, ValidationError
from keys.identities import RELAY_ID, VerifyKey
from node.evidence_audit import audit_section, check_audit
from node.peers import PeerKeys
from node.records import StoredMessage, StoredReceipt
from node.store import Store

FORMAT = "pocnet-evidence"
MAX_EVIDENCE_BYTES = 8 * 1024 * 1024


def build_evidence(
    msg: StoredMessage,
    stored: list[StoredReceipt],
    keys: Mapping[str, VerifyKey],
    *,
    exported_at: str,
    exported_by: str,
    relay_evidence: Mapping[str, Any] | None = None,
    audit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The evidence bundle of ``msg`` (no plaintext: the envelope stays encrypted).

    ``audit`` is the audit part (:func:`node.evidence_audit.audit_section`), if any.
    """
    issuers = {r.issuer for r in stored} | {msg.sender}
    envelope = Envelope.parse(msg.envelope)
    return {
        "format": FORMAT,
        "v": 1,
        "msg_id": msg.msg_id,
        "exported_at": exported_at,
        "exported_by": exported_by,
        "header": envelope.header.to_dict(),
        "envelope": envelope.to_wire(),
        "envelope_sha256": msg.envelope_sha256,
        "receipts": [
            loads_strict(r.wire, max_bytes=2 * receipts.MAX_RECEIPT_BYTES) for r in stored
        ],
        "keys": {p: keys[p].to_b64() for p in sorted(issuers) if p in keys},
        "relay_evidence": dict(relay_evidence) if relay_evidence is not None else None,
        "audit": dict(audit) if audit is not None else None,
    }


async def export_bundle(
    store: Store,
    peers: PeerKeys,
    msg: StoredMessage,
    *,
    origin: str,
    exported_at: str,
    exported_by: str,
    relay_evidence: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The bundle of ``msg`` from what the node holds: its receipts, the keys it trusts,
    and the audit-log proofs it verified (with the checkpoints they lead to)."""
    stored = await store.receipts_for(msg.msg_id)
    parties = {r.issuer for r in stored} | {msg.sender, RELAY_ID}
    keys = {p: k for p in parties if (k := peers.key_for(p)) is not None}
    proofs = await store.proofs_for(msg.msg_id)
    audit = audit_section(
        origin,
        peers.key_for(RELAY_ID),
        proofs,
        await store.checkpoints([p.checkpoint_id for p in proofs]),
    )
    return build_evidence(
        msg,
        stored,
        keys,
        exported_at=exported_at,
        exported_by=exported_by,
        relay_evidence=relay_evidence,
        audit=audit,
    )


@dataclass
class EvidenceReport:
    """The result of checking a bundle: one line per check."""

    msg_id: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    key_source: str = "included"
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks)

    def add(self, what: str, ok: bool, note: str = "") -> None:
        self.checks.append({"check": what, "ok": ok, **({"note": note} if note else {})})

    def to_dict(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "valid": self.valid,
            "key_source": self.key_source,
            "checks": self.checks,
            "notes": self.notes,
        }


def _key(
    party: str, included: Mapping[str, Any], pinned: Mapping[str, VerifyKey] | None
) -> tuple[VerifyKey | None, str]:
    if pinned is not None:
        key = pinned.get(party)
        if key is not None:
            inc = included.get(party)
            if inc is not None and inc != key.to_b64():
                return key, "the bundle's key differs from the pinned one; pinned used"
            return key, ""
    raw = included.get(party)
    if not isinstance(raw, str):
        return None, "no key for this issuer"
    try:
        return VerifyKey.from_b64(raw), ""
    except PocnetError:
        return None, "the included key is malformed"


def verify_bundle_doc(
    doc: Mapping[str, Any], pinned: Mapping[str, VerifyKey] | None = None
) -> EvidenceReport:
    """Check an evidence bundle offline.

    Raises:
        ValidationError: not an evidence bundle.
    """
    if doc.get("format") != FORMAT or doc.get("v") != 1:
        raise ValidationError("not a PoCNet evidence bundle (v1)", code="not_evidence")
    report = EvidenceReport(key_source="pinned" if pinned is not None else "included")
    msg_id = str(doc.get("msg_id", ""))[:32]
    report.msg_id = msg_id
    included = doc.get("keys") if isinstance(doc.get("keys"), dict) else {}
    assert isinstance(included, dict)
    digest = str(doc.get("envelope_sha256", ""))
    try:
        envelope = Envelope.parse(doc["envelope"])
    except (KeyError, PocnetError):
        report.add("envelope parses", False)
        return report
    computed = hashlib.sha256(canonical(doc["envelope"])).hexdigest()
    report.add("envelope digest", computed == digest and envelope.sha256 == digest)
    report.add("msg_id matches the envelope", envelope.header.msg_id == msg_id)
    sender_key, note = _key(envelope.header.sender, included, pinned)
    ok = False
    if sender_key is not None:
        try:
            envelope.verify_outer(sender_key)
            ok = True
        except Rejected:
            ok = False
    report.add(f"envelope signature by {envelope.header.sender}", ok, note)
    raw_receipts = doc.get("receipts") if isinstance(doc.get("receipts"), list) else []
    assert isinstance(raw_receipts, list)
    verified = []
    for i, wire in enumerate(raw_receipts):
        signed = _check_receipt(report, i, wire, msg_id, digest, included, pinned)
        if signed is not None:
            verified.append((i, signed))
    relay_key, _ = _key(RELAY_ID, included, pinned)
    if relay_key is None and isinstance(doc.get("audit"), dict):
        relay_key, _ = _key(RELAY_ID, {RELAY_ID: doc["audit"].get("relay_key")}, None)
    h = envelope.header
    findings = check_audit(
        doc.get("audit"), verified, {"sender": h.sender, "recipient": h.recipient}, relay_key
    )
    for what, ok, note in findings.checks:
        report.add(what, ok, note)
    report.notes += findings.notes
    return report


def _check_receipt(
    report: EvidenceReport,
    i: int,
    wire: Any,
    msg_id: str,
    digest: str,
    included: Mapping[str, Any],
    pinned: Mapping[str, VerifyKey] | None,
) -> receipts.SignedReceipt | None:
    """Check receipt ``i``; return it if its signature holds."""
    try:
        issuer = receipts.peek_issuer(wire)
    except PocnetError:
        report.add(f"receipt {i} is readable", False)
        return None
    key, note = _key(issuer, included, pinned)
    if key is None:
        report.add(f"receipt {i} signature by {issuer}", False, note)
        return None
    try:
        signed = receipts.verify(wire, key)
    except Rejected as e:
        report.add(f"receipt {i} signature by {issuer}", False, e.reason)
        return None
    r = signed.receipt
    report.add(f"receipt {i} ({r.type} by {issuer}) signature", True, note)
    report.add(f"receipt {i} ({r.type}) names this message", r.msg_id == msg_id)
    report.add(
        f"receipt {i} ({r.type}) names this envelope digest",
        r.envelope_sha256 == digest,
        "" if r.envelope_sha256 == digest else "the issuer saw a different envelope",
    )
    return signed

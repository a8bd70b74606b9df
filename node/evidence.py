"""Evidence bundles: everything a third party needs to check, offline, what happened to a
message.

A bundle (``pocnet-evidence`` v1, JSON) holds the envelope's wire form and digest, every
receipt this node holds about it (wire form, so signatures can be checked), the signing
keys of the issuers as this node pinned them, and optionally the relay's own evidence
answer. :func:`verify_bundle_doc` recomputes the digest, checks the envelope's outer
signature and each receipt's signature, ``msg_id`` and digest, with keys pinned by the
verifier when given (else the keys included, which proves consistency only, and says so).
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
from keys.identities import VerifyKey
from node.records import StoredMessage, StoredReceipt

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
) -> dict[str, Any]:
    """The evidence bundle of ``msg`` (no plaintext: the envelope stays encrypted)."""
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
    }


@dataclass
class EvidenceReport:
    """The result of checking a bundle: one line per check."""

    msg_id: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    key_source: str = "included"

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
    for i, wire in enumerate(raw_receipts):
        _check_receipt(report, i, wire, msg_id, digest, included, pinned)
    return report


def _check_receipt(
    report: EvidenceReport,
    i: int,
    wire: Any,
    msg_id: str,
    digest: str,
    included: Mapping[str, Any],
    pinned: Mapping[str, VerifyKey] | None,
) -> None:
    try:
        issuer = receipts.peek_issuer(wire)
    except PocnetError:
        report.add(f"receipt {i} is readable", False)
        return
    key, note = _key(issuer, included, pinned)
    if key is None:
        report.add(f"receipt {i} signature by {issuer}", False, note)
        return
    try:
        signed = receipts.verify(wire, key)
    except Rejected as e:
        report.add(f"receipt {i} signature by {issuer}", False, e.reason)
        return
    r = signed.receipt
    report.add(f"receipt {i} ({r.type} by {issuer}) signature", True, note)
    report.add(f"receipt {i} ({r.type}) names this message", r.msg_id == msg_id)
    report.add(
        f"receipt {i} ({r.type}) names this envelope digest",
        r.envelope_sha256 == digest,
        "" if r.envelope_sha256 == digest else "the issuer saw a different envelope",
    )

"""Evidence bundles: everything a third party needs to check, offline, what happened to a
message.

A bundle (``pocnet-evidence`` v2, JSON; docs/protocol.md section 16) holds the envelope's
wire form and digest, every receipt this node holds about it (wire form, so signatures
can be checked), the signing keys of the sender, of every issuer and of the relay **with
their validity windows and the party's status** as the exporting node's directory lists
them (``"keys"``), the directory version that certifies them (``"directory"``), the
relay-logged receipts' audit-log entries with inclusion proofs and the signed checkpoints
they lead to (``"audit"``, see :mod:`node.evidence.proofs`), and optionally the relay's own
evidence answer.

:func:`verify_bundle_doc` recomputes the digest and checks each signature with the key
that was valid when it was made: the envelope's outer signature at its ``created_at``,
each receipt at its ``issued_at``, each checkpoint at its time (so a key rotated since,
the relay's or a party's, does not make older evidence fail, and a key used outside its
window does). Then each receipt's ``msg_id`` and digest, and each audit proof (checkpoint
signature, entry content, inclusion). The keys come from the verifier's own directory when
given (``pinned``: an independent check), else from the bundle (which proves consistency
only, and says so). Version 1 bundles (keys without windows) are still read.

With content (``node evidence ID --with-content``, version 3), the bundle also carries the
decrypted inner message and the sender's inner signature over its exact bytes
(``"content"``): the verifier checks that signature with the sender's key valid at the
message's ``created_at`` and that the message says what the envelope's header says, so a
third party reads, offline, what the sender signed for this message id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys import receipts
from keys.encoding import b64u_decode, b64u_encode, canonical, format_time, loads_strict
from keys.envelope import Envelope, Header, verify_inner
from keys.errors import NotFound, PocnetError, Rejected, ValidationError
from keys.identities import RELAY_ID, VerifyKey
from node.evidence.proofs import audit_section, check_audit
from node.storage.records import StoredMessage, StoredReceipt
from node.storage.store import Store
from node.trust.keyhistory import KeyHistory, claimed_time
from node.trust.peers import PeerKeys

FORMAT = "pocnet-evidence"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MAX_EVIDENCE_BYTES = 8 * 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")

Pinned = Callable[[str], KeyHistory | None]
"""The verifier's own key lookup (:meth:`node.trust.peers.PeerKeys.key_history`)."""


def build_evidence(
    msg: StoredMessage,
    stored: list[StoredReceipt],
    keys: Mapping[str, KeyHistory],
    *,
    exported_at: str,
    exported_by: str,
    directory: Mapping[str, Any] | None = None,
    relay_evidence: Mapping[str, Any] | None = None,
    audit: Mapping[str, Any] | None = None,
    signature: bytes | None = None,
) -> dict[str, Any]:
    """The evidence bundle of ``msg``.

    Without ``signature`` there is no plaintext: the envelope stays encrypted. With the
    sender's inner ``signature`` over ``msg.message``, the bundle carries both (``content``).
    ``keys`` holds the key histories of the parties (and the relay) as the directory
    ``directory`` (``{"version", "payload_sha256"}``, None in development mode) lists
    them; ``audit`` is the audit part (:func:`node.evidence.proofs.audit_section`), if any.
    """
    parties = {r.issuer for r in stored} | {msg.sender} | ({RELAY_ID} if audit else set())
    envelope = Envelope.parse(msg.envelope)
    return {
        "format": FORMAT,
        "v": VERSION,
        "msg_id": msg.msg_id,
        "exported_at": exported_at,
        "exported_by": exported_by,
        "header": envelope.header.to_dict(),
        "envelope": envelope.to_wire(),
        "envelope_sha256": msg.envelope_sha256,
        "receipts": [
            loads_strict(r.wire, max_bytes=2 * receipts.MAX_RECEIPT_BYTES) for r in stored
        ],
        "keys": {p: keys[p].to_dict() for p in sorted(parties) if p in keys},
        "directory": dict(directory) if directory is not None else None,
        "relay_evidence": dict(relay_evidence) if relay_evidence is not None else None,
        "audit": dict(audit) if audit is not None else None,
        "content": (
            None
            if signature is None
            else {"message": b64u_encode(msg.message), "signature": b64u_encode(signature)}
        ),
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
    with_content: bool = False,
) -> dict[str, Any]:
    """The bundle of ``msg`` from what the node holds: its receipts, the key histories of
    the directory in force, and the audit-log proofs it verified (with the checkpoints
    they lead to); with ``with_content``, the message and the sender's inner signature.

    Raises:
        NotFound: ``with_content`` for a message stored before this node kept inner
            signatures.
    """
    signature = None
    if with_content:
        signature = await store.message_signature(msg.msg_id)
        if signature is None:
            raise NotFound(
                f"message {msg.msg_id} was stored before this node kept the sender's inner "
                "signature: its content cannot be proven; export it without --with-content",
                code="no_inner_signature",
                fault="local",
            )
    stored = await store.receipts_for(msg.msg_id)
    parties = {r.issuer for r in stored} | {msg.sender, RELAY_ID}
    keys = {p: h for p in parties if (h := peers.key_history(p)) is not None}
    proofs = await store.proofs_for(msg.msg_id)
    audit = audit_section(
        origin, proofs, await store.checkpoints([p.checkpoint_id for p in proofs])
    )
    return build_evidence(
        msg,
        stored,
        keys,
        exported_at=exported_at,
        exported_by=exported_by,
        directory=peers.directory_ref(),
        relay_evidence=relay_evidence,
        audit=audit,
        signature=signature,
    )


@dataclass
class EvidenceReport:
    """The result of checking a bundle: one line per check."""

    msg_id: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    key_source: str = "included"
    notes: list[str] = field(default_factory=list)
    directory: dict[str, Any] | None = None
    content: dict[str, Any] | None = None

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
            "directory": self.directory,
            "checks": self.checks,
            "notes": self.notes,
            "content": self.content,
        }


class BundleKeys:
    """The keys a bundle is checked with: the verifier's (``pinned``) where it lists the
    party, else the bundle's own; each looked up at the time a signature was made."""

    def __init__(self, doc: Mapping[str, Any], pinned: Pinned | None) -> None:
        raw = doc.get("keys")
        self._raw: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        self._pinned = pinned
        audit = doc.get("audit")
        self._v1_relay = audit.get("relay_key") if isinstance(audit, dict) else None

    def included(self, party: str) -> tuple[KeyHistory | None, str]:
        """The bundle's history of ``party`` (v1: one key without a window)."""
        raw = self._raw.get(party)
        if raw is None and party == RELAY_ID:
            raw = self._v1_relay  # version 1 carried the relay's key in the audit part
        if raw is None:
            return None, "no key for this issuer"
        try:
            if isinstance(raw, str):
                return KeyHistory.single(party, VerifyKey.from_b64(raw)), ""
            return KeyHistory.from_dict(party, raw), ""
        except PocnetError:
            return None, "the included key is malformed"

    def history(self, party: str) -> tuple[KeyHistory | None, str]:
        """The history to use for ``party``, and a note on where it came from."""
        if self._pinned is not None:
            pinned = self._pinned(party)
            if pinned is not None:
                return pinned, ""
            found, note = self.included(party)
            if found is None:
                return None, note
            return found, f"{party} is not in the verifier's directory: the bundle's key used"
        return self.included(party)

    def key_at(self, party: str, at: datetime) -> tuple[VerifyKey | None, str]:
        """The key of ``party`` for a signature made at ``at``, and a note."""
        history, note = self.history(party)
        if history is None:
            return None, note
        where = "the verifier's directory" if self._pinned and not note else "the bundle"
        try:
            key = history.key_at(at)
        except Rejected as e:
            return None, f"no key of {party} valid at {format_time(at)} in {where} ({e.reason})"
        if self._pinned is not None and not note:
            included, _ = self.included(party)
            if included is not None and _key_or_none(included, at) != key:
                note = "the bundle's key differs from the pinned one; pinned used"
        return key, note


def _key_or_none(history: KeyHistory, at: datetime) -> VerifyKey | None:
    try:
        return history.key_at(at)
    except Rejected:
        return None


def _directory_ref(value: Any) -> dict[str, Any] | None:
    """The bundle's ``"directory"`` member if well formed (else None)."""
    if (
        isinstance(value, dict)
        and set(value) == {"version", "payload_sha256"}
        and type(value["version"]) is int
        and isinstance(value["payload_sha256"], str)
        and _SHA256_RE.match(value["payload_sha256"])
    ):
        return {"version": value["version"], "payload_sha256": value["payload_sha256"]}
    return None


def verify_bundle_doc(doc: Mapping[str, Any], pinned: Pinned | None = None) -> EvidenceReport:
    """Check an evidence bundle offline.

    Args:
        doc: the bundle, decoded.
        pinned: the verifier's key lookup (``node.trust.peers.PeerKeys.key_history``); None to
            use the keys the bundle carries (consistency only).

    Raises:
        ValidationError: not an evidence bundle.
    """
    if doc.get("format") != FORMAT or doc.get("v") not in READABLE_VERSIONS:
        raise ValidationError("not a PoCNet evidence bundle (v1 to v3)", code="not_evidence")
    report = EvidenceReport(key_source="pinned" if pinned is not None else "included")
    msg_id = str(doc.get("msg_id", ""))[:32]
    report.msg_id = msg_id
    report.directory = _directory_ref(doc.get("directory"))
    keys = BundleKeys(doc, pinned)
    digest = str(doc.get("envelope_sha256", ""))
    try:
        envelope = Envelope.parse(doc["envelope"])
    except (KeyError, PocnetError):
        report.add("envelope parses", False)
        return report
    computed = hashlib.sha256(canonical(doc["envelope"])).hexdigest()
    report.add("envelope digest", computed == digest and envelope.sha256 == digest)
    h = envelope.header
    report.add("msg_id matches the envelope", h.msg_id == msg_id)
    sender_key, note = keys.key_at(h.sender, h.created)
    ok = False
    if sender_key is not None:
        try:
            envelope.verify_outer(sender_key)
            ok = True
        except Rejected:
            ok = False
    report.add(f"envelope signature by {h.sender}", ok, note)
    if doc.get("content") is not None:
        report.content = _check_content(report, doc["content"], h, sender_key)
    raw_receipts = doc.get("receipts") if isinstance(doc.get("receipts"), list) else []
    assert isinstance(raw_receipts, list)
    verified = []
    for i, wire in enumerate(raw_receipts):
        signed = _check_receipt(report, i, wire, (msg_id, digest, h.recipient), keys)
        if signed is not None:
            verified.append((i, signed))
    relay, _ = keys.history(RELAY_ID)
    findings = check_audit(
        doc.get("audit"), verified, {"sender": h.sender, "recipient": h.recipient}, relay
    )
    for what, ok, note in findings.checks:
        report.add(what, ok, note)
    report.notes += findings.notes
    return report


def _check_receipt(
    report: EvidenceReport,
    i: int,
    wire: Any,
    message: tuple[str, str, str],
    keys: BundleKeys,
) -> receipts.SignedReceipt | None:
    """Check receipt ``i`` with its issuer's key valid at its ``issued_at`` against the
    ``message`` (msg_id, envelope digest, recipient); return it if its signature holds."""
    msg_id, digest, recipient = message
    try:
        issuer, issued = claimed_time(wire)
    except Rejected:
        report.add(f"receipt {i} signature", False, "malformed: no issuer or issued_at to check")
        return None
    key, note = keys.key_at(issuer, issued)
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
    if r.type in receipts.NODE_TYPES:
        report.add(f"receipt {i} ({r.type}) is issued by the recipient", issuer == recipient)
    report.add(
        f"receipt {i} ({r.type}) names this envelope digest",
        r.envelope_sha256 == digest,
        "" if r.envelope_sha256 == digest else "the issuer saw a different envelope",
    )
    return signed


def _check_content(
    report: EvidenceReport, content: Any, header: Header, sender_key: VerifyKey | None
) -> dict[str, Any] | None:
    """Check the bundle's decrypted message: the sender's inner signature over its exact
    bytes, a strict parse, and the header's fields; return the message if all hold."""
    what = f"content signed by {header.sender} for this message"
    try:
        if not isinstance(content, dict) or set(content) != {"message", "signature"}:
            raise ValidationError("content must hold message and signature")
        message_bytes = b64u_decode(content["message"])
        signature = b64u_decode(content["signature"])
    except (PocnetError, TypeError):
        report.add(what, False, "malformed content")
        return None
    if sender_key is None:
        report.add(what, False, f"no key of {header.sender} to check it with")
        return None
    try:
        message = verify_inner(header, signature, message_bytes, sender_key)
    except Rejected as e:
        report.add(what, False, _CONTENT_REASONS.get(e.reason, e.reason))
        return None
    report.add(what, True)
    return message.to_dict()


_CONTENT_REASONS = {
    "inner_signature": "the sender's signature does not cover these bytes",
    "inner_malformed": "the message is not a well-formed, canonical message",
    "header_mismatch": "the message names another id, party, time or priority than the envelope",
}

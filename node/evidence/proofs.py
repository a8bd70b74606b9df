"""The audit part of an evidence bundle: receipts proven to be in the relay's log.

In a bundle (``node/evidence/bundle.py``), ``"audit"`` is::

    {"origin": "pocnet.relay/<network>",
     "checkpoints": ["<signed note>", ...],
     "proofs": [{"receipt_sha256": "...", "leaf_index": n, "entry": "<base64url>",
                 "hashes": ["<base64url>", ...], "checkpoint": k}, ...]}

Each proof says: the receipt whose canonical wire bytes hash to ``receipt_sha256`` is
logged as ``entry`` at ``leaf_index`` of the tree that ``checkpoints[k]`` signs. Several
checkpoints appear when the node proved receipts at different times (a proof is kept with
the checkpoint it was checked against).

:func:`check_audit` verifies it offline: every checkpoint's signature by the relay key
valid at the checkpoint's time (:func:`node.audit.relaykeys.verify_checkpoint`: the bundle's
``"keys"`` carry the relay's keys with their windows, so checkpoints signed before and
after a relay key rotation both verify; version 1 bundles carried one ``"relay_key"``
here), no two checkpoints of the same size with different roots, and for each proof that the
entry is well formed, says what the receipt says (``keys.auditlog.check``) and is included.
Receipts of the bundle without a proof are reported as notes, not failures: the exporting
node had not proven them (yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.check import check_entry_inclusion
from keys.auditlog.checkpoint import Checkpoint
from keys.encoding import b64u_encode, format_time
from keys.errors import PocnetError, Rejected
from keys.receipts import SignedReceipt
from node.audit.relaykeys import verify_checkpoint
from node.relayapi import auditwire
from node.storage.auditstore import CheckpointRow, ProofRow
from node.trust.keyhistory import KeyHistory

MAX_BUNDLE_CHECKPOINTS = 64

_WHY = {
    "audit_inclusion": "the inclusion proof does not lead to the checkpoint's root",
    "audit_entry_mismatch": "the log entry does not say what the receipt says",
    "audit_entry_malformed": "the log entry is malformed",
    "audit_not_in_checkpoint": "the leaf is beyond the checkpoint's tree",
    "audit_proof_length": "the inclusion proof has the wrong length",
    "audit_proof_malformed": "the inclusion proof is malformed",
}


def audit_section(
    origin: str,
    proofs: Sequence[ProofRow],
    checkpoints: Mapping[int, CheckpointRow],
) -> dict[str, Any] | None:
    """The ``"audit"`` member of a bundle from the node's stored proofs (None if none)."""
    usable = [p for p in proofs if p.checkpoint_id in checkpoints]
    if not usable:
        return None
    ids = sorted({p.checkpoint_id for p in usable})
    position = {cid: i for i, cid in enumerate(ids)}
    return {
        "origin": origin,
        "checkpoints": [checkpoints[cid].note.decode("utf-8") for cid in ids],
        "proofs": [
            {
                "receipt_sha256": p.receipt_sha256,
                "leaf_index": p.leaf_index,
                "entry": b64u_encode(p.entry),
                "hashes": [b64u_encode(h) for h in p.hashes],
                "checkpoint": position[p.checkpoint_id],
            }
            for p in usable
        ],
    }


@dataclass
class AuditFindings:
    """What the audit part showed: checks (each ok or not) and notes."""

    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    proven: set[str] = field(default_factory=set)

    def add(self, what: str, ok: bool, note: str = "") -> None:
        self.checks.append((what, ok, note))


def _checkpoints(
    section: Mapping[str, Any], relay: KeyHistory, origin: str, out: AuditFindings
) -> list[Checkpoint | None]:
    raw = section.get("checkpoints")
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_BUNDLE_CHECKPOINTS:
        out.add("audit checkpoints are listed", False, "no checkpoints, or too many")
        return []
    result: list[Checkpoint | None] = []
    for k, note in enumerate(raw):
        try:
            cp = verify_checkpoint(auditwire.note_bytes(note), relay, origin)
        except (Rejected, PocnetError) as e:
            out.add(
                f"audit checkpoint {k} is signed by the relay",
                False,
                getattr(e, "reason", e.code),
            )
            result.append(None)
            continue
        out.add(
            f"audit checkpoint {k} is signed by the relay",
            True,
            f"tree of {cp.size} entries, signed {format_time(cp.time)}",
        )
        result.append(cp)
    roots: dict[int, bytes] = {}
    for head in result:
        if head is None:
            continue
        if roots.setdefault(head.size, head.root_hash) != head.root_hash:
            out.add(
                "audit checkpoints agree",
                False,
                f"two trees of {head.size} entries with different roots: the relay forked its log",
            )
            break
    return result


def check_audit(
    section: Any,
    receipts: Sequence[tuple[int, SignedReceipt]],
    parties: Mapping[str, str],
    relay: KeyHistory | None,
) -> AuditFindings:
    """Check a bundle's ``"audit"`` member against its verified ``receipts`` (index in the
    bundle, receipt), the message's ``parties`` and the relay's keys over time."""
    out = AuditFindings()
    if section is None:
        out.notes.append("no audit-log proofs in this bundle")
        return out
    if not isinstance(section, dict) or not isinstance(section.get("proofs"), list):
        out.add("the audit part is readable", False, "not an object with proofs")
        return out
    if relay is None:
        out.add("audit checkpoints can be checked", False, "no key for the relay")
        return out
    origin = section.get("origin")
    try:
        signed_checkpoint.validate_name(origin)
    except PocnetError:
        out.add("the audit part names its log", False, "bad origin")
        return out
    assert isinstance(origin, str)
    cps = _checkpoints(section, relay, origin, out)
    by_sha = {signed.sha256: (i, signed) for i, signed in receipts}
    for n, obj in enumerate(section["proofs"][: auditwire.MAX_EVIDENCE_PROOFS]):
        _check_proof(out, n, obj, cps, by_sha, parties)
    for i, signed in receipts:
        if signed.sha256 not in out.proven:
            out.notes.append(
                f"receipt {i} ({signed.receipt.type}) has no audit-log proof in this bundle"
            )
    return out


def _check_proof(
    out: AuditFindings,
    n: int,
    obj: Any,
    cps: list[Checkpoint | None],
    by_sha: Mapping[str, tuple[int, SignedReceipt]],
    parties: Mapping[str, str],
) -> None:
    try:
        sha = obj["receipt_sha256"] if isinstance(obj, dict) else None
        k = obj["checkpoint"] if isinstance(obj, dict) else None
        proof = auditwire.leaf_proof(
            {key: obj[key] for key in ("leaf_index", "entry", "hashes")}
            if isinstance(obj, dict)
            else None
        )
    except (KeyError, PocnetError):
        out.add(f"audit proof {n} is readable", False)
        return
    if not isinstance(sha, str) or sha not in by_sha:
        out.add(
            f"audit proof {n} names a receipt of this bundle",
            False,
            "no receipt with a valid signature in the bundle has its digest",
        )
        return
    i, signed = by_sha[sha]
    what = f"receipt {i} ({signed.receipt.type}) is in the relay's audit log"
    cp = cps[k] if type(k) is int and 0 <= k < len(cps) else None
    if cp is None:
        out.add(what, False, "its checkpoint is missing or does not verify")
        return
    leaf = signed.receipt.leaf_index
    if signed.receipt.type == "ACCEPTED" and leaf is not None and leaf != proof.leaf_index:
        out.add(what, False, f"the receipt names leaf {leaf}, the proof leaf {proof.leaf_index}")
        return
    try:
        check_entry_inclusion(
            proof.entry,
            proof.leaf_index,
            proof.hashes,
            cp,
            expect=auditwire.expected_entry(signed, parties),
        )
    except Rejected as e:
        out.add(what, False, _WHY.get(e.reason, e.reason))
        return
    out.proven.add(signed.sha256)
    out.add(what, True, f"leaf {proof.leaf_index} of checkpoint {k} ({cp.size} entries)")

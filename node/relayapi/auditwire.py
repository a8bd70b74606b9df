"""The relay's audit answers, validated at the boundary (docs/relay-api.md, protocol.md 15).

- ``GET /v1/audit/checkpoint``: ``{"checkpoint": "<signed note>"}``;
- ``GET /v1/audit/proofs/inclusion?index=&size=``: ``{"leaf_index", "tree_size", "hashes"}``;
- ``GET /v1/audit/proofs/consistency?from=&to=``: ``{"old_size", "new_size", "hashes"}``;
- the evidence answer's ``"checkpoint"`` and ``"proofs": [{"leaf_index", "entry",
  "hashes"}]``;
- ``GET /v1/audit/proofs/messages?msg_id=...``: ``{"checkpoint", "messages": {msg_id:
  [proof, ...]}}``.

Hashes and entries are unpadded base64url. Each parser returns plain validated values or
raises :class:`keys.errors.PeerError` (``audit_answer_malformed``): a malformed answer is
not evidence of anything, the caller asks again later. Whether the values are *true* is
for :mod:`keys.auditlog.check` to say; :func:`expected_entry` and :func:`find_entry` say which
entry is a receipt's and what it must contain (used by the daemon's checks and by the
offline check of evidence bundles alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keys.auditlog.checkpoint import DEFAULT_NOTE_LIMITS
from keys.auditlog.entry import MAX_ENTRY_BYTES, parse_entry
from keys.auditlog.merkle import HASH_SIZE, MAX_TREE_SIZE
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import PeerError, PocnetError, ValidationError
from keys.receipts import SignedReceipt

MAX_PROOF_HASHES = 2 * 63
MAX_EVIDENCE_PROOFS = 256


class AuditAnswerMalformed(PeerError):
    """The relay's audit answer is not of the documented shape."""

    code = "audit_answer_malformed"


@dataclass(frozen=True)
class LeafProof:
    """A log entry, its leaf index, and its inclusion proof (unverified)."""

    leaf_index: int
    entry: bytes
    hashes: tuple[bytes, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "entry": b64u_encode(self.entry),
            "hashes": [b64u_encode(h) for h in self.hashes],
        }


def _bad(what: str) -> AuditAnswerMalformed:
    return AuditAnswerMalformed(f"the relay's audit answer is malformed: {what}")


def note_bytes(value: Any) -> bytes:
    """A signed note as sent (a string), as bytes; not verified yet."""
    if not isinstance(value, str) or not value:
        raise _bad("no checkpoint")
    data = value.encode("utf-8")
    if len(data) > DEFAULT_NOTE_LIMITS.max_note_bytes:
        raise _bad("checkpoint too large")
    return data


def size_value(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_TREE_SIZE:
        raise _bad(f"{what} is not a tree size")
    return value


def hashes_value(value: Any) -> tuple[bytes, ...]:
    """A list of base64url 32-byte hashes."""
    if not isinstance(value, list) or len(value) > MAX_PROOF_HASHES:
        raise _bad("hashes is not a list of proof hashes")
    out = []
    for item in value:
        try:
            raw = b64u_decode(item, max_bytes=HASH_SIZE)
        except PocnetError as e:
            raise _bad("a proof hash is not base64url") from e
        if len(raw) != HASH_SIZE:
            raise _bad(f"a proof hash is not {HASH_SIZE} bytes")
        out.append(raw)
    return tuple(out)


def checkpoint_answer(doc: Mapping[str, Any]) -> bytes:
    """The note of ``GET /v1/audit/checkpoint``."""
    return note_bytes(doc.get("checkpoint"))


def inclusion_answer(doc: Mapping[str, Any], index: int, size: int) -> tuple[bytes, ...]:
    """The hashes of an inclusion proof answer, which must name the index and size asked."""
    if (
        size_value(doc.get("leaf_index"), "leaf_index"),
        size_value(doc.get("tree_size"), "tree_size"),
    ) != (
        index,
        size,
    ):
        raise _bad("the inclusion proof is for another leaf or size")
    return hashes_value(doc.get("hashes"))


def consistency_answer(doc: Mapping[str, Any], old: int, new: int) -> tuple[bytes, ...]:
    """The hashes of a consistency proof answer, which must name the sizes asked."""
    sizes = (
        size_value(doc.get("old_size"), "old_size"),
        size_value(doc.get("new_size"), "new_size"),
    )
    if sizes != (old, new):
        raise _bad("the consistency proof is for other sizes")
    return hashes_value(doc.get("hashes"))


def leaf_proof(obj: Any) -> LeafProof:
    if not isinstance(obj, dict) or set(obj) != {"leaf_index", "entry", "hashes"}:
        raise _bad("a proof is not {leaf_index, entry, hashes}")
    try:
        entry = b64u_decode(obj["entry"], max_bytes=MAX_ENTRY_BYTES)
    except PocnetError as e:
        raise _bad("an entry is not base64url of at most 1024 bytes") from e
    return LeafProof(
        size_value(obj["leaf_index"], "leaf_index"), entry, hashes_value(obj["hashes"])
    )


def evidence_audit(doc: Mapping[str, Any]) -> tuple[bytes | None, list[LeafProof]]:
    """The audit part of an evidence answer: the note (None if the relay keeps no log)
    and the message's entries with their proofs."""
    if doc.get("checkpoint") is None and doc.get("proofs") is None:
        return None, []
    proofs = doc.get("proofs")
    if not isinstance(proofs, list) or len(proofs) > MAX_EVIDENCE_PROOFS:
        raise _bad("proofs is not a list")
    return note_bytes(doc.get("checkpoint")), [leaf_proof(p) for p in proofs]


def messages_audit(
    doc: Mapping[str, Any], asked: Sequence[str]
) -> tuple[bytes, dict[str, list[LeafProof]]]:
    """The answer of ``GET /v1/audit/proofs/messages``: the note and, for each message of
    ``asked`` that the relay answered for, its entries with their proofs.

    Raises:
        AuditAnswerMalformed: not of that shape, or about a message not asked for.
    """
    found = doc.get("messages")
    if set(doc) != {"checkpoint", "messages"} or not isinstance(found, dict):
        raise _bad("not {checkpoint, messages}")
    out: dict[str, list[LeafProof]] = {}
    for msg_id, proofs in found.items():
        if msg_id not in asked:
            raise _bad("an answer about a message not asked for")
        if not isinstance(proofs, list) or len(proofs) > MAX_EVIDENCE_PROOFS:
            raise _bad("a message's proofs are not a list")
        out[msg_id] = [leaf_proof(p) for p in proofs]
    return note_bytes(doc.get("checkpoint")), out


# -- what a receipt's entry must say ----------------------------------------------------------


def expected_entry(signed: SignedReceipt, parties: Mapping[str, str]) -> dict[str, Any]:
    """The fields the log entry of ``signed`` must carry.

    Every entry names the event (the receipt's type in lower case), the message and the
    envelope digest, and ``parties`` (``sender``, ``recipient``) when known. The relay logs
    ``accepted`` before it signs ``ACCEPTED`` (the receipt names the leaf instead); every
    other entry carries the receipt's own digest.
    """
    r = signed.receipt
    expect: dict[str, Any] = {
        "type": r.type.lower(),
        "msg_id": r.msg_id,
        "envelope_sha256": r.envelope_sha256,
        **parties,
    }
    if r.type != "ACCEPTED":
        expect["receipt_sha256"] = signed.sha256
    return expect


def _fields(proof: LeafProof) -> dict[str, Any]:
    try:
        return parse_entry(proof.entry)
    except ValidationError:
        return {}


def find_entry(signed: SignedReceipt, proofs: Sequence[LeafProof]) -> LeafProof | None:
    """The proof of ``signed``'s entry among ``proofs``: for ``ACCEPTED`` the leaf it names
    (or, without a leaf index, the ``accepted`` entry of its message and envelope), for the
    others the entry carrying its digest. Whether it says the rest is checked later."""
    r = signed.receipt
    for proof in proofs:
        if r.type != "ACCEPTED":
            if _fields(proof).get("receipt_sha256") == signed.sha256:
                return proof
        elif r.leaf_index is not None:
            if proof.leaf_index == r.leaf_index:
                return proof
        else:
            f = _fields(proof)
            if (f.get("type"), f.get("msg_id"), f.get("envelope_sha256")) == (
                "accepted",
                r.msg_id,
                r.envelope_sha256,
            ):
                return proof
    return None

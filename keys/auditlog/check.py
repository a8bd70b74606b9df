"""What a node checks about the relay's audit log (pure; DESIGN.md section 10).

A node keeps the last checkpoint it trusted. For every new checkpoint it asks the relay
for a consistency proof and calls :func:`check_consistency`: a relay that rewrote history,
or shows this node a different history than others, cannot produce one, and is caught.
For every receipt about its messages the node asks for the log entry and an inclusion
proof and calls :func:`check_entry_inclusion`.

All failures raise :class:`keys.errors.Rejected`. The reasons that mean misbehaviour are
``fork`` and ``rollback``; keep both checkpoints as evidence when they occur.

- ``fork``: the same size with another root (two signed checkpoints that cannot both be
  true: conclusive evidence on its own), or a bigger tree whose consistency proof fails.
- ``rollback``: a smaller tree than the trusted one, or a bigger one signed earlier.
- ``audit_proof_length`` / ``audit_proof_malformed``: the proof has the wrong shape; ask
  again, and treat a relay that never sends a good one as suspect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from keys.auditlog.checkpoint import Checkpoint
from keys.auditlog.entry import parse_entry
from keys.auditlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from keys.errors import Rejected, ValidationError


def check_consistency(
    trusted: Checkpoint | None, new: Checkpoint, proof: Sequence[bytes]
) -> Checkpoint:
    """Check that verified checkpoint ``new`` extends ``trusted``; return the one to keep.

    With nothing trusted yet (``None``), ``new`` is accepted as it is (trust on first use:
    pin the first checkpoint as carefully as the relay's key). A checkpoint of the same
    tree signed earlier than ``trusted`` leaves ``trusted`` in place.

    Raises:
        Rejected: ``checkpoint_origin``, ``rollback``, ``fork``, ``audit_proof_length`` or
            ``audit_proof_malformed``.
    """
    if trusted is None:
        return new
    if new.origin != trusted.origin:
        raise Rejected("checkpoint_origin")
    if new.size < trusted.size:
        raise Rejected("rollback")
    if new.size == trusted.size and new.root_hash != trusted.root_hash:
        raise Rejected("fork")
    if new.size > trusted.size and new.time < trusted.time:
        raise Rejected("rollback")
    try:
        verify_consistency(trusted.size, new.size, trusted.root_hash, new.root_hash, proof)
    except Rejected as e:
        if e.reason == "audit_consistency":
            raise Rejected("fork") from e
        raise
    return new if new.time >= trusted.time else trusted


def check_fresh(
    checkpoint: Checkpoint, now: datetime, *, max_age: timedelta, skew: timedelta
) -> None:
    """Check that ``checkpoint`` was signed within ``max_age`` before ``now``.

    A relay that keeps serving an old checkpoint hides everything logged since (a freeze).

    Raises:
        Rejected: ``checkpoint_stale`` (older than ``max_age``) or ``checkpoint_future``
            (more than ``skew`` ahead of ``now``).
    """
    if checkpoint.time > now + skew:
        raise Rejected("checkpoint_future")
    if now - checkpoint.time > max_age:
        raise Rejected("checkpoint_stale")


def check_inclusion(
    leaf: bytes, index: int, proof: Sequence[bytes], checkpoint: Checkpoint
) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree ``checkpoint`` signs.

    Raises:
        Rejected: ``audit_not_in_checkpoint`` (the index is beyond the checkpoint's size:
            fetch a newer checkpoint), ``audit_inclusion``, ``audit_proof_length`` or
            ``audit_proof_malformed``.
    """
    if type(index) is int and index >= checkpoint.size:
        raise Rejected("audit_not_in_checkpoint")
    verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root_hash)


def check_entry_inclusion(
    entry: bytes,
    index: int,
    proof: Sequence[bytes],
    checkpoint: Checkpoint,
    *,
    expect: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check that log entry ``entry`` is leaf ``index`` and says what ``expect`` says.

    Typical use for a receipt: ``expect={"receipt_sha256": signed.sha256, "msg_id": ...}``.
    Returns the entry's fields, verified.

    Raises:
        Rejected: ``audit_entry_malformed``, ``audit_entry_mismatch`` (a field differs from
            ``expect``), or a reason of :func:`check_inclusion`.
    """
    try:
        fields = parse_entry(entry)
    except ValidationError as e:
        raise Rejected("audit_entry_malformed") from e
    for name, value in (expect or {}).items():
        if fields.get(name) != value:
            raise Rejected("audit_entry_mismatch")
    check_inclusion(leaf_hash(entry), index, proof, checkpoint)
    return fields

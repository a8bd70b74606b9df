"""Whether a node's receipt contradicts a receipt the same node already gave for the same
message: a pure decision, tested by a table (tests/unit/relay/test_receipt_rules.py).

A node may report RETRIEVED, then ACKNOWLEDGED or REJECTED (an envelope that downloaded but
failed to open is rejected after being retrieved). It may not, for one message:

- name another envelope digest than in its earlier receipt (after a RETRIEVED of the
  accepted bytes, a REJECTED naming other bytes would make the sender see "altered");
- both acknowledge and reject it.

Either is 409 ``receipt_contradicts``: the node's own earlier word stands.
"""

from __future__ import annotations

from collections.abc import Iterable

from keys.encoding import loads_strict
from keys.receipts import MAX_RECEIPT_BYTES, Receipt, parse_wire

EXCLUSIVE = frozenset({"ACKNOWLEDGED", "REJECTED"})


def contradiction(new_type: str, new_digest: str, earlier: Iterable[tuple[str, str]]) -> str | None:
    """Why a receipt (``new_type`` naming ``new_digest``) contradicts the caller's
    ``earlier`` receipts ((type, envelope digest) pairs of other types), or None."""
    for old_type, old_digest in earlier:
        if old_digest != new_digest:
            return f"it names another envelope than your {old_type} receipt"
        if {old_type, new_type} == EXCLUSIVE:
            return f"you already sent {old_type} for this message"
    return None


def stated_digest(wire: bytes) -> str:
    """The envelope digest a stored (already verified) receipt names.

    Raises:
        DecodeError, ValidationError: not a receipt (a stored one always is).
    """
    payload, _ = parse_wire(wire)
    return Receipt.from_dict(loads_strict(payload, max_bytes=MAX_RECEIPT_BYTES)).envelope_sha256

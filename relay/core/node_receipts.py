"""Whether a node's receipt may be stored: a pure decision of values and ``now``.

:meth:`relay.core.service.RelayService.add_receipt` authenticates the caller, verifies the
receipt's signature with the caller's key and fetches the envelope it names; this module
decides the rest, in this order (the first failing check answers):

1. the type is one a node may issue (``RETRIEVED``, ``ACKNOWLEDGED``, ``REJECTED``);
2. it is not issued in the future beyond the clock skew;
3. the envelope exists and the caller is its recipient (else "no such message", so a
   party learns nothing of others' messages);
4. it names the accepted envelope digest, unless it is a ``REJECTED``: a recipient may
   refuse bytes altered before it got them, naming the digest of what it got.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from keys.errors import NotFound, Rejected, ValidationError
from keys.receipts import NODE_TYPES, Receipt
from relay.storage.store import StoredEnvelope


@dataclass(frozen=True)
class Verdict:
    """A node receipt that may be stored: the envelope it is about, and whether it names
    another digest than the accepted one (a ``REJECTED`` of altered bytes: store it and
    raise the alarm)."""

    envelope: StoredEnvelope
    digest_differs: bool


def check_node_receipt(
    receipt: Receipt,
    *,
    caller: str,
    envelope: StoredEnvelope | None,
    now: datetime,
    clock_skew: timedelta,
) -> Verdict:
    """Decide whether ``caller``'s verified ``receipt`` about ``envelope`` may be stored.

    Raises:
        ValidationError: not a node receipt type (``bad_receipt_type``).
        Rejected: issued in the future (``future``), or about another envelope than the
            accepted one without being a ``REJECTED`` (``envelope_mismatch``).
        NotFound: no such message, or the caller is not its recipient.
    """
    if receipt.type not in NODE_TYPES:
        raise ValidationError(
            "a node may issue only RETRIEVED, ACKNOWLEDGED or REJECTED", code="bad_receipt_type"
        )
    if receipt.issued - now > clock_skew:
        raise Rejected("future")
    if envelope is None or envelope.recipient != caller:
        raise NotFound("no such message")
    differs = receipt.envelope_sha256 != envelope.envelope_sha256
    if differs and receipt.type != "REJECTED":
        raise Rejected("envelope_mismatch")
    return Verdict(envelope, differs)


__all__ = ["Verdict", "check_node_receipt"]

"""Is a stored envelope still the one the relay accepted?

When it accepts an envelope the relay stores its bytes, their SHA-256 (``envelope_sha256``)
and its own signed ``ACCEPTED`` receipt, which names that digest too (and so does the
``accepted`` entry of the audit log). Before it serves the envelope to its recipient, and
before it answers an evidence request, :class:`Tripwire` (used by :mod:`relay.core.service`)
asks :func:`check_stored` (pure):

- ``bytes_digest``: the stored bytes no longer hash to the stored digest (the bytes were
  altered, or damaged, in the database);
- ``accepted_digest``: the stored digest is no longer the one the ``ACCEPTED`` receipt
  names (bytes *and* digest column altered together: the receipt, signed by the relay's
  key, cannot be re-signed by someone who only has the database);
- ``accepted_receipt``: the stored ``ACCEPTED`` receipt cannot be read.

The receipt is read, not verified: it is the relay's own row, and the relay's key may have
rotated since it was signed. This is a tripwire for the operator (``envelope.corrupt`` at
error level, the ``pocnet_relay_envelopes_corrupt`` metric), not a proof: the nodes'
checks (digests in receipts, the audit log) are what a dishonest operator cannot evade.
An altered envelope is still served: its recipient refuses it and sends a ``REJECTED``
receipt naming the digest it got, which the relay accepts although the digest differs
(:meth:`relay.core.service.RelayService.add_receipt`) and forwards: the sender's timeline shows
the envelope altered. Withholding it instead would tell the sender only ``OVERDUE`` or
``EXPIRED`` in the end, and not why.
"""

from __future__ import annotations

import hashlib
from typing import Any

from keys import receipts
from keys.encoding import loads_strict
from keys.errors import PocnetError
from relay.monitoring.logging import get_logger
from relay.monitoring.metrics import RelayMetrics
from relay.storage.store import InboxItem, StoredEnvelope

log = get_logger("relay.core.integrity")
ADVICE = (
    "the stored envelope is not the one accepted: its recipient will refuse it; find who "
    "changed the relay's database (run 'relay audit verify')"
)

INTACT = "intact"
ALTERED = "altered"
PURGED = "purged"
"""What an evidence answer says of the stored envelope (``stored_envelope``)."""


def digest(data: bytes) -> str:
    """The envelope digest of stored wire bytes (hex SHA-256)."""
    return hashlib.sha256(data).hexdigest()


def accepted_digest(accepted_receipt: bytes) -> str | None:
    """The ``envelope_sha256`` the relay's stored ``ACCEPTED`` receipt names, unverified
    (None if it cannot be read)."""
    try:
        payload, _ = receipts.parse_wire(accepted_receipt)
        value = loads_strict(payload, max_bytes=receipts.MAX_RECEIPT_BYTES, max_depth=1).get(
            "envelope_sha256"
        )
    except (PocnetError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def check_stored(data: bytes, stored_sha256: str, accepted_receipt: bytes | None) -> str | None:
    """Why the stored envelope ``data`` is not the one accepted, or None if it is.

    Returns:
        None, ``bytes_digest``, ``accepted_digest`` or ``accepted_receipt`` (see the
        module docstring).
    """
    if digest(data) != stored_sha256:
        return "bytes_digest"
    if accepted_receipt is None:
        return None
    named = accepted_digest(accepted_receipt)
    if named is None:
        return "accepted_receipt"
    return None if named == stored_sha256 else "accepted_digest"


def where_altered(stored_sha256: str, recipient_sha256: str, data: bytes | None) -> str:
    """Where an envelope whose recipient names another digest was altered, as far as the
    relay can tell: its stored bytes hash to what the recipient got (``relay_storage``),
    still to what was accepted (``after_the_relay``: on the way to the recipient, or the
    recipient misreports), or neither / purged (``unknown``)."""
    if data is None:
        return "unknown"
    now = digest(data)
    if now == recipient_sha256:
        return "relay_storage"
    return "after_the_relay" if now == stored_sha256 else "unknown"


class Tripwire:
    """Runs the checks where the service needs them and tells the operator: the
    ``envelope.corrupt`` and ``receipt.digest_differs`` events (error level; ids, digests
    and reasons only, never content) and the ``pocnet_relay_envelopes_corrupt`` metric."""

    def __init__(self, metrics: RelayMetrics) -> None:
        self.metrics = metrics

    def served(self, recipient: str, item: InboxItem) -> None:
        """Check an inbox item about to be served (served anyway: see the module)."""
        if item.kind != "envelope" or item.envelope_sha256 is None:
            return
        why = check_stored(item.data, item.envelope_sha256, item.accepted_receipt)
        if why is not None:
            self._corrupt("inbox", item.msg_id, why, recipient=recipient)

    def evidence(self, env: StoredEnvelope, data: bytes | None) -> str:
        """What an evidence answer says of the stored envelope: ``purged`` (no bytes any
        more), ``intact`` or ``altered`` (then also logged)."""
        if data is None:
            return PURGED
        why = check_stored(data, env.envelope_sha256, env.accepted_receipt)
        if why is None:
            return INTACT
        self._corrupt("evidence", env.msg_id, why, sender=env.sender, recipient=env.recipient)
        return ALTERED

    def digest_differs(self, env: StoredEnvelope, received: str, served: bytes | None) -> None:
        """A recipient's REJECTED names ``received``, not the accepted digest."""
        self.metrics.corrupt.labels(where="receipt").inc()
        log.error(
            "receipt.digest_differs",
            msg_id=env.msg_id,
            sender=env.sender,
            recipient=env.recipient,
            accepted_sha256=env.envelope_sha256,
            recipient_sha256=received,
            altered=where_altered(env.envelope_sha256, received, served),
        )

    def _corrupt(self, where: str, msg_id: str, check: str, **ids: Any) -> None:
        self.metrics.corrupt.labels(where=where).inc()
        log.error("envelope.corrupt", msg_id=msg_id, where=where, check=check, advice=ADVICE, **ids)

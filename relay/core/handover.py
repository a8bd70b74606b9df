"""The recipient's hand-over in one request: its receipts, then its download confirmation.

``POST /v1/inbox/ack`` with a ``receipts`` list does what ``POST /v1/receipts`` (once per
receipt) and ``POST /v1/inbox/ack`` did in two or more requests: each receipt is checked
as :meth:`RelayService.add_receipt` checks it, and all are stored, logged and forwarded to
their senders in one write transaction; then, in the next, the acknowledged items are
removed (``DELIVERED`` for each envelope). The receipts commit first so that a sender
waiting for ``RETRIEVED`` is woken without waiting for the acknowledgement's work (issue
12 row 4: one transaction for both measured slower, docs/adr/0018-fewer-round-trips.md).

A receipt refused (a bad signature, another party's message, one already given) is
answered in its place in the list, ``{"status": 4xx, "error", "message"}`` as its own
``POST /v1/receipts`` would have been, and does not stop the others or the
acknowledgement: the recipient has committed its receipts and will not change them, so a
refusal is final for that receipt. A failure of the relay itself (the database) fails the
whole request, and the node sends it all again (every part is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys.errors import PocnetError
from relay.core.service import AckResult, RelayService
from relay.monitoring.logging import get_logger
from relay.storage.writer import Operation, Tx

log = get_logger("relay.core.handover")


@dataclass(frozen=True)
class ReceiptOutcome:
    """What became of one receipt of a hand-over: the status its own request would get."""

    status: int
    error: PocnetError | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.error is None:
            return {"status": self.status}
        return {"status": self.status, **self.error.to_wire()}


@dataclass(frozen=True)
class HandoverResult:
    ack: AckResult
    receipts: list[ReceiptOutcome]


def _refused(service: RelayService, e: PocnetError) -> ReceiptOutcome:
    """A receipt's refusal, logged and counted for the operator (with the reason the peer
    never sees)."""
    reason = getattr(e, "reason", None) or e.code
    log.warning("receipt.refused", status=e.http_status, code=e.code, reason=reason)
    service.metrics.rejected.labels(status=str(e.http_status), reason=reason).inc()
    return ReceiptOutcome(e.http_status, e)


def _peer_fault(e: PocnetError) -> bool:
    return e.http_status < 500


async def hand_over(
    service: RelayService, caller: str, receipts: list[Any], ids: list[int], now: datetime
) -> HandoverResult:
    """Store ``caller``'s ``receipts`` (parsed wire objects), then acknowledge ``ids``.

    Raises:
        PocnetError: only a failure of the relay (5xx): the refusal of one receipt is its
            outcome in the answer.
    """
    outcomes: list[ReceiptOutcome | None] = []
    ops: list[tuple[int, Operation[bool]]] = []
    for data in receipts:
        try:
            ops.append((len(outcomes), await service.receipt_op(caller, data, now)))
            outcomes.append(None)
        except PocnetError as e:
            if not _peer_fault(e):
                raise
            outcomes.append(_refused(service, e))
    ack = service.ack_op(caller, ids, now)

    async def op(tx: Tx) -> dict[int, ReceiptOutcome]:
        done: dict[int, ReceiptOutcome] = {}
        for at, receipt_op in ops:
            try:  # an operation raises only before it writes: the others go on
                done[at] = ReceiptOutcome(201 if await receipt_op(tx) else 200)
            except PocnetError as e:
                if not _peer_fault(e):
                    raise
                done[at] = _refused(service, e)
        return done

    # The receipts commit first and wake the sender at once (RETRIEVED is what it waits
    # for); the acknowledgement, with its DELIVERED, follows in the next transaction.
    done = await service.writer.run(op) if ops else {}
    acked = await service.writer.run(ack)
    final = [o if o is not None else done[i] for i, o in enumerate(outcomes)]
    return HandoverResult(acked, final)

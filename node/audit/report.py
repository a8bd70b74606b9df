"""What an audit pass reports, and how its findings are raised (:mod:`node.audit.auditor`).

:class:`AuditReport` is the outcome of one pass. :class:`Alarms` turns a finding into what
the duty officer and the operator see: an **alarm** (something that proves the relay
wrong) is recorded once in the store with its evidence, logged at error level as
``audit.<kind>`` and raised as an ``audit`` alert (log line and hook); an **error** (a
check that could not be completed, proving nothing) is logged as
``audit.check_incomplete`` and retried by the next pass. Neither log line carries a
signature or a note: sizes, roots, reasons and ids only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys.auditlog.checkpoint import Checkpoint
from keys.encoding import format_time, parse_time
from keys.errors import PocnetError, RateLimited
from keys.host.command import Unreachable
from node.exchange.alerts import Alert, Alerter
from node.logs import Logger
from node.storage.auditstore import CheckpointRow, ProofRow
from node.storage.store import Store

ALARM_KINDS = ("fork", "rollback", "inclusion_failed", "checkpoint_rejected")
SHAPE_REASONS = ("audit_proof_length", "audit_proof_malformed")
"""Proofs of the wrong shape: garbage proves nothing (ADR 0003), ask again."""
ADVICE = (
    "the relay's audit log does not hold what it signed: keep this node's database as "
    "evidence and tell the network's secretariat"
)


@dataclass
class AuditReport:
    """What one pass did."""

    checkpoint: dict[str, Any] | None = None
    advanced: bool = False
    proven: int = 0
    pending: int = 0
    alarms: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False
    next_in: float | None = None
    """Seconds until receipts deferred by ``settle`` are due (None: none deferred)."""
    found: list[ProofRow] = field(default_factory=list)
    """Proofs verified and not written yet (written together, see ``Auditor.flush``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "advanced": self.advanced,
            "proven": self.proven,
            "pending": self.pending,
            "alarms": self.alarms,
            "errors": self.errors,
            "unreachable": self.unreachable,
        }

    def summary(self) -> dict[str, Any]:
        """The short form kept in the store (``node audit status``)."""
        return {
            "proven": self.proven,
            "pending": self.pending,
            "alarms": len(self.alarms),
            "errors": [e[:100] for e in self.errors[:3]],
        }


def checkpoint_of(row: CheckpointRow, origin: str) -> Checkpoint:
    """The checkpoint a stored row says (verified when it was stored)."""
    return Checkpoint(
        origin, row.tree_size, bytes.fromhex(row.root_hash), parse_time(row.signed_at)
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Alarms:
    """Raises alarms (recorded once, logged, alerted) and notes incomplete checks."""

    def __init__(self, store: Store, alerter: Alerter, log: Logger) -> None:
        self.store = store
        self.alerter = alerter
        self.log = log

    async def alarm(
        self,
        report: AuditReport,
        now: datetime,
        *,
        kind: str,
        reason: str,
        key: str,
        detail: dict[str, Any],
        evidence: dict[str, Any] | None,
        msg_id: str | None = None,
        receipt_sha256: str | None = None,
    ) -> None:
        """Record, log and alert an alarm, unless ``key`` was raised before."""
        stamp = format_time(now)
        new = await self.store.add_alarm(
            key=key,
            at=stamp,
            kind=kind,
            reason=reason,
            detail=detail,
            msg_id=msg_id,
            receipt_sha256=receipt_sha256,
            evidence=evidence,
        )
        if not new:
            return
        report.alarms.append({"kind": kind, "reason": reason, "msg_id": msg_id, **detail})
        self.log.error(f"audit.{kind}", reason=reason, msg_id=msg_id, advice=ADVICE, **detail)
        await self.alerter.raise_alert(
            Alert(
                type="audit",
                msg_id=msg_id or "",
                kind=kind,
                priority="emergency",
                counterpart="relay",
                at=stamp,
                detail={"alarm": kind, "reason": reason, **detail},
            )
        )

    def error(
        self, report: AuditReport, what: str, error: PocnetError | None, text: str = ""
    ) -> None:
        """A check that could not be completed (retried by the next pass)."""
        reason = getattr(error, "reason", None) or (error.code if error else "") or text
        report.errors.append(f"{what}: {reason}"[:200])
        if isinstance(error, Unreachable | RateLimited):
            report.unreachable = True
        self.log.warning("audit.check_incomplete", what=what[:80], reason=str(reason)[:80])

    def info(self, event: str, **kw: Any) -> None:
        self.log.info(event, **kw)

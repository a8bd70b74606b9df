"""Catching a lying relay: the node's checks of the relay's audit log (DESIGN.md section 10).

The node trusts one signed checkpoint at a time (:mod:`node.audit.checkpoints`, stored by
:mod:`node.storage.auditstore`). The :class:`Auditor`, run by the daemon every
``audit.check_interval`` seconds and when receipts arrive, by ``node audit check`` and by
``node evidence --fetch``:

1. fetches the relay's latest checkpoint (periodically, and at once when an ``ACCEPTED``
   receipt names a leaf beyond the trusted checkpoint), verifies its signature with the
   relay's key from the directory that signed it and was valid at the checkpoint's time
   (:func:`node.audit.relaykeys.verify_checkpoint`) under the network's origin, and its age,
   fetches a consistency proof from the trusted size and checks it
   (:func:`keys.auditlog.check.check_consistency`). Only then is it trusted;
2. for every receipt about our messages that came through the relay (``ACCEPTED`` and the
   relay's other receipts, and the recipient's, which the relay logs before forwarding
   them) and is not proven yet, asks for the log entries of up to 50 messages at once with
   inclusion proofs in one checkpoint's tree (``GET /v1/audit/proofs/messages``; from a
   relay without it, the evidence endpoint message by message), checks that checkpoint
   against the trusted one, picks
   the receipt's entry (:func:`node.relayapi.auditwire.find_entry`), and checks that it says what
   the receipt says and is in the tree (:func:`keys.auditlog.check.check_entry_inclusion`).
   The proof is stored for evidence bundles.

A failure that proves misbehaviour is an **alarm** (:class:`node.audit.report.Alarms`):
recorded once in the store with the signed notes or proof that show it, an error-level
event (``audit.fork``, ``audit.rollback``, ``audit.inclusion_failed``,
``audit.checkpoint_rejected`` for a validly signed checkpoint that is stale or from the
future), and an ``audit`` alert (log line and hook). The trusted checkpoint stays. A
failure that proves nothing (the relay unreachable, a note not signed by the relay's key,
a proof of the wrong shape, a malformed answer) is logged and retried; a receipt whose
proof stays unusable after :data:`MAX_ATTEMPTS` passes is an alarm too, since a relay that
never proves an entry is not believed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from keys import receipts
from keys.auditlog.check import check_entry_inclusion
from keys.auditlog.checkpoint import Checkpoint, origin_for
from keys.encoding import format_time
from keys.errors import NotFound, PocnetError, RateLimited, Rejected
from keys.host.command import Unreachable
from node.audit.checkpoints import CheckpointTracker
from node.audit.report import ALARM_KINDS, SHAPE_REASONS, Alarms, AuditReport, checkpoint_of
from node.config import AuditSettings
from node.exchange.alerts import Alerter
from node.logs import Logger
from node.relayapi import auditwire
from node.relayapi.transport import MAX_PROOF_MESSAGES, RelayTransport
from node.storage.auditstore import CheckpointRow, ProofRow
from node.storage.records import StoredReceipt
from node.storage.store import Store
from node.trust.peers import PeerKeys

if TYPE_CHECKING:
    from node.runtime import Node

MAX_ATTEMPTS = 5
"""Passes after which a receipt the relay cannot prove becomes an alarm."""


class Auditor:
    """Checks the relay's log for this node; see the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        transport: RelayTransport,
        peers: PeerKeys,
        alerter: Alerter,
        settings: AuditSettings,
        skew: timedelta,
        log: Logger,
    ) -> None:
        self.store = store
        self.transport = transport
        self.peers = peers
        self.settings = settings
        self.log = log
        self.origin = origin_for(settings.network)
        self.alarms = Alarms(store, alerter, log)
        self.checkpoints = CheckpointTracker(
            store=store,
            transport=transport,
            peers=peers,
            alarms=self.alarms,
            origin=self.origin,
            max_age=timedelta(seconds=settings.max_checkpoint_age),
            skew=skew,
            flush=self.flush,
            log=log,
        )
        self._last_fetch: datetime | None = None
        self._attempts: dict[str, int] = {}
        self._per_message = False  # the relay serves no batched proofs

    # -- one pass ---------------------------------------------------------------------------

    async def run_once(
        self,
        now: datetime,
        *,
        force: bool = False,
        msg_id: str | None = None,
        settle: float = 0.0,
    ) -> AuditReport:
        """Check the latest checkpoint when due (always with ``force``), then the receipts
        not yet proven (of ``msg_id`` only, when given).

        ``settle``: leave a message whose newest receipt arrived less than this many
        seconds ago for a later pass (``report.next_in`` says when), so that receipts
        arriving together (ACCEPTED, DELIVERED, RETRIEVED) cost one evidence request.
        """
        report = AuditReport()
        trusted = await self.store.trusted_checkpoint()
        pending = await self.store.unaudited_receipts(self.settings.batch * 8)
        if msg_id is not None:
            pending = [r for r in pending if r.msg_id == msg_id]
        if force or trusted is None or self._due(now) or self._beyond(pending, trusted):
            self._last_fetch = now
            await self.checkpoints.refresh(now, report)
        by_msg: dict[str, list[StoredReceipt]] = defaultdict(list)
        for r in pending:
            by_msg[r.msg_id].append(r)
        due: dict[str, list[StoredReceipt]] = {}
        for mid, rows in by_msg.items():
            young = settle - (now - max(r.stored_at for r in rows)).total_seconds()
            if young > 0:
                report.next_in = min(young, report.next_in or young)
                continue
            if len(due) >= self.settings.batch:
                break
            due[mid] = rows
        ids = list(due)
        for start in range(0, len(ids), MAX_PROOF_MESSAGES):
            await self._check_messages(
                {m: due[m] for m in ids[start : start + MAX_PROOF_MESSAGES]}, now, report
            )
        await self.flush(report)
        report.pending = len(await self.store.unaudited_receipts(self.settings.batch * 8))
        trusted = await self.store.trusted_checkpoint()
        report.checkpoint = trusted.to_dict() if trusted else None
        await self.store.set_audit_result(format_time(now), report.summary())
        return report

    async def flush(self, report: AuditReport) -> None:
        """Write the proofs verified so far (one transaction for many)."""
        await self.store.add_proofs(report.found)
        report.proven += len(report.found)
        report.found = []

    def _due(self, now: datetime) -> bool:
        last = self._last_fetch
        return last is None or (now - last).total_seconds() >= self.settings.check_interval

    def _beyond(self, pending: Sequence[StoredReceipt], trusted: CheckpointRow) -> bool:
        """Whether an ACCEPTED receipt names a leaf the trusted checkpoint does not hold."""
        for r in pending:
            if r.type == "ACCEPTED":
                signed = self._verified(r)
                leaf = signed.receipt.leaf_index if signed else None
                if leaf is not None and leaf >= trusted.tree_size:
                    return True
        return False

    # -- receipts ---------------------------------------------------------------------------

    def _verified(self, row: StoredReceipt) -> receipts.SignedReceipt | None:
        try:
            return self.peers.verify_receipt(row.wire)
        except PocnetError:
            return None

    async def _check_messages(
        self, due: dict[str, list[StoredReceipt]], now: datetime, report: AuditReport
    ) -> None:
        """Check the receipts of several messages with ONE request for their proofs
        (``GET /v1/audit/proofs/messages``), or one evidence request each from a relay
        that does not serve it (404)."""
        if self._per_message:
            for mid, rows in due.items():
                await self._check_message(mid, rows, now, report)
            return
        try:
            note, found = await self.transport.audit_messages(list(due))
        except NotFound:
            self._per_message = True
            self.log.info("audit.per_message", reason="the relay serves no batched proofs")
            await self._check_messages(due, now, report)
            return
        except PocnetError as e:
            self.alarms.error(report, f"proofs of {len(due)} messages", e)
            if not isinstance(e, Unreachable | RateLimited):
                for rows in due.values():
                    await self._attempt_failed(rows, now, report, f"proofs_{e.code}"[:64])
            return
        row = await self.checkpoints.consider(note, now, report, latest=False)
        if row is None:
            return
        cp = checkpoint_of(row, self.origin)
        for mid, rows in due.items():
            if mid not in found:  # as a 404 of its evidence: retried, then not believed
                self.alarms.error(report, f"proofs of {mid}", NotFound("no such message"))
                await self._attempt_failed(rows, now, report, "evidence_not_found")
                continue
            parties = await self._parties(mid)
            for r in rows:
                await self._check_receipt(r, found[mid], cp, row.id, parties, now, report)

    async def _check_message(
        self, msg_id: str, rows: list[StoredReceipt], now: datetime, report: AuditReport
    ) -> None:
        try:
            note, proofs = auditwire.evidence_audit(await self.transport.evidence(msg_id))
        except (Unreachable, RateLimited) as e:
            self.alarms.error(report, f"evidence of {msg_id}", e)
            return
        except PocnetError as e:  # 404 for a message the relay gave us receipts of, garbage
            self.alarms.error(report, f"evidence of {msg_id}", e)
            await self._attempt_failed(rows, now, report, f"evidence_{e.code}"[:64])
            return
        if note is None:
            self.alarms.error(report, f"evidence of {msg_id}", None, "the relay sent no proofs")
            return
        row = await self.checkpoints.consider(note, now, report, latest=False)
        if row is None:
            return
        cp = checkpoint_of(row, self.origin)
        parties = await self._parties(msg_id)
        for r in rows:
            await self._check_receipt(r, proofs, cp, row.id, parties, now, report)

    async def _parties(self, msg_id: str) -> dict[str, str]:
        try:
            msg = await self.store.get_message(msg_id)
        except NotFound:
            return {}
        return {"sender": msg.sender, "recipient": msg.recipient}

    async def _check_receipt(
        self,
        row: StoredReceipt,
        proofs: list[auditwire.LeafProof],
        cp: Checkpoint,
        checkpoint_id: int,
        parties: dict[str, str],
        now: datetime,
        report: AuditReport,
    ) -> None:
        signed = self._verified(row)
        if signed is None:
            what = f"receipt {row.sha256[:12]}"
            self.alarms.error(report, what, None, "its signature no longer verifies")
            return
        r = signed.receipt
        proof = auditwire.find_entry(signed, proofs)
        if proof is None:
            await self._inclusion_alarm(report, now, row, "audit_entry_missing", r.leaf_index, None)
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
            if e.reason in SHAPE_REASONS:
                self.alarms.error(report, f"inclusion proof of {row.sha256[:12]}", e)
                await self._attempt_failed([row], now, report, e.reason)
                return
            await self._inclusion_alarm(report, now, row, e.reason, proof.leaf_index, proof)
            return
        report.found.append(
            ProofRow(
                receipt_sha256=signed.sha256,
                msg_id=r.msg_id,
                receipt_type=r.type,
                leaf_index=proof.leaf_index,
                entry=proof.entry,
                hashes=proof.hashes,
                checkpoint_id=checkpoint_id,
                checked_at=format_time(now),
            )
        )
        self._attempts.pop(row.sha256, None)
        self.log.debug("audit.included", msg_id=r.msg_id, type=r.type, leaf_index=proof.leaf_index)

    async def _attempt_failed(
        self, rows: Sequence[StoredReceipt], now: datetime, report: AuditReport, reason: str
    ) -> None:
        for row in rows:
            n = self._attempts[row.sha256] = self._attempts.get(row.sha256, 0) + 1
            if n >= MAX_ATTEMPTS:
                await self._inclusion_alarm(report, now, row, reason, None, None)

    async def _inclusion_alarm(
        self,
        report: AuditReport,
        now: datetime,
        row: StoredReceipt,
        reason: str,
        leaf_index: int | None,
        proof: auditwire.LeafProof | None,
    ) -> None:
        self._attempts.pop(row.sha256, None)
        await self.alarms.alarm(
            report,
            now,
            kind="inclusion_failed",
            reason=reason,
            key=f"inclusion:{row.sha256}",
            msg_id=row.msg_id,
            receipt_sha256=row.sha256,
            detail={"receipt": row.type, "leaf_index": leaf_index},
            evidence={
                "receipt": row.wire.decode("utf-8"),
                "proof": proof.to_wire() if proof is not None else None,
            },
        )


def auditor_for(node: Node) -> Auditor:
    """The auditor of a complete node (daemon, ``node audit check``, ``node evidence``)."""
    return Auditor(
        store=node.store,
        transport=node.transport,
        peers=node.peers,
        alerter=node.alerter,
        settings=node.config.audit,
        skew=timedelta(seconds=node.config.limits.clock_skew),
        log=node.log,
    )


__all__ = ["ALARM_KINDS", "MAX_ATTEMPTS", "AuditReport", "Auditor", "auditor_for"]

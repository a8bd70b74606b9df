"""The checkpoint a node trusts, and how a new one earns that trust (:mod:`node.audit.auditor`).

A new checkpoint is verified (signature by the relay's key valid at the checkpoint's time,
:func:`node.audit.relaykeys.verify_checkpoint`, under the network's origin, then its age), then
compared with the trusted one (:func:`keys.auditlog.check.check_consistency` with a
consistency proof fetched from the relay). The relay's *latest* checkpoint must
extend the trusted one: a smaller tree is a ``rollback``, a tree that does not extend it a
``fork``. A checkpoint that came with *evidence* may be older than the trusted one; it is
then usable only as a proven prefix of it (a consistency proof from it to the trusted one).
Only a checkpoint that passed is stored; the newest stored one is the trusted one.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from keys.auditlog.check import check_consistency, check_fresh
from keys.auditlog.checkpoint import Checkpoint
from keys.auditlog.merkle import verify_consistency
from keys.errors import PocnetError, Rejected
from keys.identities import RELAY_ID
from node.audit.relaykeys import verify_checkpoint
from node.audit.report import SHAPE_REASONS, Alarms, AuditReport, checkpoint_of, digest
from node.logs import Logger
from node.relayapi.transport import RelayTransport
from node.storage.auditstore import CheckpointRow
from node.storage.store import Store
from node.trust.peers import PeerKeys

Flush = Callable[[AuditReport], Awaitable[None]]


class CheckpointTracker:
    """Verifies checkpoints and keeps the trusted one (in the store)."""

    def __init__(
        self,
        *,
        store: Store,
        transport: RelayTransport,
        peers: PeerKeys,
        alarms: Alarms,
        origin: str,
        max_age: timedelta,
        skew: timedelta,
        flush: Flush,
        log: Logger,
    ) -> None:
        self.store = store
        self.transport = transport
        self.peers = peers
        self.alarms = alarms
        self.origin = origin
        self.max_age = max_age
        self.skew = skew
        self.flush = flush
        self.log = log

    async def refresh(self, now: datetime, report: AuditReport) -> CheckpointRow | None:
        """Fetch the relay's latest checkpoint and trust it if it extends ours."""
        try:
            note = await self.transport.audit_checkpoint()
        except PocnetError as e:
            self.alarms.error(report, "checkpoint", e)
            return None
        return await self.consider(note, now, report, latest=True)

    async def consider(
        self, note: bytes, now: datetime, report: AuditReport, *, latest: bool
    ) -> CheckpointRow | None:
        """Verify ``note`` and its consistency with the trusted checkpoint.

        ``latest``: it is the relay's latest (a smaller tree is a rollback); otherwise it
        came with evidence, and a smaller tree must be a prefix of the trusted one.
        Returns the stored row proofs may be checked against, or None.
        """
        trusted = await self.store.trusted_checkpoint()
        if trusted is not None and hmac.compare_digest(note, trusted.note):
            return trusted  # the usual case: nothing new since the last look
        new = await self._verified(note, now, report)
        if new is None:
            return None
        if trusted is None:
            row = await self._add(report, new, note, now)
            report.advanced = True
            self.alarms.info(
                "audit.checkpoint_pinned", tree_size=new.size, root=new.root_hash.hex()
            )
            return row
        old = checkpoint_of(trusted, self.origin)
        if not latest and new.size < old.size:
            return await self._prefix(new, note, trusted, now, report)
        proof: Sequence[bytes] = ()
        if new.size > old.size > 0:  # from the empty tree, the proof is empty
            try:
                proof = await self.transport.audit_consistency(old.size, new.size)
            except PocnetError as e:
                self.alarms.error(report, "consistency proof", e)
                return None
        try:
            kept = check_consistency(old, new, list(proof))
        except Rejected as e:
            if e.reason in SHAPE_REASONS:
                self.alarms.error(report, "consistency proof", e)
                return None
            await self._conflict(report, now, e.reason, trusted, new, note, proof)
            return None
        if kept is old:
            return trusted
        row = await self._add(report, new, note, now)
        if new.size > old.size:
            report.advanced = True
            self.alarms.info("audit.checkpoint_advanced", old_size=old.size, new_size=new.size)
        return row

    async def _verified(self, note: bytes, now: datetime, report: AuditReport) -> Checkpoint | None:
        """The checkpoint if the relay signed it and it is fresh; None (and an error, or
        an alarm for a signed one that is stale or from the future) otherwise."""
        relay = self.peers.key_history(RELAY_ID)
        if relay is None:
            self.alarms.error(report, "checkpoint", None, "the relay's key is not known yet")
            return None
        try:
            new = verify_checkpoint(note, relay, self.origin)
        except Rejected as e:
            # Not signed by a relay key valid at its time: it proves nothing about the
            # relay (its key may have rotated since our directory, or a retired key is
            # being misused), but it must not go unnoticed.
            self.alarms.error(report, "checkpoint", e)
            self.log.error("audit.checkpoint_rejected", reason=e.reason)
            return None
        try:
            check_fresh(new, now, max_age=self.max_age, skew=self.skew)
        except Rejected as e:
            await self.alarms.alarm(
                report,
                now,
                kind="checkpoint_rejected",
                reason=e.reason,
                key=f"checkpoint:{e.reason}:{digest(note)}",
                detail={},
                evidence={"checkpoint": note.decode("utf-8", "replace")},
            )
            return None
        return new

    async def _add(
        self, report: AuditReport, new: Checkpoint, note: bytes, now: datetime
    ) -> CheckpointRow:
        # Storing a checkpoint prunes those no stored proof refers to: store ours first.
        await self.flush(report)
        return await self.store.add_checkpoint(new, note, now)

    async def _prefix(
        self,
        new: Checkpoint,
        note: bytes,
        trusted: CheckpointRow,
        now: datetime,
        report: AuditReport,
    ) -> CheckpointRow | None:
        """An older checkpoint (from evidence) is usable if it is a prefix of the trusted."""
        old = checkpoint_of(trusted, self.origin)
        try:
            proof = await self.transport.audit_consistency(new.size, old.size)
        except PocnetError as e:
            self.alarms.error(report, "consistency proof", e)
            return None
        try:
            verify_consistency(new.size, old.size, new.root_hash, old.root_hash, list(proof))
        except Rejected as e:
            if e.reason in SHAPE_REASONS:
                self.alarms.error(report, "consistency proof", e)
                return None
            await self._conflict(report, now, "fork", trusted, new, note, proof)
            return None
        return await self._add(report, new, note, now)

    async def _conflict(
        self,
        report: AuditReport,
        now: datetime,
        kind: str,
        trusted: CheckpointRow,
        new: Checkpoint,
        note: bytes,
        proof: Sequence[bytes],
    ) -> None:
        """A fork or rollback: both signed notes are kept as evidence."""
        await self.alarms.alarm(
            report,
            now,
            kind=kind,
            reason=kind,
            key=f"{kind}:{digest(note)}",
            detail={
                "trusted_size": trusted.tree_size,
                "trusted_root": trusted.root_hash,
                "presented_size": new.size,
                "presented_root": new.root_hash.hex(),
            },
            evidence={
                "trusted_checkpoint": trusted.note.decode("utf-8"),
                "presented_checkpoint": note.decode("utf-8"),
                "consistency_proof": [h.hex() for h in proof],
            },
        )

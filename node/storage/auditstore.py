"""What the node keeps about the relay's audit log: checkpoints, proofs, alarms.

A mixin of :class:`node.storage.store.Store` over the tables ``audit_checkpoints``,
``audit_proofs`` and ``audit_alarms`` (:mod:`node.storage.schema`). The trusted checkpoint is the
newest stored one (by size, then time): a checkpoint is stored only once it verified and
proved consistent with the one trusted before. Older checkpoints are kept while a stored
inclusion proof refers to them (evidence bundles need them) and pruned otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from keys.auditlog.checkpoint import Checkpoint
from keys.auditlog.merkle import HASH_SIZE
from keys.encoding import format_time
from node.storage.database import Database
from node.storage.records import StoredReceipt
from node.storage.schema import audit_alarms, audit_checkpoints, audit_proofs, meta, receipts

MAX_ALARMS_LISTED = 100
PRUNE_AFTER = timedelta(minutes=10)
_META_CHECKED = "audit.checked_at"
_META_RESULT = "audit.last_result"


@dataclass(frozen=True)
class CheckpointRow:
    """A relay checkpoint this node verified (the note, and what it says)."""

    id: int
    tree_size: int
    root_hash: str
    signed_at: str
    note: bytes
    seen_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "signed_at": self.signed_at,
            "seen_at": self.seen_at,
        }


@dataclass(frozen=True)
class ProofRow:
    """A receipt's log entry, its leaf index and inclusion proof, as verified."""

    receipt_sha256: str
    msg_id: str
    receipt_type: str
    leaf_index: int
    entry: bytes
    hashes: tuple[bytes, ...]
    checkpoint_id: int
    checked_at: str


@dataclass(frozen=True)
class Alarm:
    """A check of the relay's log that failed: what, when, and what proves it."""

    id: int
    at: str
    kind: str
    reason: str
    msg_id: str | None
    receipt_sha256: str | None
    detail: dict[str, Any]
    evidence: dict[str, Any] | None

    def to_dict(self, *, with_evidence: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at,
            "kind": self.kind,
            "reason": self.reason,
            "msg_id": self.msg_id,
            "receipt_sha256": self.receipt_sha256,
            **self.detail,
        }
        if with_evidence and self.evidence is not None:
            out["evidence"] = self.evidence
        return out


def _checkpoint(row: Any) -> CheckpointRow:
    return CheckpointRow(
        int(row["id"]),
        int(row["tree_size"]),
        row["root_hash"],
        row["signed_at"],
        bytes(row["note"]),
        row["seen_at"],
    )


def _split_hashes(data: bytes) -> tuple[bytes, ...]:
    return tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE))


def _proof(row: Any) -> ProofRow:
    return ProofRow(
        row["receipt_sha256"],
        row["msg_id"],
        row["receipt_type"],
        int(row["leaf_index"]),
        bytes(row["entry"]),
        _split_hashes(bytes(row["hashes"])),
        int(row["checkpoint_id"]),
        row["checked_at"],
    )


def _alarm(row: Any) -> Alarm:
    evidence = row["evidence"]
    return Alarm(
        int(row["id"]),
        row["at"],
        row["kind"],
        row["reason"],
        row["msg_id"],
        row["receipt_sha256"],
        json.loads(row["detail"]),
        json.loads(evidence) if evidence is not None else None,
    )


_NEWEST = (
    audit_checkpoints.c.tree_size.desc(),
    audit_checkpoints.c.signed_at.desc(),
    audit_checkpoints.c.id.desc(),
)


class AuditRecords(Database):
    """Reads and writes of the audit tables."""

    async def trusted_checkpoint(self) -> CheckpointRow | None:
        """The checkpoint this node trusts now (None before the first one)."""
        rows = await self._rows(select(audit_checkpoints).order_by(*_NEWEST).limit(1))
        return _checkpoint(rows[0]) if rows else None

    async def checkpoints(self, ids: Sequence[int]) -> dict[int, CheckpointRow]:
        q = select(audit_checkpoints).where(audit_checkpoints.c.id.in_(list(ids)))
        return {int(r["id"]): _checkpoint(r) for r in await self._rows(q)}

    async def add_checkpoint(
        self, checkpoint: Checkpoint, note: bytes, moment: datetime
    ) -> CheckpointRow:
        """Store a verified checkpoint (once per note); prune those no proof refers to and
        seen more than :data:`PRUNE_AFTER` ago (another process may be about to use one)."""
        now = format_time(moment)
        keep_since = format_time(moment - PRUNE_AFTER)
        async with self._write() as conn:
            found = (
                (
                    await conn.execute(
                        select(audit_checkpoints).where(audit_checkpoints.c.note == note)
                    )
                )
                .mappings()
                .first()
            )
            if found is not None:
                return _checkpoint(found)
            values = {
                "tree_size": checkpoint.size,
                "root_hash": checkpoint.root_hash.hex(),
                "signed_at": format_time(checkpoint.time),
                "note": note,
                "seen_at": now,
            }
            new_id = (
                await conn.execute(insert(audit_checkpoints).values(**values))
            ).inserted_primary_key
            assert new_id is not None
            row_id = int(new_id[0])
            newest = (
                await conn.execute(select(audit_checkpoints.c.id).order_by(*_NEWEST).limit(1))
            ).scalar()
            used = select(audit_proofs.c.checkpoint_id)
            await conn.execute(
                delete(audit_checkpoints).where(
                    audit_checkpoints.c.id.not_in([row_id, newest]),
                    audit_checkpoints.c.id.not_in(used),
                    audit_checkpoints.c.seen_at < keep_since,
                )
            )
        return CheckpointRow(
            row_id,
            checkpoint.size,
            checkpoint.root_hash.hex(),
            format_time(checkpoint.time),
            note,
            now,
        )

    async def add_proofs(self, proofs: Sequence[ProofRow]) -> None:
        """Record verified inclusions in one transaction (a receipt's first one stays)."""
        if not proofs:
            return
        rows = [
            {
                "receipt_sha256": p.receipt_sha256,
                "msg_id": p.msg_id,
                "receipt_type": p.receipt_type,
                "leaf_index": p.leaf_index,
                "entry": p.entry,
                "hashes": b"".join(p.hashes),
                "checkpoint_id": p.checkpoint_id,
                "checked_at": p.checked_at,
            }
            for p in proofs
        ]
        async with self._write() as conn:
            await conn.execute(
                sqlite_insert(audit_proofs).on_conflict_do_nothing(
                    index_elements=["receipt_sha256"]
                ),
                rows,
            )

    async def proofs_for(self, msg_id: str) -> list[ProofRow]:
        q = select(audit_proofs).where(audit_proofs.c.msg_id == msg_id)
        return [_proof(r) for r in await self._rows(q.order_by(audit_proofs.c.leaf_index))]

    async def unaudited_receipts(self, limit: int) -> list[StoredReceipt]:
        """Receipts about our messages that came through the relay (so it logged them),
        not yet proven in its log nor the subject of an alarm; oldest first."""
        alarmed = exists().where(audit_alarms.c.receipt_sha256 == receipts.c.sha256)
        q = (
            select(receipts)
            .outerjoin(audit_proofs, audit_proofs.c.receipt_sha256 == receipts.c.sha256)
            .where(
                receipts.c.origin.in_(["relay", "peer"]),
                audit_proofs.c.receipt_sha256.is_(None),
                ~alarmed,
            )
            .order_by(receipts.c.id)
            .limit(limit)
        )
        return [StoredReceipt.from_row(r) for r in await self._rows(q)]

    async def audit_counts(self) -> dict[str, int]:
        """How many receipts are proven in the log, and how many alarms were raised."""
        async with self._reader.connect() as conn:
            proven = (await conn.execute(select(func.count()).select_from(audit_proofs))).scalar()
            alarms = (await conn.execute(select(func.count()).select_from(audit_alarms))).scalar()
        return {"proven": int(proven or 0), "alarms": int(alarms or 0)}

    async def add_alarm(
        self,
        *,
        key: str,
        at: str,
        kind: str,
        reason: str,
        detail: dict[str, Any],
        msg_id: str | None = None,
        receipt_sha256: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> bool:
        """Record an alarm; False (nothing written) if the same ``key`` was raised before."""
        try:
            async with self._write() as conn:
                await conn.execute(
                    insert(audit_alarms).values(
                        key=key[:200],
                        at=at,
                        kind=kind,
                        reason=reason[:64],
                        msg_id=msg_id,
                        receipt_sha256=receipt_sha256,
                        detail=json.dumps(detail, sort_keys=True),
                        evidence=(
                            json.dumps(evidence, sort_keys=True).encode("utf-8")
                            if evidence is not None
                            else None
                        ),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def alarms(
        self, *, msg_id: str | None = None, limit: int = MAX_ALARMS_LISTED
    ) -> list[Alarm]:
        """Alarms, newest first (those about ``msg_id`` only, when given)."""
        q = select(audit_alarms)
        if msg_id is not None:
            q = q.where(audit_alarms.c.msg_id == msg_id)
        q = q.order_by(audit_alarms.c.id.desc()).limit(limit)
        return [_alarm(r) for r in await self._rows(q)]

    async def set_audit_result(self, at: str, result: dict[str, Any]) -> None:
        """Remember when the log was last checked and how it went."""
        async with self._write() as conn:
            for key, value in ((_META_CHECKED, at), (_META_RESULT, json.dumps(result))):
                await conn.execute(
                    sqlite_insert(meta)
                    .values(key=key, value=value)
                    .on_conflict_do_update(index_elements=["key"], set_={"value": value})
                )

    async def audit_result(self) -> tuple[str | None, dict[str, Any] | None]:
        rows = await self._rows(
            select(meta.c.key, meta.c.value).where(meta.c.key.in_([_META_CHECKED, _META_RESULT]))
        )
        found = {r["key"]: r["value"] for r in rows}
        try:
            result = json.loads(found[_META_RESULT]) if _META_RESULT in found else None
        except ValueError:
            result = None
        return found.get(_META_CHECKED), result

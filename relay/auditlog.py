"""The audit log's read side: checkpoints, inclusion and consistency proofs, evidence.

Proofs are computed from the stored complete-subtree hashes: the plan of
:mod:`keys.merkle` names the rows, one query fetches them (:func:`relay.audit.fetch_nodes`),
and the pure function folds them. Sizes and indices are checked here (400 for a bad
range, 404 for a size the log has not reached), so nothing reaches SQL unchecked.

Like :mod:`relay.service`, this knows nothing of HTTP; the transport maps the answers.
Binary values are unpadded base64url strings, like every binary value in PoCNet's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from keys import merkle
from keys.encoding import b64u_encode
from keys.errors import NotFound
from relay import audit
from relay.checkpoints import Signer, StoredCheckpoint, latest, sign_in
from relay.schema import events
from relay.writer import Writer

MAX_EVENTS_PER_MESSAGE = 64
"""Most log entries returned as evidence for one message (a message has about eight)."""


@dataclass(frozen=True)
class MessageProof:
    """One logged event about a message: its leaf index, entry bytes and inclusion proof."""

    leaf_index: int
    entry: bytes
    hashes: list[bytes]

    def to_wire(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "entry": b64u_encode(self.entry),
            "hashes": [b64u_encode(h) for h in self.hashes],
        }


def _too_big(size: int, current: int) -> NotFound:
    return NotFound(f"the audit log has {current} entries, not {size}", code="tree_size_unknown")


class AuditLog:
    """Reads the log and signs checkpoints on demand."""

    def __init__(
        self, engine: AsyncEngine, writer: Writer, signer: Signer, *, refresh: timedelta
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.signer = signer
        self.refresh = refresh

    async def sign(self, now: datetime) -> StoredCheckpoint:
        """Sign a checkpoint of the current log if the last one is not current and fresh."""
        return await self.writer.run(lambda tx: sign_in(tx, self.signer, now, refresh=self.refresh))

    async def checkpoint(self, now: datetime, covering: int | None = None) -> StoredCheckpoint:
        """The latest checkpoint; a new one if it is stale or does not contain ``covering``."""
        async with self.engine.connect() as conn:
            last = await latest(conn)
        if (
            last is not None
            and now - last.signed_at < self.refresh
            and (covering is None or covering < last.tree_size)
        ):
            return last
        return await self.sign(now)

    async def tree_size(self) -> int:
        async with self.engine.connect() as conn:
            return await audit.committed_size(conn)

    async def inclusion(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the log's first ``size`` entries.

        Raises:
            ValidationError: not ``0 <= index < size`` (``bad_tree_range``).
            NotFound: the log has fewer than ``size`` entries (``tree_size_unknown``).
        """
        plan = merkle.inclusion_nodes(index, size)
        async with self.engine.connect() as conn:
            current = await audit.committed_size(conn)
            if size > current:
                raise _too_big(size, current)
            nodes = await audit.fetch_nodes(conn, merkle.plan_nodes(plan))
        return merkle.inclusion_proof(merkle.DictStore(nodes), index, size)

    async def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof from the first ``old_size`` to ``new_size`` entries.

        Raises:
            ValidationError: not ``0 <= old_size <= new_size`` (``bad_tree_range``).
            NotFound: the log has fewer than ``new_size`` entries (``tree_size_unknown``).
        """
        plan = merkle.consistency_nodes(old_size, new_size)
        async with self.engine.connect() as conn:
            current = await audit.committed_size(conn)
            if new_size > current:
                raise _too_big(new_size, current)
            nodes = await audit.fetch_nodes(conn, merkle.plan_nodes(plan))
        return merkle.consistency_proof(merkle.DictStore(nodes), old_size, new_size)

    async def message_proofs(
        self, msg_id: str, now: datetime
    ) -> tuple[StoredCheckpoint, list[MessageProof]]:
        """Every logged event about ``msg_id`` with its proof against one checkpoint.

        The checkpoint is the latest one if it contains them all, else a new one. The
        caller checks that the asker may see this message.
        """
        query = (
            select(events)
            .where(events.c.msg_id == msg_id)
            .order_by(events.c.seq)
            .limit(MAX_EVENTS_PER_MESSAGE)
        )
        async with self.engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
        seqs = [int(r["seq"]) for r in rows]
        checkpoint = await self.checkpoint(now, covering=max(seqs) if seqs else None)
        size = checkpoint.tree_size
        plans = [merkle.inclusion_nodes(seq, size) for seq in seqs]
        async with self.engine.connect() as conn:
            nodes = await audit.fetch_nodes(conn, (n for plan in plans for e in plan for n in e))
        store = merkle.DictStore(nodes)
        proofs = [
            MessageProof(
                seq, audit.Event.from_row(row).entry(), merkle.inclusion_proof(store, seq, size)
            )
            for seq, row in zip(seqs, rows, strict=True)
        ]
        return checkpoint, proofs

    async def evidence(self, msg_id: str, now: datetime) -> dict[str, Any]:
        """The audit part of a message's evidence: ``checkpoint`` and ``proofs``."""
        checkpoint, proofs = await self.message_proofs(msg_id, now)
        return {
            "checkpoint": checkpoint.note.decode("utf-8"),
            "proofs": [p.to_wire() for p in proofs],
        }

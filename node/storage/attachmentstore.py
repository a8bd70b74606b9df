"""The ``attachment_files`` table: the sealed attachments of sent and received messages,
their progress and their state (:data:`node.storage.states.ATTACHMENT`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keys.receipts import SignedReceipt
from node.storage.database import Database
from node.storage.schema import attachment_files, receipts
from node.storage.states import ATTACHMENT, AttachmentState

_F = attachment_files.c


@dataclass(frozen=True)
class AttachmentRecord:
    """One attachment as stored (its key stays in the signed message)."""

    att_id: str
    msg_id: str
    direction: str
    name: str
    media_type: str
    size: int
    chunks: int
    done: int
    state: str
    reason: str | None
    updated_at: str

    @classmethod
    def from_row(cls, row: Any) -> AttachmentRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class AttachmentRecords(Database):
    """Reads and writes of ``attachment_files``."""

    async def add_attachments(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record the attachments of a message (ignored if recorded already)."""
        values = [{**r, "state": ATTACHMENT.initial.value, "done": 0} for r in rows]
        if not values:
            return
        async with self._write() as conn:
            await conn.execute(sqlite_insert(attachment_files).on_conflict_do_nothing(), values)

    async def attachments_of(self, msg_id: str) -> list[AttachmentRecord]:
        rows = await self._rows(
            select(attachment_files).where(_F.msg_id == msg_id).order_by(_F.name, _F.att_id)
        )
        return [AttachmentRecord.from_row(r) for r in rows]

    async def pending_attachments(self, direction: str, limit: int = 100) -> list[AttachmentRecord]:
        rows = await self._rows(
            select(attachment_files)
            .where(_F.direction == direction, _F.state == AttachmentState.PENDING.value)
            .order_by(_F.updated_at)
            .limit(limit)
        )
        return [AttachmentRecord.from_row(r) for r in rows]

    async def attachment_progress(self, att_id: str, done: int, now: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(attachment_files)
                .where(_F.att_id == att_id, _F.state == AttachmentState.PENDING.value)
                .values(done=done, updated_at=now)
            )

    async def finish_attachment(
        self,
        att_id: str,
        state: AttachmentState,
        now: str,
        *,
        reason: str | None = None,
        receipt: SignedReceipt | None = None,
    ) -> bool:
        """Move a pending attachment to ``state`` (with the REJECTED receipt to post, in
        the same transaction); False if it was not pending."""
        from node.storage.store import _receipt_values  # the one place receipts become rows

        ATTACHMENT.step(AttachmentState.PENDING, state)
        async with self._write() as conn:
            result = await conn.execute(
                update(attachment_files)
                .where(_F.att_id == att_id, _F.state.in_(ATTACHMENT.sources(state)))
                .values(state=state.value, reason=reason, updated_at=now)
            )
            if not result.rowcount:
                return False
            if receipt is not None:
                row = _receipt_values(receipt, origin="self", posted=False, now=now)
                await conn.execute(
                    sqlite_insert(receipts)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["sha256"])
                )
        return True


__all__ = ["AttachmentRecord", "AttachmentRecords"]

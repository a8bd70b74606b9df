"""Storage of sealed attachments: the chunks as opaque blobs, and the files of accepted
envelopes (docs/adr/0017-attachment-chunks-in-the-database.md).

Every SQL statement about attachments; nothing here decides: :mod:`relay.core.attachments`
does. Writes take the :class:`relay.storage.writer.Tx` of their batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.storage.schema import attachment_chunks, attachments
from relay.storage.writer import Tx

_C = attachment_chunks.c


@dataclass(frozen=True)
class ChunkInfo:
    """A stored chunk without its bytes."""

    idx: int
    size: int
    sha256: bytes
    sender: str
    msg_id: str | None


@dataclass(frozen=True)
class AcceptedFile:
    """An attachment of an accepted envelope."""

    att_id: str
    msg_id: str
    sender: str
    recipient: str
    size: int
    chunks: int
    digest: str


class AttachmentStore:
    """The queries; reads on the engine, writes in the writer's transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def chunks_of(self, att_id: str) -> list[ChunkInfo]:
        """Every stored chunk of ``att_id``, in index order (no bytes)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(_chunk_query(att_id))
            return [_chunk(r) for r in rows]

    async def chunks_in_tx(self, tx: Tx, att_id: str) -> list[ChunkInfo]:
        """As :meth:`chunks_of`, inside a write transaction (the writer's view)."""
        return [_chunk(r) for r in await tx.execute(_chunk_query(att_id))]

    async def chunk_data(self, att_id: str, idx: int) -> bytes | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(_C.data).where(_C.att_id == att_id, _C.idx == idx))
            return None if value is None else bytes(value)

    async def accepted_file(self, att_id: str) -> AcceptedFile | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        attachments.c.att_id,
                        attachments.c.msg_id,
                        attachments.c.sender,
                        attachments.c.recipient,
                        attachments.c.size,
                        attachments.c.chunks,
                        attachments.c.digest,
                    ).where(attachments.c.att_id == att_id)
                )
            ).first()
            if row is None:
                return None
            return AcceptedFile(
                row.att_id, row.msg_id, row.sender, row.recipient, row.size, row.chunks, row.digest
            )

    async def usage(self, tx: Tx, sender: str) -> int:
        """Bytes of chunks ``sender`` has stored (pending and accepted)."""
        total = await tx.execute(
            select(func.coalesce(func.sum(_C.size), 0)).where(_C.sender == sender)
        )
        return int(total.scalar_one())

    async def put_chunk(
        self,
        tx: Tx,
        *,
        att_id: str,
        idx: int,
        sender: str,
        sha256: bytes,
        data: bytes,
        now: datetime,
    ) -> None:
        await tx.execute(
            attachment_chunks.insert().values(
                att_id=att_id,
                idx=idx,
                sender=sender,
                size=len(data),
                sha256=sha256,
                data=data,
                stored_at=now,
                msg_id=None,
            )
        )

    def add_file(self, tx: Tx, file: AcceptedFile) -> None:
        tx.add(
            attachments,
            {
                "att_id": file.att_id,
                "msg_id": file.msg_id,
                "sender": file.sender,
                "recipient": file.recipient,
                "size": file.size,
                "chunks": file.chunks,
                "digest": file.digest,
            },
        )

    async def claim(self, tx: Tx, att_ids: Sequence[str], msg_id: str) -> None:
        """Mark the chunks of ``att_ids`` as belonging to the accepted ``msg_id``."""
        await tx.execute(
            update(attachment_chunks).where(_C.att_id.in_(att_ids)).values(msg_id=msg_id)
        )

    async def delete_for(self, tx: Tx, msg_id: str) -> int:
        """Delete the chunks of ``msg_id`` (retention); the file rows stay as a record."""
        result = await tx.execute(delete(attachment_chunks).where(_C.msg_id == msg_id))
        return int(result.rowcount or 0)

    async def delete_unclaimed(self, tx: Tx, before: datetime) -> int:
        """Delete chunks stored before ``before`` that no accepted envelope claimed."""
        result = await tx.execute(
            delete(attachment_chunks).where(and_(_C.msg_id.is_(None), _C.stored_at < before))
        )
        return int(result.rowcount or 0)


def _chunk_query(att_id: str) -> Any:
    return (
        select(_C.idx, _C.size, _C.sha256, _C.sender, _C.msg_id)
        .where(_C.att_id == att_id)
        .order_by(_C.idx)
    )


def _chunk(row: Any) -> ChunkInfo:
    return ChunkInfo(int(row.idx), int(row.size), bytes(row.sha256), row.sender, row.msg_id)

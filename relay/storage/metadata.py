"""Envelope metadata for ``relay stats``: who sent to whom, when, at which priority, and
when it was delivered, acknowledged or marked OVERDUE. Never the envelope itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Subquery

from keys.errors import LocalError
from relay.storage.schema import envelopes, receipts

MAX_ROWS = 5_000_000


@dataclass(frozen=True)
class EnvelopeMeta:
    """One envelope as the relay's statistics see it."""

    sender: str
    recipient: str
    priority: str
    created_at: datetime
    accepted_at: datetime
    overdue_at: datetime | None
    delivered_at: datetime | None
    acknowledged_at: datetime | None


def _first(type_: str) -> Subquery:
    return (
        select(receipts.c.msg_id, func.min(receipts.c.issued_at).label("at"))
        .where(receipts.c.type == type_)
        .group_by(receipts.c.msg_id)
        .subquery()
    )


async def envelope_metadata(
    conn: AsyncConnection, *, start: datetime | None, end: datetime | None
) -> list[EnvelopeMeta]:
    """Envelopes created in ``[start, end)`` (None: no bound), oldest first.

    Raises:
        LocalError: more than :data:`MAX_ROWS` of them.
    """
    delivered, acked = _first("DELIVERED"), _first("ACKNOWLEDGED")
    q = (
        select(
            envelopes.c.sender,
            envelopes.c.recipient,
            envelopes.c.priority,
            envelopes.c.created_at,
            envelopes.c.accepted_at,
            envelopes.c.overdue_at,
            delivered.c.at.label("delivered_at"),
            acked.c.at.label("acknowledged_at"),
        )
        .select_from(
            envelopes.outerjoin(delivered, delivered.c.msg_id == envelopes.c.msg_id).outerjoin(
                acked, acked.c.msg_id == envelopes.c.msg_id
            )
        )
        .order_by(envelopes.c.created_at)
        .limit(MAX_ROWS + 1)
    )
    bounds = []
    if start is not None:
        bounds.append(envelopes.c.created_at >= start)
    if end is not None:
        bounds.append(envelopes.c.created_at < end)
    if bounds:
        q = q.where(and_(*bounds))
    rows = (await conn.execute(q)).all()
    if len(rows) > MAX_ROWS:  # counts cut short would look like real ones
        raise LocalError(
            f"more than {MAX_ROWS:,} envelopes in the period: narrow it with --since/--until",
            code="too_many_rows",
        )
    return [EnvelopeMeta(**row._mapping) for row in rows]

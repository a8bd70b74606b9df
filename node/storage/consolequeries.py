"""The reads the web console needs that the CLI does not: the board's light rows (no
envelope bytes), a cheap change marker for live updates, and a full-text filter over the
node's own decrypted messages."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Text, cast, func, select

from node.storage.database import Database
from node.storage.schema import messages, receipts

BOARD_MAX = 50_000


@dataclass(frozen=True)
class BoardItem:
    """What one line of the console's board needs of a stored message."""

    msg_id: str
    direction: str
    counterpart: str
    kind: str
    priority: str
    created_at: str
    expires_at: str
    reference: str | None
    state: str
    acknowledged_at: str | None

    @classmethod
    def from_row(cls, row: Any) -> BoardItem:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


_COLUMNS = [getattr(messages.c, f.name) for f in fields(BoardItem)]


class ConsoleQueries(Database):
    async def board_items(
        self, *, text: str = "", states: tuple[str, ...] = (), limit: int = BOARD_MAX
    ) -> list[BoardItem]:
        """Every message (or those in ``states``, or whose content contains ``text``,
        case-insensitively), without their envelopes."""
        q = select(*_COLUMNS)
        if states:
            q = q.where(messages.c.state.in_(list(states)))
        if text:
            needle = text.lower()
            q = q.where(
                (func.instr(func.lower(cast(messages.c.message, Text)), needle) > 0)
                | (messages.c.msg_id.startswith(needle))
            )
        q = q.order_by(messages.c.created_at.desc()).limit(limit)
        return [BoardItem.from_row(r) for r in await self._rows(q)]

    async def acknowledged_ids(self) -> frozenset[str]:
        """Messages for which an ACKNOWLEDGED receipt is held (from the peer, or by us)."""
        q = select(receipts.c.msg_id).where(receipts.c.type == "ACKNOWLEDGED").distinct()
        return frozenset(r["msg_id"] for r in await self._rows(q))

    async def change_marker(self) -> tuple[Any, ...]:
        """A value that changes when a message or receipt is added or a message changes
        state (what the live view polls)."""
        q1 = select(
            func.count(), func.max(messages.c.stored_at), func.count(messages.c.acknowledged_at)
        )
        q2 = select(func.count(), func.max(receipts.c.id))
        q3 = select(func.group_concat(messages.c.state, ","))  # states of open rows only
        q3 = q3.where(messages.c.state.in_(["new", "acknowledged", "queued", "accepted"]))
        async with self._reader.connect() as conn:
            a = (await conn.execute(q1)).one()
            b = (await conn.execute(q2)).one()
            c = (await conn.execute(q3)).scalar()
        return (*a, *b, len(c or ""))

"""The reads the web console needs that the CLI does not: the board's light rows (no
envelope bytes), a cheap change marker for live updates, and a full-text filter over the
node's own decrypted messages."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Text, and_, cast, func, or_, select

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


# in BoardItem's field order: a row becomes BoardItem(*row), the cheapest way for 10,000 rows
_COLUMNS = [getattr(messages.c, f.name) for f in fields(BoardItem)]


# repeats the partial index's condition (schema.BOARD_INDEX_CONDITION): only then may
# SQLite use it
_ON_BOARD_INDEX = messages.c.stored_at.is_not(None)


def _board(q: Any) -> Any:
    """Read through the covering index only (SQLite would otherwise pick
    ix_messages_dir_state for the open messages and read every row's envelope)."""
    return q.with_hint(messages, "INDEXED BY ix_messages_board", "sqlite")


def _item(row: Any) -> BoardItem:
    return BoardItem(*row)


class ConsoleQueries(Database):
    async def board_items(
        self,
        *,
        text: str = "",
        states: tuple[str, ...] = (),
        priorities: tuple[str, ...] = (),
        limit: int = BOARD_MAX,
    ) -> list[BoardItem]:
        """Every message (or those in ``states``, of ``priorities``, whose content contains
        ``text`` case-insensitively), without their envelopes, newest first."""
        q = _board(select(*_COLUMNS).where(_ON_BOARD_INDEX))
        if states:
            q = q.where(messages.c.state.in_(list(states)))
        if priorities:
            q = q.where(messages.c.priority.in_(list(priorities)))
        if text:
            needle = text.lower()
            q = q.where(
                (func.instr(func.lower(cast(messages.c.message, Text)), needle) > 0)
                | (messages.c.msg_id.startswith(needle))
            )
        q = q.order_by(messages.c.created_at.desc()).limit(limit)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_item(r) for r in rows]

    async def board_slice(
        self,
        open_states: dict[str, tuple[str, ...]],
        *,
        closed_limit: int,
        state: str = "",
        kind: str = "",
        counterpart: str = "",
        priority: str = "",
        since: str = "",
        text: str = "",
    ) -> tuple[list[BoardItem], list[BoardItem], int]:
        """What the board shows, filtered here: every open message (``open_states`` by
        direction), the newest ``closed_limit`` closed ones, and how many match in all.
        ``state`` is a stored state, or ``"open"``."""
        is_open = or_(
            *(
                and_(messages.c.direction == d, messages.c.state.in_(list(states)))
                for d, states in open_states.items()
            )
        )
        where: list[Any] = [_ON_BOARD_INDEX]
        if state == "open":
            where.append(is_open)
        elif state:
            where.append(messages.c.state == state)
        if kind:
            where.append(messages.c.kind == kind)
        if counterpart:
            where.append(func.lower(messages.c.counterpart) == counterpart.lower())
        if priority:
            where.append(messages.c.priority == priority)
        if since:
            where.append(messages.c.created_at >= since)
        if text:
            needle = text.lower()
            where.append(
                (func.instr(func.lower(cast(messages.c.message, Text)), needle) > 0)
                | (messages.c.msg_id.startswith(needle))
            )
        newest = messages.c.created_at.desc()
        q_open = _board(select(*_COLUMNS).where(is_open, *where))  # the board orders them
        q_closed = _board(select(*_COLUMNS).where(~is_open, *where))
        q_closed = q_closed.order_by(newest).limit(closed_limit)
        q_count = _board(select(func.count()).select_from(messages).where(*where))
        async with self._reader.connect() as conn:
            opened = [_item(r) for r in (await conn.execute(q_open)).all()]
            closed = [_item(r) for r in (await conn.execute(q_closed)).all()]
            total = int((await conn.execute(q_count)).scalar() or 0)
        return opened, closed, total

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

"""The node's durable store: messages, receipts and rejections (SQLAlchemy Core, async).

Built on :class:`node.storage.database.Database` (SQLite in WAL mode, ``synchronous=FULL``, one
writer at a time, mode 0600) and :class:`node.storage.registers.Registers` (pins, access log,
notices). Times are RFC 3339 UTC strings with milliseconds, which sort as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keys.errors import NotFound
from keys.receipts import SignedReceipt
from keys.states import Machine
from node.storage import schema
from node.storage.auditstore import AuditRecords
from node.storage.consolequeries import ConsoleQueries
from node.storage.database import StoreError
from node.storage.directorystore import DirectoryRecords
from node.storage.officerstore import OfficerRecords
from node.storage.records import Rejection, StoredMessage, StoredReceipt
from node.storage.registers import Registers
from node.storage.schema import messages, receipts
from node.storage.states import (
    INBOX,
    LIVE_OUTGOING,
    OUTBOX,
    InboxState,
    OutboxState,
)

MIN_PREFIX = 6


def _receipt_values(
    signed: SignedReceipt, *, origin: str, posted: bool, now: str
) -> dict[str, Any]:
    r = signed.receipt
    return {
        "sha256": signed.sha256,
        "msg_id": r.msg_id,
        "type": r.type,
        "issuer": r.issuer,
        "issued_at": r.issued_at,
        "reason": r.reason,
        "envelope_sha256": r.envelope_sha256,
        "wire": signed.to_bytes(),
        "origin": origin,
        "posted": posted,
        "attempts": 0,
        "next_attempt_at": None if posted else now,
        "stored_at": now,
    }


class Store(AuditRecords, Registers, DirectoryRecords, OfficerRecords, ConsoleQueries):
    """All reads and writes of the node's database (audit records: node/storage/auditstore.py)."""

    # -- messages -------------------------------------------------------------------

    async def add_message(self, values: dict[str, Any], signature: bytes | None = None) -> None:
        """Store a new message row (an outgoing envelope before it is submitted), and the
        inner signature over its message when given."""
        async with self._write() as conn:
            await conn.execute(insert(messages).values(**values))
            await _add_signature(conn, values["msg_id"], signature)

    async def add_incoming(
        self,
        values: dict[str, Any],
        receipt: SignedReceipt,
        now: str,
        signature: bytes | None = None,
    ) -> bool:
        """Store a received message, the sender's inner signature and the RETRIEVED
        receipt to post, atomically.

        Returns False (and changes nothing) when the message was already stored.
        """
        try:
            async with self._write() as conn:
                await conn.execute(insert(messages).values(**values))
                await _add_signature(conn, values["msg_id"], signature)
                await conn.execute(
                    insert(receipts).values(
                        **_receipt_values(receipt, origin="self", posted=False, now=now)
                    )
                )
        except IntegrityError:
            return False
        return True

    async def message_signature(self, msg_id: str) -> bytes | None:
        """The sender's inner signature over a stored message's bytes, if it was kept."""
        sigs = schema.message_signatures
        rows = await self._rows(select(sigs.c.signature).where(sigs.c.msg_id == msg_id))
        return bytes(rows[0]["signature"]) if rows else None

    async def get_message(self, msg_id: str) -> StoredMessage:
        """A message by id, or by a unique prefix of at least six hex digits.

        Raises:
            NotFound: no such message, or the prefix is ambiguous.
        """
        if len(msg_id) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in msg_id):
            raise NotFound(
                f"{msg_id[:40]!r} is not a message id (32 hex digits, or the first "
                f"{MIN_PREFIX} or more): list messages with 'node inbox'",
                code="message_not_found",
                fault="local",
            )
        if len(msg_id) == 32:
            rows = await self._rows(select(messages).where(messages.c.msg_id == msg_id))
        else:
            rows = await self._rows(
                select(messages).where(messages.c.msg_id.like(f"{msg_id}%")).limit(2)
            )
        if len(rows) != 1:
            what = "matches several messages: give more digits" if rows else "is not in this node"
            raise NotFound(
                f"message {msg_id} {what} (list them with 'node inbox')",
                code="message_not_found",
                fault="local",
            )
        return StoredMessage.from_row(rows[0])

    async def has_message(self, msg_id: str) -> bool:
        rows = await self._rows(select(messages.c.msg_id).where(messages.c.msg_id == msg_id))
        return bool(rows)

    async def list_messages(
        self,
        *,
        direction: str | None = None,
        states: Iterable[str] | None = None,
        priority: str | None = None,
        since: str | None = None,
        limit: int = 1000,
    ) -> list[StoredMessage]:
        """Messages, newest first, filtered."""
        q = select(messages)
        if direction:
            q = q.where(messages.c.direction == direction)
        if states is not None:
            q = q.where(messages.c.state.in_(list(states)))
        if priority:
            q = q.where(messages.c.priority == priority)
        if since:
            q = q.where(messages.c.created_at >= since)
        q = q.order_by(messages.c.created_at.desc()).limit(limit)
        return [StoredMessage.from_row(r) for r in await self._rows(q)]

    async def conversation(self, conversation_id: str) -> list[StoredMessage]:
        """Every message of a conversation, oldest first."""
        q = (
            select(messages)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.created_at)
        )
        return [StoredMessage.from_row(r) for r in await self._rows(q)]

    async def due_outgoing(self, now: str, *, limit: int = 100) -> list[StoredMessage]:
        """Queued envelopes whose next attempt is due (all queued ones if ``now`` is ""),
        emergency first, then urgent, then routine; oldest first within a priority."""
        q = select(messages).where(
            messages.c.direction == "out", messages.c.state == OutboxState.QUEUED
        )
        if now:
            q = q.where(
                or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now)
            )
        rank = case(
            (messages.c.priority == "emergency", 0), (messages.c.priority == "urgent", 1), else_=2
        )
        q = q.order_by(rank, messages.c.created_at).limit(limit)
        return [StoredMessage.from_row(r) for r in await self._rows(q)]

    async def next_due(self) -> str | None:
        """The earliest next attempt among queued envelopes and unposted receipts."""
        async with self._reader.connect() as conn:
            a = (
                await conn.execute(
                    select(func.min(messages.c.next_attempt_at)).where(
                        messages.c.direction == "out", messages.c.state == OutboxState.QUEUED
                    )
                )
            ).scalar()
            b = (
                await conn.execute(
                    select(func.min(receipts.c.next_attempt_at)).where(receipts.c.posted.is_(False))
                )
            ).scalar()
        due = [t for t in (a, b) if t]
        return min(due) if due else None

    async def mark_accepted(self, msg_id: str, accepted: SignedReceipt, now: str) -> None:
        """Record the relay's ACCEPTED receipt and the message's new state."""
        async with self._write() as conn:
            await self._insert_receipt(conn, accepted, origin="relay", now=now)
            await conn.execute(
                update(messages)
                .where(messages.c.msg_id == msg_id, _from(OUTBOX, OutboxState.ACCEPTED))
                .values(state=OutboxState.ACCEPTED, last_error=None, next_attempt_at=None)
            )

    async def mark_accepted_many(
        self, accepted: Iterable[tuple[str, SignedReceipt]], now: str
    ) -> None:
        """Record several ACCEPTED receipts and their messages' new state in one commit."""
        async with self._write() as conn:
            for msg_id, signed in accepted:
                await self._insert_receipt(conn, signed, origin="relay", now=now)
                await conn.execute(
                    update(messages)
                    .where(messages.c.msg_id == msg_id, _from(OUTBOX, OutboxState.ACCEPTED))
                    .values(state=OutboxState.ACCEPTED, last_error=None, next_attempt_at=None)
                )

    async def mark_retry(self, msg_id: str, *, attempts: int, next_at: str, error: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(messages)
                .where(messages.c.msg_id == msg_id, messages.c.state == OutboxState.QUEUED)
                .values(attempts=attempts, next_attempt_at=next_at, last_error=error[:200])
            )

    async def mark_failed(self, msg_id: str, error: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(messages)
                .where(messages.c.msg_id == msg_id, _from(OUTBOX, OutboxState.FAILED))
                .values(state=OutboxState.FAILED, last_error=error[:200], next_attempt_at=None)
            )

    async def requeue_failed(self, msg_ids: Iterable[str] | None = None) -> list[str]:
        """Put sent envelopes that ended ``failed`` back in the queue, as new (attempts 0,
        due now): those of ``msg_ids``, or every one. Returns the ids requeued."""
        # failed -> queued is the one move back (node retry, node flush --failed)
        cond = [messages.c.direction == "out", messages.c.state == OutboxState.FAILED]
        if msg_ids is not None:
            cond.append(messages.c.msg_id.in_(list(msg_ids)))
        async with self._write() as conn:
            rows = await conn.execute(select(messages.c.msg_id).where(*cond))
            ids = sorted(str(r[0]) for r in rows)
            if ids:
                await conn.execute(
                    update(messages)
                    .where(*cond, messages.c.msg_id.in_(ids))
                    .values(state=OutboxState.QUEUED, attempts=0, next_attempt_at=None)
                )
        return ids

    async def mark_responded(self, msg_id: str) -> bool:
        """Mark a received message answered; False if it was not in a state that allows it
        (not yet acknowledged, or already ``responded``)."""
        async with self._write() as conn:
            result = await conn.execute(
                update(messages)
                .where(
                    messages.c.msg_id == msg_id,
                    messages.c.direction == "in",
                    _from(INBOX, InboxState.RESPONDED),
                )
                .values(state=InboxState.RESPONDED)
            )
        return bool(result.rowcount)

    async def set_fields(self, msg_id: str, **values: Any) -> None:
        async with self._write() as conn:
            await conn.execute(update(messages).where(messages.c.msg_id == msg_id).values(**values))

    async def acknowledge(self, msg_id: str, receipt: SignedReceipt, now: str) -> bool:
        """Mark a received message acknowledged and queue the ACKNOWLEDGED receipt.

        Returns False when it was already acknowledged (nothing is queued twice).
        """
        async with self._write() as conn:
            result = await conn.execute(
                update(messages)
                .where(
                    messages.c.msg_id == msg_id,
                    messages.c.direction == "in",
                    messages.c.acknowledged_at.is_(None),
                    _from(INBOX, InboxState.ACKNOWLEDGED),
                )
                .values(acknowledged_at=now, state=InboxState.ACKNOWLEDGED)
            )
            if result.rowcount != 1:
                return False
            await conn.execute(
                insert(receipts).values(
                    **_receipt_values(receipt, origin="self", posted=False, now=now)
                )
            )
        return True

    # -- receipts ---------------------------------------------------------------------

    async def _insert_receipt(
        self, conn: AsyncConnection, signed: SignedReceipt, *, origin: str, now: str
    ) -> bool:
        values = _receipt_values(signed, origin=origin, posted=True, now=now)
        result = await conn.execute(
            sqlite_insert(receipts)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        return bool(result.rowcount)

    async def add_receipt(self, signed: SignedReceipt, *, origin: str, now: str) -> bool:
        """Store a verified receipt about one of our messages; False if already stored."""
        async with self._write() as conn:
            return await self._insert_receipt(conn, signed, origin=origin, now=now)

    async def receipts_for(self, msg_id: str) -> list[StoredReceipt]:
        q = select(receipts).where(receipts.c.msg_id == msg_id).order_by(receipts.c.issued_at)
        return [StoredReceipt.from_row(r) for r in await self._rows(q)]

    async def all_receipts(self, types: Iterable[str] | None = None) -> list[StoredReceipt]:
        q = select(receipts)
        if types is not None:
            q = q.where(receipts.c.type.in_(list(types)))
        return [StoredReceipt.from_row(r) for r in await self._rows(q.order_by(receipts.c.id))]

    async def pending_receipts(self, now: str, *, limit: int = 100) -> list[StoredReceipt]:
        """Receipts we issued that the relay has not taken yet (all if ``now`` is "")."""
        q = select(receipts).where(receipts.c.posted.is_(False))
        if now:
            q = q.where(
                or_(receipts.c.next_attempt_at.is_(None), receipts.c.next_attempt_at <= now)
            )
        q = q.order_by(receipts.c.id).limit(limit)
        return [StoredReceipt.from_row(r) for r in await self._rows(q)]

    async def mark_receipt_posted(self, receipt_id: int) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(receipts)
                .where(receipts.c.id == receipt_id)
                .values(posted=True, next_attempt_at=None)
            )

    async def mark_receipt_retry(self, receipt_id: int, *, attempts: int, next_at: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(receipts)
                .where(receipts.c.id == receipt_id)
                .values(attempts=attempts, next_attempt_at=next_at)
            )

    # -- rejections -------------------------------------------------------------------

    async def add_rejection(
        self, values: dict[str, Any], receipt: SignedReceipt | None, now: str
    ) -> bool:
        """Record an envelope we could not open (and the REJECTED receipt to post).

        Returns False when that envelope was already rejected.
        """
        try:
            async with self._write() as conn:
                await conn.execute(insert(schema.rejections).values(**values))
                if receipt is not None:
                    await conn.execute(
                        insert(receipts).values(
                            **_receipt_values(receipt, origin="self", posted=False, now=now)
                        )
                    )
        except IntegrityError:
            return False
        return True

    async def was_rejected(self, envelope_sha256: str) -> bool:
        t = schema.rejections
        rows = await self._rows(select(t.c.id).where(t.c.envelope_sha256 == envelope_sha256))
        return bool(rows)

    async def rejections(self, since: str | None = None) -> list[Rejection]:
        t = schema.rejections
        q = select(t).order_by(t.c.id)
        if since:
            q = q.where(t.c.received_at >= since)
        return [Rejection.from_row(r) for r in await self._rows(q)]

    async def counts(self) -> dict[str, int]:
        """Row counts by direction and state (for the daemon's start line and tests)."""
        q = select(messages.c.direction, messages.c.state, func.count()).group_by(
            messages.c.direction, messages.c.state
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(q)).all()
        return {f"{d}.{s}": int(n) for d, s, n in rows}  # type: ignore[call-overload]

    async def unacknowledged_outgoing(self, priorities: Iterable[str]) -> list[StoredMessage]:
        """Sent messages of these priorities with no ACKNOWLEDGED and no warning yet."""
        acked = select(receipts.c.msg_id).where(receipts.c.type == "ACKNOWLEDGED")
        q = select(messages).where(
            and_(
                messages.c.direction == "out",
                messages.c.state.in_(LIVE_OUTGOING),
                messages.c.priority.in_(list(priorities)),
                messages.c.ack_warned_at.is_(None),
                messages.c.msg_id.not_in(acked),
            )
        )
        return [StoredMessage.from_row(r) for r in await self._rows(q)]

    async def unacknowledged_incoming(self, priorities: Iterable[str]) -> list[StoredMessage]:
        """Received messages of these priorities that nobody has acknowledged yet."""
        q = select(messages).where(
            and_(
                messages.c.direction == "in",
                messages.c.priority.in_(list(priorities)),
                messages.c.acknowledged_at.is_(None),
            )
        )
        return [StoredMessage.from_row(r) for r in await self._rows(q)]

    async def preservation_messages(self) -> list[StoredMessage]:
        """Every message of every conversation that holds a preservation request."""
        convs = select(messages.c.conversation_id).where(messages.c.kind == "preservation_request")
        q = select(messages).where(messages.c.conversation_id.in_(convs))
        return [StoredMessage.from_row(r) for r in await self._rows(q)]

    async def replies_to(self, msg_id: str) -> list[StoredMessage]:
        q = select(messages).where(messages.c.in_reply_to == msg_id).order_by(messages.c.created_at)
        return [StoredMessage.from_row(r) for r in await self._rows(q)]


def _from(machine: Machine[Any], target: StrEnum) -> ColumnElement[bool]:
    """The ``WHERE`` guard of a move to ``target``: the row is in a state the machine's
    table lets reach it (:meth:`keys.states.Machine.sources`). A row in any other state is
    left alone and the update reports no row.

    Raises:
        keys.states.IllegalTransition: nothing may move to ``target``.
    """
    return messages.c.state.in_([s.value for s in machine.sources(target)])


__all__ = ["Store", "StoreError"]


async def _add_signature(conn: AsyncConnection, msg_id: str, signature: bytes | None) -> None:
    if signature is not None:
        await conn.execute(
            insert(schema.message_signatures).values(msg_id=msg_id, signature=signature)
        )

"""Storage: every SQL statement the relay runs (SQLAlchemy Core, SQLite and PostgreSQL).

Reads use the engine directly; writes take the :class:`relay.storage.writer.Tx` of the batch they
run in. Nothing here decides anything: :mod:`relay.core.service` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.storage.schema import envelopes, events, from_micros, inbox, receipts
from relay.storage.states import ENVELOPE, EnvelopeState, envelope_transition
from relay.storage.writer import Tx


@dataclass(frozen=True)
class StoredEnvelope:
    """An envelope's metadata as stored (no content)."""

    msg_id: str
    sender: str
    recipient: str
    priority: str
    state: str
    envelope_sha256: str
    header: bytes
    accepted_receipt: bytes
    expires_at: datetime
    accepted_at: datetime
    overdue_at: datetime | None


@dataclass(frozen=True)
class InboxItem:
    """One undownloaded item: an envelope's wire bytes, or a receipt's.

    For an envelope, also what it must match (:func:`relay.core.integrity.check_stored`): the
    stored digest and the relay's ``ACCEPTED`` receipt.
    """

    id: int
    kind: str
    msg_id: str
    data: bytes
    envelope_sha256: str | None = None
    accepted_receipt: bytes | None = None


# Only a pending envelope may still change (relay.storage.states).
_IS_PENDING = envelopes.c.state == EnvelopeState.PENDING

_META = (
    envelopes.c.msg_id,
    envelopes.c.sender,
    envelopes.c.recipient,
    envelopes.c.priority,
    envelopes.c.state,
    envelopes.c.envelope_sha256,
    envelopes.c.header,
    envelopes.c.accepted_receipt,
    envelopes.c.expires_at,
    envelopes.c.accepted_at,
    envelopes.c.overdue_at,
)


# Envelopes waiting per recipient; when the oldest undelivered one was accepted.
QUEUE_DEPTHS = (
    select(inbox.c.party, func.count()).where(inbox.c.kind == "envelope").group_by(inbox.c.party)
)
OLDEST_PENDING = select(func.min(envelopes.c.accepted_at)).where(_IS_PENDING)


def _meta(row: Any) -> StoredEnvelope:
    return StoredEnvelope(*row)


class Store:
    """The relay's queries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # Reads -----------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    async def envelope(self, msg_id: str) -> StoredEnvelope | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*_META).where(envelopes.c.msg_id == msg_id))).first()
        return None if row is None else _meta(row)

    async def envelope_bytes(self, msg_id: str) -> bytes | None:
        """The stored wire bytes of ``msg_id`` (None if unknown or purged)."""
        query = select(envelopes.c.envelope).where(envelopes.c.msg_id == msg_id)
        async with self.engine.connect() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else bytes(value)

    async def receipts_for(self, msg_id: str) -> list[bytes]:
        """Every stored receipt's wire bytes about ``msg_id``, in the order stored."""
        query = (
            select(receipts.c.receipt).where(receipts.c.msg_id == msg_id).order_by(receipts.c.id)
        )
        async with self.engine.connect() as conn:
            return [bytes(r[0]) for r in await conn.execute(query)]

    async def inbox_items(self, party: str, limit: int, max_bytes: int) -> list[InboxItem]:
        """The oldest ``limit`` items of ``party``'s inbox, cut after ``max_bytes``."""
        query = (
            select(
                inbox.c.id,
                inbox.c.kind,
                inbox.c.msg_id,
                envelopes.c.envelope,
                receipts.c.receipt,
                envelopes.c.envelope_sha256,
                envelopes.c.accepted_receipt,
            )
            .select_from(
                inbox.outerjoin(
                    envelopes,
                    and_(inbox.c.kind == "envelope", envelopes.c.msg_id == inbox.c.msg_id),
                ).outerjoin(receipts, receipts.c.receipt_sha256 == inbox.c.receipt_sha256)
            )
            .where(inbox.c.party == party)
            .order_by(inbox.c.id)
            .limit(limit)
        )
        items: list[InboxItem] = []
        total = 0
        async with self.engine.connect() as conn:
            rows: Any = await conn.execute(query)
            for item_id, kind, msg_id, env, rec, sha, accepted in rows:
                data = env if kind == "envelope" else rec
                if data is None:
                    continue
                if items and total + len(data) > max_bytes:
                    break
                total += len(data)
                extra = (sha, bytes(accepted)) if kind == "envelope" else (None, None)
                items.append(InboxItem(int(item_id), kind, msg_id, bytes(data), *extra))
        return items

    async def next_deadline(self, retention: timedelta) -> datetime | None:
        """The earliest OVERDUE, expiry or purge time still ahead of the deadline task."""
        async with self.engine.connect() as conn:
            overdue = (await conn.execute(select(func.min(envelopes.c.overdue_at)))).scalar()
            expires = (
                await conn.execute(select(func.min(envelopes.c.expires_at)).where(_IS_PENDING))
            ).scalar()
            final = (
                await conn.execute(
                    select(func.min(envelopes.c.final_at)).where(envelopes.c.envelope.is_not(None))
                )
            ).scalar()
        # min() bypasses the column type on some drivers: normalise to datetimes.
        times = [as_time(overdue), as_time(expires)]
        purge = as_time(final)
        if purge is not None:
            times.append(purge + retention)
        present = [t for t in times if t is not None]
        return min(present) if present else None

    async def queue_depths(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows: Any = await conn.execute(QUEUE_DEPTHS)
            return {str(party): int(n) for party, n in rows}

    async def oldest_pending(self) -> datetime | None:
        async with self.engine.connect() as conn:
            return as_time((await conn.execute(OLDEST_PENDING)).scalar())

    # Writes (inside a writer transaction) -------------------------------------------------

    async def last_directory_version(self, tx: Tx) -> str | None:
        query = (
            select(events.c.directory_version)
            .where(events.c.type == "directory_installed")
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        version = (await tx.execute(query)).scalar()
        return None if version is None else str(version)

    async def find_envelope(self, tx: Tx, msg_id: str) -> StoredEnvelope | None:
        row = (await tx.execute(select(*_META).where(envelopes.c.msg_id == msg_id))).first()
        return None if row is None else _meta(row)

    def insert_envelope(self, tx: Tx, **values: object) -> None:
        tx.add(envelopes, {"state": ENVELOPE.initial, "final_at": None, **values})

    def add_inbox(
        self, tx: Tx, party: str, kind: str, msg_id: str, now: datetime, receipt_sha256: str | None
    ) -> None:
        tx.add(
            inbox,
            {
                "party": party,
                "kind": kind,
                "msg_id": msg_id,
                "receipt_sha256": receipt_sha256,
                "added_at": now,
            },
        )
        tx.wake(party)

    def insert_receipt(
        self,
        tx: Tx,
        *,
        msg_id: str,
        type: str,
        issuer: str,
        issued_at: datetime,
        sha256: str,
        wire: bytes,
    ) -> None:
        tx.add(
            receipts,
            {
                "msg_id": msg_id,
                "type": type,
                "issuer": issuer,
                "issued_at": issued_at,
                "receipt_sha256": sha256,
                "receipt": wire,
            },
        )

    async def find_receipt(
        self, tx: Tx, msg_id: str, type: str, issuer: str
    ) -> tuple[str, bytes] | None:
        """(sha256, wire) of the stored receipt of this type by this issuer, if any."""
        query = select(receipts.c.receipt_sha256, receipts.c.receipt).where(
            receipts.c.msg_id == msg_id, receipts.c.type == type, receipts.c.issuer == issuer
        )
        row: Any = (await tx.execute(query)).first()
        return None if row is None else (str(row[0]), bytes(row[1]))

    async def take_inbox(self, tx: Tx, party: str, ids: Sequence[int]) -> list[tuple[str, str]]:
        """Delete ``party``'s items among ``ids``; return their (kind, msg_id)."""
        result: Any = await tx.execute(
            delete(inbox)
            .where(inbox.c.party == party, inbox.c.id.in_(list(ids)))
            .returning(inbox.c.kind, inbox.c.msg_id)
        )
        return [(str(kind), str(msg_id)) for kind, msg_id in result]

    async def finish(self, tx: Tx, msg_id: str, state: EnvelopeState, now: datetime) -> bool:
        """Move a pending envelope to the final ``state``; False if it was no longer pending
        (a race lost to another change, e.g. an acknowledgement against expiry).

        Raises:
            keys.states.IllegalTransition: ``state`` cannot follow ``pending``.
        """
        target = envelope_transition(EnvelopeState.PENDING, state)
        result: Any = await tx.execute(
            update(envelopes)
            .where(envelopes.c.msg_id == msg_id, _IS_PENDING)
            .values(state=target, final_at=now, overdue_at=None)
        )
        return bool(result.rowcount)

    async def clear_overdue(self, tx: Tx, msg_id: str) -> None:
        await tx.execute(
            update(envelopes).where(envelopes.c.msg_id == msg_id).values(overdue_at=None)
        )

    async def remove_envelope_items(self, tx: Tx, msg_id: str) -> None:
        await tx.execute(delete(inbox).where(inbox.c.msg_id == msg_id, inbox.c.kind == "envelope"))

    async def due_overdue(self, tx: Tx, now: datetime, limit: int) -> list[StoredEnvelope]:
        query = (
            select(*_META)
            .where(envelopes.c.overdue_at <= now, _IS_PENDING)
            .order_by(envelopes.c.overdue_at)
            .limit(limit)
        )
        return [_meta(r) for r in await tx.execute(query)]

    async def due_expired(self, tx: Tx, now: datetime, limit: int) -> list[StoredEnvelope]:
        query = (
            select(*_META)
            .where(_IS_PENDING, envelopes.c.expires_at <= now)
            .order_by(envelopes.c.expires_at)
            .limit(limit)
        )
        return [_meta(r) for r in await tx.execute(query)]

    async def due_purge(self, tx: Tx, before: datetime, limit: int) -> list[StoredEnvelope]:
        query = (
            select(*_META)
            .where(envelopes.c.envelope.is_not(None), envelopes.c.final_at <= before)
            .order_by(envelopes.c.final_at)
            .limit(limit)
        )
        return [_meta(r) for r in await tx.execute(query)]

    async def purge(self, tx: Tx, msg_id: str) -> None:
        await tx.execute(
            update(envelopes).where(envelopes.c.msg_id == msg_id).values(envelope=None)
        )


def as_time(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return from_micros(int(value))  # type: ignore[call-overload]

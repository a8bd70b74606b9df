"""The audit hook: every event is appended here, and only here.

:func:`append_event` writes one row of metadata (never content) to the append-only
``events`` table in the caller's transaction, so the event commits or rolls back with the
state change it records. Its ``seq`` is the event's 0-based leaf index in the audit log:
allocation is gap-free and serialised because the writer takes :func:`lock` at the start of
every write transaction (a transaction-scoped advisory lock on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` write lock otherwise). The Merkle appender of ``keys/merkle.py`` is
meant to be called from :func:`append_event`, next to the allocation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from relay.schema import events

if TYPE_CHECKING:
    from relay.writer import Tx

# Key of the PostgreSQL advisory lock that serialises audit appends ("PoCNetAu").
ADVISORY_LOCK_KEY = 0x506F434E65744175

EVENT_TYPES = frozenset(
    {
        "accepted",
        "delivered",
        "retrieved",
        "acknowledged",
        "rejected",
        "overdue",
        "expired",
        "directory_installed",
        "retention_purge",
    }
)


@dataclass(frozen=True)
class Event:
    """The metadata of one audit event."""

    type: str
    time: datetime
    msg_id: str | None = None
    sender: str | None = None
    recipient: str | None = None
    envelope_sha256: str | None = None
    receipt_sha256: str | None = None
    directory_version: str | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown audit event type {self.type!r}")


async def lock(tx: Tx) -> None:
    """Serialise this transaction's appends with every other writer's (PostgreSQL)."""
    if tx.postgres:
        await tx.conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))


async def append_event(tx: Tx, event: Event) -> int:
    """Append ``event`` in ``tx``; return its sequence number (the leaf index)."""
    if tx.next_seq is None:
        last = (await tx.execute(select(func.max(events.c.seq)))).scalar()
        tx.next_seq = 0 if last is None else int(last) + 1
    seq = tx.next_seq
    tx.add(events, {"seq": seq, **asdict(event)})
    tx.next_seq = seq + 1
    return seq

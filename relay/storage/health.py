"""What an operator asks of the relay's database: one read of its state for ``/metrics``
and ``relay status``.

:func:`snapshot` reads, on one connection, the schema revision, the envelopes waiting per
recipient and those of them already OVERDUE, the oldest undelivered one, the last signed
checkpoint and the directory in force. Everything comes from the shared database, so every
relay process on one PostgreSQL reports the same figures. Reads only; no decision.
``/metrics`` is public, so :class:`Snapshots` reads at most once per ``every`` seconds
and serves the same answer in between: a flood of scrapes is not a flood of queries.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.audit.checkpoints import latest as latest_checkpoint
from relay.storage.database import current_revision
from relay.storage.schema import directories, envelopes, receipts
from relay.storage.states import EnvelopeState
from relay.storage.store import OLDEST_PENDING, QUEUE_DEPTHS, as_time

_OVERDUE = (
    select(envelopes.c.recipient, func.count())
    .where(
        envelopes.c.state == EnvelopeState.PENDING,
        exists().where(receipts.c.msg_id == envelopes.c.msg_id, receipts.c.type == "OVERDUE"),
    )
    .group_by(envelopes.c.recipient)
)
_DIRECTORY = (
    select(directories.c.version, directories.c.expires)
    .order_by(directories.c.version.desc())
    .limit(1)
)


@dataclass(frozen=True)
class Snapshot:
    """The database's answer, with how long it took to give it.

    Attributes:
        schema: the migration the database is at (None: empty).
        pending: envelopes waiting in each recipient's inbox.
        overdue: of those, the ones whose OVERDUE receipt was issued, per recipient.
        oldest_pending: when the oldest undelivered envelope was accepted.
        checkpoint_size, checkpoint_at: the last signed checkpoint (None: none yet).
        directory_version, directory_expires: the signed directory in force (None: the
            members folder, development).
        seconds: how long the reads took (the database's health, roughly).
    """

    schema: str | None
    pending: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    oldest_pending: datetime | None = None
    checkpoint_size: int | None = None
    checkpoint_at: datetime | None = None
    directory_version: int | None = None
    directory_expires: datetime | None = None
    seconds: float = 0.0


async def snapshot(engine: AsyncEngine) -> Snapshot:
    """Read the relay's state from its database (raises whatever the driver raises)."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        schema = await current_revision(conn)
        rows: Any = await conn.execute(QUEUE_DEPTHS)
        pending = {str(party): int(n) for party, n in rows}
        rows = await conn.execute(_OVERDUE)
        overdue = {str(party): int(n) for party, n in rows}
        oldest = as_time((await conn.execute(OLDEST_PENDING)).scalar())
        checkpoint = await latest_checkpoint(conn)
        directory = (await conn.execute(_DIRECTORY)).first()
    return Snapshot(
        schema=schema,
        pending=pending,
        overdue=overdue,
        oldest_pending=oldest,
        checkpoint_size=None if checkpoint is None else checkpoint.tree_size,
        checkpoint_at=None if checkpoint is None else checkpoint.signed_at,
        directory_version=None if directory is None else int(directory[0]),
        directory_expires=None if directory is None else directory[1],
        seconds=time.perf_counter() - started,
    )


class Snapshots:
    """The last :func:`snapshot`, read again at most once per ``every`` seconds."""

    def __init__(self, engine: AsyncEngine, every: float) -> None:
        self._engine = engine
        self._every = every
        self._last: tuple[float, Snapshot] | None = None
        self._lock = asyncio.Lock()

    async def read(self, monotonic: float) -> Snapshot:
        """The snapshot of the last ``every`` seconds, or a new one (concurrent callers wait
        for one read; a failed read is not kept)."""
        async with self._lock:
            if self._last is not None and monotonic - self._last[0] < self._every:
                return self._last[1]
            state = await snapshot(self._engine)
            self._last = (monotonic, state)
            return state

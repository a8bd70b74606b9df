"""Signed checkpoints of the audit log: when the relay signs one, and where it keeps them.

A checkpoint (:mod:`keys.auditlog.checkpoint`, a C2SP signed note) says "the log ``origin`` has
``size`` entries with root ``root``, signed at ``time``". The relay signs one inside a
writer transaction (:func:`sign_in`): under the audit lock, so the size and root are those
of the committed tree plus this transaction's own appends, and the stored row commits with
them. Every signed checkpoint is kept (table ``checkpoints``) so ``relay audit verify`` can
check them all against the tree.

When: :class:`CheckpointTask` wakes when a commit grew the log and signs at most once per
``checkpoint_interval_seconds``; it also re-signs an unchanged log after
``checkpoint_refresh_seconds`` so nodes can tell a live relay from a frozen one. Callers
that need a checkpoint covering a given entry sign one on demand
(:meth:`relay.audit.proofs.AuditLog.checkpoint`). Checkpoint times never go backwards, even
across relay processes with different clocks: a node would read that as a rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.checkpoint import Checkpoint
from keys.identities import SigningKey
from relay.audit import append as audit
from relay.monitoring.logging import get_logger
from relay.storage.schema import checkpoints
from relay.storage.writer import Tx

log = get_logger("relay.audit.checkpoints")
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: the note, and what it says (for queries)."""

    id: int
    tree_size: int
    root: bytes
    signed_at: datetime
    note: bytes


@dataclass(frozen=True)
class Signer:
    """What the relay signs checkpoints with: its key, under the log's origin."""

    key: SigningKey
    origin: str


_COLUMNS = (
    checkpoints.c.id,
    checkpoints.c.tree_size,
    checkpoints.c.root,
    checkpoints.c.signed_at,
    checkpoints.c.note,
)


def _stored(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), int(row[1]), bytes(row[2]), row[3], bytes(row[4]))


async def latest(conn: Any) -> StoredCheckpoint | None:
    """The last checkpoint signed (``conn``: an ``AsyncConnection`` or a ``Tx``)."""
    query = select(*_COLUMNS).order_by(checkpoints.c.id.desc()).limit(1)
    row = (await conn.execute(query)).first()
    return None if row is None else _stored(row)


def needs_new(last: StoredCheckpoint | None, size: int, now: datetime, refresh: timedelta) -> bool:
    """Whether a checkpoint of a log of ``size`` entries must be signed at ``now``."""
    return last is None or last.tree_size != size or now - last.signed_at >= refresh


async def sign_in(tx: Tx, signer: Signer, now: datetime, *, refresh: timedelta) -> StoredCheckpoint:
    """Sign and store a checkpoint of the tree in ``tx``, unless the last one will do.

    The last one does when it is of the current size and younger than ``refresh``.

    Raises:
        AuditStoreDamaged: the stored tree is incomplete, or smaller than a checkpoint
            already signed.
    """
    size, root = await audit.tree_head(tx)
    last = await latest(tx)
    if last is not None and last.tree_size > size:
        log.error("audit.checkpoint_beyond_log", tree_size=size, checkpoint_size=last.tree_size)
        raise audit.AuditStoreDamaged(
            f"a checkpoint of {last.tree_size} entries was signed, the log has {size}: "
            "run 'relay audit verify'"
        )
    if last is not None and not needs_new(last, size, now, refresh):
        return last
    moment = now if last is None else max(now, last.signed_at)
    head = Checkpoint.at(moment, signer.origin, size, root)
    note = signed_checkpoint.sign(head, signer.key)
    row = {"tree_size": size, "root": root, "signed_at": head.time, "note": note}
    result = await tx.execute(checkpoints.insert().values(**row).returning(checkpoints.c.id))
    stored = StoredCheckpoint(int(result.scalar_one()), size, root, head.time, note)
    tx.after_commit.append(lambda: log.info("audit.checkpoint", tree_size=size))
    return stored


SignNow = Callable[[datetime], Awaitable[StoredCheckpoint]]


class CheckpointTask:
    """Signs a checkpoint after commits that grew the log, at most once per interval.

    :meth:`grown` is the writer's ``on_append`` hook. Between wake-ups it sleeps at most
    ``refresh`` seconds, then signs again if the last checkpoint has aged (any relay
    process may have signed one meanwhile: :func:`needs_new` decides under the lock).
    """

    def __init__(
        self,
        sign: SignNow,
        clock: Callable[[], datetime],
        *,
        interval: float,
        refresh: float,
    ) -> None:
        self._sign = sign
        self._clock = clock
        self._interval = interval
        self._refresh = refresh
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.signed_size = -1
        self.rounds = 0

    def grown(self, tree_size: int) -> None:
        """A commit made the log ``tree_size`` entries long."""
        if tree_size != self.signed_size:
            self._wake.set()

    def wake(self) -> None:
        """Look at the log now: another process (``relay directory install``) may have
        grown it."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay-checkpoints")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        structlog.contextvars.bind_contextvars(request_id="task:checkpoints")
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                self._wake.clear()
                stored = await self._sign(self._clock())
                self.signed_size = stored.tree_size
                self.rounds += 1
                # Rate limit, then wait for growth (or for the checkpoint to age).
                await asyncio.sleep(max(0.0, started + self._interval - loop.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._refresh)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep the task alive; the database may come back
                log.error("audit.checkpoint_failed", error=type(e).__name__, retry_in=RETRY_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS)

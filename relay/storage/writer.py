"""The single writer: every change to the database goes through here, with group commit.

Callers hand :meth:`Writer.run` an *operation*: an async function of a :class:`Tx` that
checks what it needs, then writes. One task takes every operation waiting in the queue,
runs them in one transaction and commits once, then resolves each caller's future: so
no caller hears "done" (and no ``ACCEPTED`` receipt leaves) before its rows are durable,
and concurrent submits share one commit (one fsync) instead of paying one each.

Rules for an operation: raise a :class:`keys.errors.PocnetError` only *before* writing
(checks first), and let the writer commit. If the batch fails for any other reason (a
bug, a lost connection, a constraint), the whole transaction rolls back and each operation
is run again with ``tx.careful`` set (operations then re-check what their fast path
assumed), first as a batch, then alone, so one bad operation fails only its own caller.

Every transaction first takes the audit lock (:func:`relay.audit.append.lock`): on PostgreSQL
that serialises writers across relay processes, so checks made inside an operation stay
true until its commit.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from keys.errors import PocnetError
from relay.audit import append as audit
from relay.monitoring.logging import get_logger
from relay.storage.database import WRITE_OPTION, Unavailable, is_postgres

T = TypeVar("T")
NOTIFY_CHANNEL = "pocnet_relay"
log = get_logger("relay.storage.writer")


@dataclass
class Tx:
    """One write transaction, shared by the operations of a batch.

    Inserts are buffered (:meth:`add`) and sent as one multi-row statement per table when
    the batch ends or before any other statement (:meth:`execute`), so a batch of submits
    costs a handful of round trips, not several per envelope. ``careful`` is set when a
    batch is re-run one operation at a time after a failure: operations then re-check
    what the batch's fast path took from memory (see :meth:`RelayService.submit`).
    """

    conn: AsyncConnection
    postgres: bool
    careful: bool = False
    next_seq: int | None = None
    notify: set[str] = field(default_factory=set)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, Any] = field(default_factory=dict)  # the writer's, across transactions
    _pending: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)

    def wake(self, party: str) -> None:
        """Wake ``party``'s long-polls (here and, on PostgreSQL, in every relay) on commit."""
        self.notify.add(party)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """Insert ``row`` into ``table`` with this transaction (buffered)."""
        self._pending.setdefault(table, []).append(row)

    async def flush(self) -> None:
        """Send the buffered inserts."""
        while self._pending:
            table, rows = next(iter(self._pending.items()))
            del self._pending[table]
            await self.conn.execute(table.insert(), rows)

    async def execute(self, statement: Executable) -> Any:
        """Run a statement after the buffered inserts."""
        await self.flush()
        return await self.conn.execute(statement)


Operation = Callable[[Tx], Awaitable[T]]


@dataclass
class _Item(Generic[T]):
    op: Operation[T]
    future: asyncio.Future[T]
    context: contextvars.Context  # the caller's: its log lines keep its request id


class Writer:
    """Runs write operations one batch at a time in a background task."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        on_commit: Callable[[set[str]], None] = lambda _parties: None,
        on_batch: Callable[[int], None] = lambda _size: None,
        on_append: Callable[[int], None] = lambda _tree_size: None,
    ) -> None:
        self._engine = engine
        self._postgres = is_postgres(engine)
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._on_batch = on_batch
        self._on_append = on_append
        self._queue: asyncio.Queue[_Item[Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.operations = 0
        self._kept: dict[str, Any] = {}  # what survives a commit (the audit tree's border)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="relay-writer")

    async def close(self) -> None:
        """Refuse new work, finish what is queued, stop."""
        self._closing = True
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def run(self, op: Operation[T]) -> T:
        """Run ``op`` in the next batch; return its result once committed.

        Raises:
            PocnetError: what ``op`` raised, or :class:`Unavailable` when the database failed
                or the relay is shutting down.
        """
        if self._closing or self._task is None:
            raise Unavailable("the relay is shutting down")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(op, future, contextvars.copy_context()))
        return await asyncio.shield(future)

    async def _loop(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch: list[_Item[Any]] = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                await self._run_batch(batch)
            except Exception as e:  # never let the writer die: its callers would wait forever
                log.error("writer.loop_error", error=type(e).__name__)
                for item in batch:
                    self._fail(item, e)

    async def _run_batch(self, batch: list[_Item[Any]], attempt: int = 0) -> None:
        """Attempt 0: fast; 1: the whole batch again, careful; 2: one by one, careful."""
        try:
            outcomes, tx = await self._transaction(batch, careful=attempt > 0)
        except Exception as e:
            if attempt == 2 or (attempt == 1 and len(batch) == 1):
                self._fail(batch[0], e)
                return
            if attempt == 0:
                log.info("writer.batch_retry", size=len(batch), error=type(e).__name__)
                await self._run_batch(batch, 1)
                return
            log.warning("writer.batch_failed", size=len(batch), error=type(e).__name__)
            for item in batch:
                await self._run_batch([item], 2)
            return
        self.batches += 1
        self.operations += len(batch)
        self._on_batch(len(batch))
        self._finish(tx)
        for item, (ok, value) in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    async def _transaction(
        self, batch: list[_Item[Any]], careful: bool
    ) -> tuple[list[tuple[bool, Any]], Tx]:
        outcomes: list[tuple[bool, Any]] = []
        async with self._engine.connect() as raw:
            conn = await raw.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                tx = Tx(conn, self._postgres, careful, kept=self._kept)
                await audit.lock(tx)
                for item in batch:
                    first = len(tx.after_commit)
                    try:
                        outcomes.append((True, await item.op(tx)))
                    except PocnetError as e:
                        outcomes.append((False, e))
                    tx.after_commit[first:] = [
                        partial(item.context.run, cb) for cb in tx.after_commit[first:]
                    ]
                await tx.flush()
                if self._postgres:
                    for party in sorted(tx.notify):
                        await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, "inbox:" + party)))
                    grown = audit.appended_size(tx)
                    if grown is not None:  # for 'relay audit tail --follow'
                        await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, f"audit:{grown}")))
        return outcomes, tx

    def _finish(self, tx: Tx) -> None:
        if tx.notify:
            self._on_commit(tx.notify)
        grown = audit.appended_size(tx)
        if grown is not None:
            self._on_append(grown)
        for callback in tx.after_commit:
            try:
                callback()
            except Exception as e:  # an after-commit hook must not undo a commit
                log.error("writer.after_commit_failed", error=type(e).__name__)

    def _fail(self, item: _Item[Any], error: BaseException) -> None:
        if item.future.done():
            return
        if isinstance(error, PocnetError):
            item.future.set_exception(error)
            return
        # A driver's own message names the constraint or the failure, never the parameters.
        detail = str(error.orig)[:200] if isinstance(error, DBAPIError) else ""
        log.error("writer.operation_failed", error=type(error).__name__, detail=detail)
        wrapped = Unavailable("the relay could not store this; try again")
        wrapped.__cause__ = error
        item.future.set_exception(wrapped)

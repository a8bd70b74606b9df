"""Wake-ups: a waiting long-poll learns at once that its inbox changed.

:class:`Notifier` keeps one :class:`asyncio.Event` per party that someone waits for. A
waiter takes the party's event *before* it reads the inbox, so a change committed between
the read and the wait is not missed; :meth:`Notifier.notify` sets the event and forgets it.
Nothing polls. On PostgreSQL, :class:`PgListener` LISTENs on the writer's channel so that
a commit by any relay process wakes the waiters of every process, and
:class:`DeadlinePublisher` announces each new envelope's first deadline on the same channel
so that every process's deadline task re-reads the next deadline at once (not at its own
next deadline, up to an hour later).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.monitoring.logging import get_logger
from relay.storage.writer import NOTIFY_CHANNEL

log = get_logger("relay.storage.notify")
DEADLINE_PREFIX = "deadline:"
# A deadline payload is an ISO 8601 time; anything longer is not one of ours.
MAX_DEADLINE_PAYLOAD = 64


def deadline_payload(when: datetime) -> str:
    """The NOTIFY payload announcing a new deadline at ``when``."""
    return DEADLINE_PREFIX + when.isoformat()


def parse_deadline(text: str) -> datetime | None:
    """The deadline a ``deadline:`` payload's rest names, or None if it is not a time."""
    if len(text) > MAX_DEADLINE_PAYLOAD:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


class Notifier:
    """Per-party wake-up events, plus one for the deadline task."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closed = False

    def event(self, party: str) -> asyncio.Event:
        """The event the next change to ``party``'s inbox will set."""
        ev = self._events.get(party)
        if ev is None:
            ev = self._events[party] = asyncio.Event()
            if self.closed:
                ev.set()
        return ev

    def notify(self, parties: Iterable[str]) -> None:
        for party in parties:
            ev = self._events.pop(party, None)
            if ev is not None:
                ev.set()

    def notify_all(self) -> None:
        self.notify(list(self._events))

    def close(self) -> None:
        """Release every waiter now and from now on (shutdown)."""
        self.closed = True
        self.notify_all()


class PgListener:
    """LISTEN on the relay channel; call ``on_inbox(party)``, ``on_deadline(when)`` or
    ``on_directory()`` per message, and ``on_reconnect()`` once listening (again)."""

    def __init__(
        self,
        dsn: str,
        *,
        on_inbox: Callable[[str], None],
        on_reconnect: Callable[[], None],
        on_directory: Callable[[], None] = lambda: None,
        on_deadline: Callable[[datetime], None] = lambda _when: None,
        max_backoff: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._on_inbox = on_inbox
        self._on_reconnect = on_reconnect
        self._on_directory = on_directory
        self._on_deadline = on_deadline
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay-pg-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _message(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        kind, _, rest = payload.partition(":")
        if kind == "inbox" and rest:
            self._on_inbox(rest)
        elif kind + ":" == DEADLINE_PREFIX:  # another process stored a new deadline
            when = parse_deadline(rest)
            if when is not None:
                self._on_deadline(when)
        elif kind == "directory":  # 'relay directory install' committed a new version
            self._on_directory()

    async def _run(self) -> None:
        import asyncpg

        backoff = 0.5
        while True:
            lost: asyncio.Event = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as e:
                log.warning("pg.listener_connect_failed", error=type(e).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(NOTIFY_CHANNEL, self._message)
                backoff = 0.5
                self.ready.set()
                # Anything committed while we were not listening: let every waiter re-read.
                self._on_reconnect()
                await lost.wait()
                log.warning("pg.listener_lost")
                self.ready.clear()
            finally:
                if not conn.is_closed():
                    await conn.close(timeout=2)


class DeadlinePublisher:
    """Announce new deadlines to every relay process (PostgreSQL ``NOTIFY``).

    Called after the commit that stored the deadline, so a process that hears it reads the
    deadline back. Sending is best effort: if it fails, the other processes still find the
    deadline at their next own wake-up (at most :data:`relay.tasks.deadlines.MAX_SLEEP_SECONDS`).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, when: datetime) -> None:
        """Send ``deadline:<when>`` in the background."""
        task = asyncio.create_task(self._send(when), name="relay-deadline-notify")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, when: datetime) -> None:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, deadline_payload(when))))
                await conn.commit()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the other processes still wake at their own deadline
            log.warning("pg.deadline_notify_failed", error=type(e).__name__)

    async def close(self) -> None:
        """Let announcements in flight finish (they are short), then stop."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

"""Wake-ups: a waiting long-poll learns at once that its inbox changed.

:class:`Notifier` keeps one :class:`asyncio.Event` per party that someone waits for. A
waiter takes the party's event *before* it reads the inbox, so a change committed between
the read and the wait is not missed; :meth:`Notifier.notify` sets the event and forgets it.
Nothing polls. On PostgreSQL, :class:`PgListener` LISTENs on the writer's channel so that
a commit by any relay process wakes the waiters of every process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from relay.logging import get_logger
from relay.writer import NOTIFY_CHANNEL

log = get_logger("relay.notify")


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
    """LISTEN on the relay channel; call ``on_inbox(party)`` / ``on_other()`` per message."""

    def __init__(
        self,
        dsn: str,
        *,
        on_inbox: Callable[[str], None],
        on_reconnect: Callable[[], None],
        on_directory: Callable[[], None] = lambda: None,
        max_backoff: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._on_inbox = on_inbox
        self._on_reconnect = on_reconnect
        self._on_directory = on_directory
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

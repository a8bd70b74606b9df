"""Wake-ups: a waiting long-poll learns at once that its inbox changed.

:class:`Notifier` keeps one :class:`asyncio.Event` per party that someone waits for. A
waiter takes the party's event *before* it reads the inbox, so a change committed between
the read and the wait is not missed; :meth:`Notifier.notify` sets the event and forgets it.
Nothing polls. On PostgreSQL, :func:`listening` LISTENs on the writer's channel (kept open
by :class:`relay.tasks.pglistener.PgListener`) so that a commit by any relay process wakes
the waiters of every process, and
:class:`DeadlinePublisher` announces each new envelope's first deadline on the same channel
so that every process's deadline task re-reads the next deadline at once (not at its own
next deadline, up to an hour later).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime

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


class ListenConnectFailed(Exception):
    """The LISTEN connection could not be opened (the server is down or refuses us)."""


def dispatch(
    payload: str,
    *,
    on_inbox: Callable[[str], None],
    on_deadline: Callable[[datetime], None],
    on_directory: Callable[[], None],
    on_audit: Callable[[int], None] = lambda _size: None,
) -> None:
    """Call the handler a NOTIFY ``payload`` on the relay channel names; ignore the rest:
    ``inbox:<party>``, ``deadline:<time>`` (another process stored a new deadline),
    ``directory`` (``relay directory install`` committed a new version) or ``audit:<size>``
    (a commit grew the audit log: the leader's checkpoint signer hears it)."""
    kind, _, rest = payload.partition(":")
    if kind == "inbox" and rest:
        on_inbox(rest)
    elif kind == "audit" and rest.isascii() and rest.isdigit() and len(rest) <= 20:
        on_audit(int(rest))
    elif kind + ":" == DEADLINE_PREFIX:
        when = parse_deadline(rest)
        if when is not None:
            on_deadline(when)
    elif kind == "directory":
        on_directory()


@contextlib.asynccontextmanager
async def listening(dsn: str, on_payload: Callable[[str], None]) -> AsyncIterator[asyncio.Event]:
    """LISTEN on the relay channel over one asyncpg connection, calling ``on_payload`` for
    each NOTIFY; yield an event set when the connection is lost. The connection is closed
    on exit.

    Raises:
        ListenConnectFailed: the connection could not be opened.
    """
    import asyncpg

    from relay.storage.database import NO_SERVER_ERRORS

    lost = asyncio.Event()
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, *NO_SERVER_ERRORS) as e:
        raise ListenConnectFailed(type(e).__name__) from e
    try:
        conn.add_termination_listener(lambda _c: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, lambda _c, _pid, _ch, text: on_payload(text))
        yield lost
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

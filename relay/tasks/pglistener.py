"""The PostgreSQL listener: one LISTEN connection per relay process, reopened when lost.

Through it a commit by any relay process wakes this process's long polls, a deadline
stored elsewhere reaches this process's deadline task, and an installed directory its
directory watcher. The connection and the channel's payloads are
:mod:`relay.storage.notify`'s; this task keeps the connection open, reconnects with
backoff, and on each (re)connection calls ``on_reconnect`` so that every waiter re-reads
what was committed while nobody listened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial

from relay.monitoring.logging import get_logger
from relay.storage.notify import ListenConnectFailed, dispatch, listening
from relay.tasks.base import BackgroundTask

log = get_logger("relay.storage.notify")
FIRST_BACKOFF_SECONDS = 0.5


class PgListener(BackgroundTask):
    """LISTEN on the relay channel; call ``on_inbox(party)``, ``on_deadline(when)``,
    ``on_directory()`` or ``on_audit(tree_size)`` per message, and ``on_reconnect()``
    once listening (again)."""

    name = "pg-listener"
    logger = log
    failure_event = "pg.listener_failed"

    def __init__(
        self,
        dsn: str,
        *,
        on_inbox: Callable[[str], None],
        on_reconnect: Callable[[], None],
        on_directory: Callable[[], None] = lambda: None,
        on_deadline: Callable[[datetime], None] = lambda _when: None,
        on_audit: Callable[[int], None] = lambda _size: None,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__()
        self._dsn = dsn
        self._on_reconnect = on_reconnect
        self._on_payload = partial(
            dispatch,
            on_inbox=on_inbox,
            on_deadline=on_deadline,
            on_directory=on_directory,
            on_audit=on_audit,
        )
        self._max_backoff = max_backoff
        self._backoff = FIRST_BACKOFF_SECONDS
        self.ready = asyncio.Event()

    async def round(self) -> float | None:
        """Listen until the connection is lost; then reconnect at once."""
        async with listening(self._dsn, self._on_payload) as lost:
            self._backoff = FIRST_BACKOFF_SECONDS
            self.ready.set()
            try:
                # Anything committed while we were not listening: let every waiter re-read.
                self._on_reconnect()
                await lost.wait()
                log.warning("pg.listener_lost")
            finally:
                self.ready.clear()
        return 0.0

    def failed(self, error: Exception) -> float | None:
        """Log, and retry after a backoff that doubles up to ``max_backoff``."""
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self._max_backoff)
        if isinstance(error, ListenConnectFailed):
            log.warning("pg.listener_connect_failed", error=str(error), retry_in=delay)
        else:
            log.error(self.failure_event, error=type(error).__name__, retry_in=delay)
        return delay


__all__ = ["PgListener"]

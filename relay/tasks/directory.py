"""The directory watcher: a running relay picks up a newly installed signed directory.

It calls ``refresh`` (:meth:`relay.directory.installed.MembersSource.refresh`: one indexed
read of the installed version, then the install if it is new) when woken (a PostgreSQL
NOTIFY, SIGHUP, a reconnect) and otherwise every ``interval`` seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from relay.monitoring.logging import get_logger
from relay.tasks.base import BackgroundTask

log = get_logger("relay.directory.installed")


class DirectoryWatcher(BackgroundTask):
    """Calls ``refresh`` when woken, and at least every ``interval`` seconds."""

    name = "directory"
    logger = log
    failure_event = "directory.reload_failed"

    def __init__(self, refresh: Callable[[], Awaitable[bool]], interval: float) -> None:
        super().__init__()
        self.interval = interval
        self.first_sleep = interval
        self._refresh = refresh
        self._last_error: str | None = None

    async def round(self) -> float | None:
        await self._refresh()
        self._last_error = None
        return self.interval

    def failed(self, error: Exception) -> float | None:
        """Log once per distinct failure, not per check; keep watching (the next install
        may fix it)."""
        detail = str(error)[:300]
        if detail != self._last_error:
            log.error(self.failure_event, error=type(error).__name__, detail=detail)
        self._last_error = detail
        return self.interval


__all__ = ["DirectoryWatcher"]

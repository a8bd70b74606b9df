"""The deadline task: OVERDUE notices, expiry and retention purges, on time and not polled.

It asks the database for the next deadline, sleeps until then, handles everything due
(:meth:`relay.core.service.RelayService.process_deadlines`), and asks again. A new envelope
whose first deadline comes sooner wakes it early (:meth:`DeadlineTask.consider`); so does
:meth:`DeadlineTask.wake` (tests move a fake clock, then wake it). The clock is injected.

With several relay processes on one PostgreSQL, ``announce`` (a
:class:`relay.storage.notify.DeadlinePublisher`) tells the others of each new deadline, and their
listeners call :meth:`DeadlineTask.consider`. Processes that race for the same deadline take
turns under the audit lock; the first clears it, so one OVERDUE (or EXPIRED) is issued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from relay.core.service import RelayService
from relay.monitoring.logging import get_logger
from relay.tasks.base import BackgroundTask

log = get_logger("relay.tasks.deadlines")
# Sleep at most this long in one go: a wall clock that jumps must not strand a deadline.
MAX_SLEEP_SECONDS = 3600.0
RETRY_SECONDS = 5.0


class DeadlineTask(BackgroundTask):
    """Runs :meth:`RelayService.process_deadlines` when the next deadline comes."""

    name = "deadlines"
    logger = log
    failure_event = "deadlines.failed"
    retry_seconds = RETRY_SECONDS

    def __init__(
        self,
        service: RelayService,
        clock: Callable[[], datetime],
        announce: Callable[[datetime], None] | None = None,
    ) -> None:
        super().__init__()
        self._service = service
        self._announce = announce
        self._clock = clock
        self._target: datetime | None = None
        self.rounds = 0
        self.idle = asyncio.Event()
        service.on_deadline = self._created

    def _created(self, deadline: datetime) -> None:
        """This process stored a new deadline: consider it, and tell the other processes."""
        self.consider(deadline)
        if self._announce is not None:
            self._announce(deadline)

    def consider(self, deadline: datetime) -> None:
        """A new deadline exists: wake up if it is sooner than the one slept for.

        During a round (not idle) the next deadline may have been read before the new one
        was committed: then always look again.
        """
        if self._target is None or deadline < self._target or not self.idle.is_set():
            self.wake()

    def wake(self) -> None:
        """Recompute now (after the clock moved, or the configuration changed)."""
        super().wake()

    async def round(self) -> float | None:
        self.idle.clear()
        done = await self._service.process_deadlines(self._clock())
        if done.overdue or done.expired or done.purged:
            log.info(
                "deadlines.processed",
                overdue=done.overdue,
                expired=done.expired,
                purged=done.purged,
            )
        nxt = await self._service.next_deadline()
        self._target = nxt
        self.rounds += 1
        self.idle.set()
        return sleep_until(nxt, self._clock())

    def failed(self, error: Exception) -> float | None:
        self._target = None
        return super().failed(error)


def sleep_until(deadline: datetime | None, now: datetime) -> float | None:
    """Seconds to sleep from ``now`` until ``deadline`` (None: until woken), never
    negative and never more than :data:`MAX_SLEEP_SECONDS`."""
    if deadline is None:
        return None
    return min(MAX_SLEEP_SECONDS, max(0.0, (deadline - now).total_seconds()))

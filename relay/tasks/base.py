"""One small base for the relay's background duties.

A :class:`BackgroundTask` runs rounds for the lifetime of the app: :meth:`start` creates
the asyncio task, :meth:`close` cancels it and waits for it to end (the app's exit stack
calls it on shutdown). Between rounds it sleeps for what the round returned (seconds, or
None for "until woken"); :meth:`wake` ends the sleep at once. A wake-up that comes during a
round is kept, so the next sleep ends at once: nothing committed meanwhile is missed.

A round that raises is logged (:meth:`BackgroundTask.failed`: the error's class only, never
its text by default, since a driver's message may quote data) and the task keeps going
after ``retry_seconds`` or an earlier wake-up: a database that went away may come back.
Cancellation (shutdown) is never caught.

A task given a ``gate`` (a function that says whether it may work now) runs its rounds only
while the gate is open, and otherwise sleeps until woken: the duties that must happen once
across relay processes are gated on :class:`relay.tasks.leader.Leadership`, which wakes them
when this process is elected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog

from relay.monitoring.logging import get_logger

log = get_logger("relay.tasks")


class BackgroundTask:
    """A loop of rounds with wake-ups, failure logging and a clean stop.

    Subclasses implement :meth:`round` and may override :meth:`failed`.

    Attributes:
        name: the asyncio task's name (``relay-<name>``) and the ``request_id`` its log
            lines carry (``task:<name>``).
        logger: where a failed round is logged (the duty's own logger).
        failure_event: the log event of a failed round.
        retry_seconds: the sleep after a failed round (a wake-up ends it sooner).
        first_sleep: seconds to sleep before the first round (None: start with a round).
    """

    name: str = "task"
    logger: Any = log
    failure_event: str = "task.failed"
    retry_seconds: float | None = 5.0
    first_sleep: float | None = None

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.gate: Callable[[], bool] | None = None

    async def round(self) -> float | None:
        """One pass of the duty; return how long to sleep before the next (None: until
        woken)."""
        raise NotImplementedError

    def failed(self, error: Exception) -> float | None:
        """Log a failed round; return how long to sleep before trying again."""
        self.logger.error(
            self.failure_event, error=type(error).__name__, retry_in=self.retry_seconds
        )
        return self.retry_seconds

    def wake(self) -> None:
        """End the current sleep now (or the next one at once, during a round)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the rounds in an asyncio task (call once, from the running loop)."""
        if self._task is not None:
            raise RuntimeError(f"{self.name} already started")
        self._task = asyncio.create_task(self._run(), name=f"relay-{self.name}")

    async def close(self) -> None:
        """Stop: cancel the task and wait for it to end. Safe to call twice."""
        self._stopping = True  # a cancellation lost in a library still ends the loop
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sleep(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: for ever) or until woken.

        ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 the latter loses a
        cancellation that arrives together with the wake-up, and :meth:`close` would then
        wait for a task that runs on.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _run(self) -> None:
        structlog.contextvars.bind_contextvars(request_id=f"task:{self.name}")
        if self.first_sleep is not None:
            await self.sleep(self.first_sleep)
        while not self._stopping:
            self._wake.clear()
            if self.gate is not None and not self.gate():
                await self.sleep(None)  # until woken (elected, or closed)
                continue
            try:
                pause = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep going: the database may come back
                pause = self.failed(e)
            await self.sleep(pause)


__all__ = ["BackgroundTask"]

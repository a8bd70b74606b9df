"""The checkpoint task: sign a checkpoint of the audit log after it grew, and when it ages.

The signing itself, its SQL and the rule of when a new one is needed live in
:mod:`relay.audit.checkpoints`; this task only decides when to ask.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from relay.audit.checkpoints import SignNow
from relay.monitoring.logging import get_logger
from relay.tasks.base import BackgroundTask

log = get_logger("relay.audit.checkpoints")
RETRY_SECONDS = 5.0


class CheckpointTask(BackgroundTask):
    """Signs a checkpoint after commits that grew the log, at most once per interval.

    :meth:`grown` is the writer's ``on_append`` hook. Between wake-ups it sleeps at most
    ``refresh`` seconds, then signs again if the last checkpoint has aged (any relay
    process may have signed one meanwhile: :func:`relay.audit.checkpoints.needs_new`
    decides under the lock).
    """

    name = "checkpoints"
    logger = log
    failure_event = "audit.checkpoint_failed"
    retry_seconds = RETRY_SECONDS

    def __init__(
        self,
        sign: SignNow,
        clock: Callable[[], datetime],
        *,
        interval: float,
        refresh: float,
    ) -> None:
        super().__init__()
        self._sign = sign
        self._clock = clock
        self._interval = interval
        self._refresh = refresh
        self.signed_size = -1
        self.rounds = 0

    def grown(self, tree_size: int) -> None:
        """A commit made the log ``tree_size`` entries long."""
        if tree_size != self.signed_size:
            self.wake()

    async def round(self) -> float | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        stored = await self._sign(self._clock())
        self.signed_size = stored.tree_size
        self.rounds += 1
        # Rate limit (a wake-up meanwhile is kept), then wait for growth or for the
        # checkpoint to age.
        await asyncio.sleep(max(0.0, started + self._interval - loop.time()))
        return self._refresh


__all__ = ["CheckpointTask"]

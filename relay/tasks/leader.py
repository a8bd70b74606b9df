"""Leadership: of several relay processes on one PostgreSQL, one runs the once-only duties.

Every process runs a :class:`Leadership` task. A follower tries to take the leader lock
(:class:`relay.storage.leadership.LeaderLock`) every ``every`` seconds; the process that
gets it is the leader, logs ``leader.elected`` and wakes the duties gated on it
(:attr:`relay.tasks.base.BackgroundTask.gate`: the checkpoint signer and the deadline task,
which also purges by retention). The leader checks its lock's connection every ``every``
seconds; when it is lost it logs ``leader.lost`` and becomes a follower at once (its gated
duties stop at their next round). So when a leader dies, another process leads within
about ``every`` seconds of PostgreSQL noticing (at once for a killed process, whose socket
closes; a restarted server ends every session, and the first process back takes the lock).

The choice and its limits are in ``docs/adr/0014-several-relay-processes-and-failover.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

from relay.monitoring.logging import get_logger
from relay.tasks.base import BackgroundTask

log = get_logger("relay.tasks.leader")
CHECK_SECONDS = 2.0


class Lock(Protocol):
    """What leadership needs of a lock (:class:`relay.storage.leadership.LeaderLock`)."""

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def close(self) -> None: ...


class Leadership(BackgroundTask):
    """Holds or seeks the leader lock; :meth:`is_leader` is the gate of the once-only duties."""

    name = "leader"
    logger = log
    failure_event = "leader.unavailable"

    def __init__(self, lock: Lock, duties: Iterable[BackgroundTask], every: float) -> None:
        super().__init__()
        self._lock = lock
        self._duties = tuple(duties)
        self.retry_seconds = every
        self._every = every
        self.leading = False
        self.elections = 0
        self._failing = False
        for duty in self._duties:
            duty.gate = self.is_leader

    def is_leader(self) -> bool:
        return self.leading

    async def round(self) -> float | None:
        if not self.leading:
            acquired = await self._lock.try_acquire()
            self._failing = False
            if acquired:
                self.leading = True
                self.elections += 1
                log.info("leader.elected", pid=os.getpid())
                for duty in self._duties:
                    duty.wake()
            return self._every
        if not await self._lock.still_held():
            self.leading = False
            log.warning("leader.lost", pid=os.getpid())
            return 0.0  # seek the lock again at once (another process may hold it now)
        return self._every

    def failed(self, error: Exception) -> float | None:
        """The database could not be asked: not leading (the lock went with the session).
        Logged once per outage (``leader.unavailable``), not at every attempt."""
        if self.leading:
            self.leading = False
            log.warning("leader.lost", pid=os.getpid(), error=type(error).__name__)
        if not self._failing:
            log.warning("leader.unavailable", error=type(error).__name__, retry_in=self._every)
        self._failing = True
        return self._every

    async def close(self) -> None:
        """Stop seeking, and release the lock (the session ends)."""
        await super().close()
        self.leading = False
        await self._lock.close()


__all__ = ["CHECK_SECONDS", "Leadership"]

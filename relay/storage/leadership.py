"""The leader lock: which of several relay processes on one PostgreSQL runs the duties.

The duties that must run once across processes (signing checkpoints, OVERDUE and EXPIRED
notices, retention purges) run only in the process that holds a session-level advisory
lock, :data:`LEADER_LOCK_KEY`, on a connection of its own. PostgreSQL releases the lock
when that connection ends: the leader stopped, was killed (``kill -9``: the server sees the
socket close), or lost the server (a restart ends every session). Another process's next
:meth:`LeaderLock.try_acquire` then takes it.

The lock is not what keeps the audit log right: every write still takes the writer's
transaction lock (:func:`relay.audit.append.lock`) and re-checks its state under it, so
two processes that both believe they lead for a moment (a leader that has not yet noticed
its lost connection) still issue one OVERDUE per envelope and no duplicate checkpoint.
The leader lock only keeps the other processes from doing the same work for nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from relay.monitoring.logging import get_logger

log = get_logger("relay.storage.leadership")

# Key of the session advisory lock held by the leading relay process ("PoCNetLd"); the
# audit appends use another key (relay.audit.append.ADVISORY_LOCK_KEY).
LEADER_LOCK_KEY = 0x506F434E65744C64
CONNECT_TIMEOUT_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 5.0


class LeaderLockUnavailable(Exception):
    """The database could not be asked (down, refusing, or too slow); the error's class
    only in the message: a driver's text may quote connection details."""


class LeaderLock:
    """A session advisory lock on a connection kept for it (asyncpg, like the listener).

    ``dsn`` is a plain ``postgresql://`` URL. Not safe for concurrent use: one task (the
    :class:`relay.tasks.leader.Leadership`) calls it.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: Any = None
        self.held = False

    async def _connection(self) -> Any:
        import asyncpg  # as the listener: only PostgreSQL relays load it

        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self.held = False  # a new session holds nothing
        try:
            self._conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        except Exception as e:  # refused, reset, timed out, starting up: not there now
            self._conn = None
            raise LeaderLockUnavailable(type(e).__name__) from e
        return self._conn

    async def try_acquire(self) -> bool:
        """Take the lock if no other session holds it; True if this process now holds it.

        Raises:
            LeaderLockUnavailable: the database cannot be reached.
        """
        conn = await self._connection()
        try:
            got = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY, timeout=CHECK_TIMEOUT_SECONDS
            )
        except Exception as e:  # a broken connection: drop it, say so
            await self._drop()
            raise LeaderLockUnavailable(type(e).__name__) from e
        self.held = bool(got)
        return self.held

    async def still_held(self) -> bool:
        """Whether the session that took the lock is alive (then the lock is still ours).

        A query on that connection answers; any failure, or a closed connection, is a
        lost lock (PostgreSQL has released it, or will when it notices).
        """
        if not self.held or self._conn is None or self._conn.is_closed():
            self.held = False
            return False
        try:
            await self._conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_SECONDS)
        except Exception as e:
            log.warning("leader.connection_lost", error=type(e).__name__)
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        self.held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.terminate()
            except Exception as e:  # already gone
                log.debug("leader.terminate_failed", error=type(e).__name__)

    async def close(self) -> None:
        """Release the lock (closing the session does) and the connection."""
        conn, self._conn = self._conn, None
        self.held = False
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), CHECK_TIMEOUT_SECONDS)
            except Exception:  # the server is gone: the lock went with the session
                conn.terminate()


__all__ = ["LEADER_LOCK_KEY", "LeaderLock", "LeaderLockUnavailable"]

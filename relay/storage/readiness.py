"""Is this relay ready to take requests? The database answers, its schema is current, a
write commits, and (SQLite) the disk holding the database has room.

``/readyz`` is public and unauthenticated, so the checks run at most once per
``every`` seconds and their verdict is reused in between; each is bounded by
``timeout``. The write probe rewrites the single row of ``ready_probe`` through the
single writer, so it fails exactly when envelopes would fail to commit.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.storage.database import SchemaBehind, Unavailable, check_schema, database_failure
from relay.storage.schema import ready_probe
from relay.storage.writer import Tx, Writer


@dataclass(frozen=True)
class Verdict:
    """The outcome of the readiness checks; ``code`` is ``ready`` or why not."""

    ready: bool
    code: str
    message: str
    schema: str | None = None


def free_bytes(path: Path) -> int:
    """Bytes available to this process on the file system holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Readiness:
    """The checks behind ``/readyz``."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: Writer,
        *,
        min_free_bytes: int,
        every: float,
        timeout: float,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._min_free = min_free_bytes
        self._every = every
        self._timeout = timeout
        self._last: tuple[float, Verdict] | None = None
        self._lock = asyncio.Lock()
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._folder = Path(database).resolve().parent if database else None

    def disk_free(self) -> int | None:
        """Free bytes on the SQLite database's disk (None on PostgreSQL or if unreadable)."""
        if self._folder is None:
            return None
        try:
            return free_bytes(self._folder)
        except OSError:
            return None

    async def check(self, now: datetime, monotonic: float) -> Verdict:
        """The verdict, from the last ``every`` seconds or checked now."""
        async with self._lock:  # concurrent probes wait for one check
            if self._last is not None and monotonic - self._last[0] < self._every:
                return self._last[1]
            verdict = await self._check(now)
            self._last = (monotonic, verdict)
            return verdict

    async def _check(self, now: datetime) -> Verdict:
        try:
            async with asyncio.timeout(self._timeout):
                schema = await check_schema(self._engine)
                if self._folder is not None:
                    free = free_bytes(self._folder)
                    if free < self._min_free:
                        return Verdict(
                            False,
                            "disk_full",
                            f"the database's disk has {free} bytes free "
                            f"(ready_min_free_bytes is {self._min_free})",
                        )
                await self._writer.run(lambda tx: _probe(tx, now))
        except TimeoutError:
            return Verdict(False, "timeout", f"the database did not answer in {self._timeout} s")
        except (Unavailable, SchemaBehind) as e:
            return Verdict(False, e.code, e.message)
        except Exception as e:
            failure = database_failure(e)
            if failure is None:
                raise
            return Verdict(False, failure.code, f"{failure.message} ({type(e).__name__})")
        return Verdict(True, "ready", "ready", schema)


async def _probe(tx: Tx, now: datetime) -> None:
    await tx.execute(delete(ready_probe))
    tx.add(ready_probe, {"id": 1, "at": now})

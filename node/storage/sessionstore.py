"""Console sessions in the node's database (``console_sessions``), so that a restart of
the console does not log everyone out. Rows are keyed by the SHA-256 of the session cookie;
the rules (idle and absolute timeouts) are :mod:`node.console.sessions`'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.storage.database import Database
from node.storage.schema import console_sessions


@dataclass(frozen=True)
class StoredSession:
    digest: str
    officer: str
    role: str
    csrf: str
    created_at: str
    last_seen: str

    @classmethod
    def from_row(cls, row: Any) -> StoredSession:
        return cls(
            row["digest"], row["officer"], row["role"], row["csrf"],
            row["created_at"], row["last_seen"],
        )  # fmt: skip


class SessionRecords(Database):
    """Reads and writes of the ``console_sessions`` table."""

    async def session_put(self, s: StoredSession) -> None:
        values = {
            "digest": s.digest, "officer": s.officer, "role": s.role, "csrf": s.csrf,
            "created_at": s.created_at, "last_seen": s.last_seen,
        }  # fmt: skip
        async with self._write() as conn:
            await conn.execute(
                sqlite_insert(console_sessions).values(**values).on_conflict_do_nothing()
            )

    async def session_get(self, digest: str) -> StoredSession | None:
        rows = await self._rows(select(console_sessions).where(console_sessions.c.digest == digest))
        return StoredSession.from_row(rows[0]) if rows else None

    async def session_touch(self, digest: str, last_seen: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(console_sessions)
                .where(console_sessions.c.digest == digest)
                .values(last_seen=last_seen)
            )

    async def session_delete(self, digest: str) -> StoredSession | None:
        """Delete one session; the row it was, or None."""
        found = await self.session_get(digest)
        async with self._write() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.digest == digest))
        return found

    async def session_delete_officer(self, officer: str) -> int:
        async with self._write() as conn:
            done = await conn.execute(
                delete(console_sessions).where(console_sessions.c.officer == officer)
            )
        return int(done.rowcount or 0)

    async def session_delete_before(self, *, last_seen: str, created_at: str) -> int:
        """Delete sessions idle since before ``last_seen`` or older than ``created_at``."""
        async with self._write() as conn:
            done = await conn.execute(
                delete(console_sessions).where(
                    (console_sessions.c.last_seen < last_seen)
                    | (console_sessions.c.created_at < created_at)
                )
            )
        return int(done.rowcount or 0)

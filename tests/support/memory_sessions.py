"""A dictionary in place of the node's ``console_sessions`` table (for the session rules'
unit tests)."""

from __future__ import annotations

from dataclasses import replace

from node.storage.sessionstore import StoredSession


class MemorySessions:
    def __init__(self) -> None:
        self.rows: dict[str, StoredSession] = {}
        self.writes = 0

    async def session_put(self, s: StoredSession) -> None:
        self.writes += 1
        self.rows.setdefault(s.digest, s)

    async def session_get(self, digest: str) -> StoredSession | None:
        return self.rows.get(digest)

    async def session_touch(self, digest: str, last_seen: str) -> None:
        self.writes += 1
        if digest in self.rows:
            self.rows[digest] = replace(self.rows[digest], last_seen=last_seen)

    async def session_delete(self, digest: str) -> StoredSession | None:
        self.writes += 1
        return self.rows.pop(digest, None)

    async def session_delete_officer(self, officer: str) -> int:
        gone = [k for k, s in self.rows.items() if s.officer == officer]
        for k in gone:
            del self.rows[k]
        return len(gone)

    async def session_delete_before(self, *, last_seen: str, created_at: str) -> int:
        gone = [
            k for k, s in self.rows.items() if s.last_seen < last_seen or s.created_at < created_at
        ]
        for k in gone:
            del self.rows[k]
        return len(gone)

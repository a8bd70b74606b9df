"""Drafts of the web console: forms typed but not sent yet, kept in the node's database so
that a colleague on the next shift can resume them (``drafts`` table)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from keys.errors import NotFound
from node.storage.database import Database
from node.storage.schema import drafts

PURPOSES = ("answer", "request")
MAX_DRAFT_BYTES = 60_000


@dataclass(frozen=True)
class Draft:
    """One draft as stored: the values as typed (not validated)."""

    id: int
    purpose: str  # answer (to msg_id) or request (to recipient)
    msg_id: str | None
    recipient: str | None
    kind: str
    data: dict[str, Any]
    officer: str
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Any) -> Draft:
        data = json.loads(row["data"])
        return cls(
            id=row["id"],
            purpose=row["purpose"],
            msg_id=row["msg_id"],
            recipient=row["recipient"],
            kind=row["kind"],
            data=data if isinstance(data, dict) else {},
            officer=row["officer"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class DraftRecords(Database):
    """Reads and writes of the ``drafts`` table."""

    async def save_draft(
        self,
        draft_id: int | None,
        *,
        purpose: str,
        kind: str,
        data: dict[str, Any],
        officer: str,
        now: str,
        msg_id: str | None = None,
        recipient: str | None = None,
    ) -> int:
        """Store a new draft (``draft_id`` None) or overwrite one; returns its id.

        Raises:
            ValueError: an unknown purpose, or data too large.
            NotFound: ``draft_id`` does not exist (sent or discarded meanwhile).
        """
        if purpose not in PURPOSES:
            raise ValueError(f"unknown draft purpose {purpose!r}")
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
        if len(raw) > MAX_DRAFT_BYTES:
            raise ValueError("draft too large")
        values = {
            "purpose": purpose,
            "msg_id": msg_id,
            "recipient": recipient,
            "kind": kind,
            "data": raw,
            "officer": officer[:64],
            "updated_at": now,
        }
        async with self._write() as conn:
            if draft_id is None:
                done = await conn.execute(insert(drafts).values(created_at=now, **values))
                new_id = done.inserted_primary_key
                assert new_id is not None
                return int(new_id[0])
            changed = await conn.execute(
                update(drafts).where(drafts.c.id == draft_id).values(**values)
            )
            if not changed.rowcount:
                raise NotFound(f"no draft {draft_id}", code="no_draft", fault="local")
            return draft_id

    async def get_draft(self, draft_id: int) -> Draft:
        """Raises:
        NotFound: no such draft."""
        rows = await self._rows(select(drafts).where(drafts.c.id == draft_id))
        if not rows:
            raise NotFound(f"no draft {draft_id}", code="no_draft", fault="local")
        return Draft.from_row(rows[0])

    async def list_drafts(self, *, msg_id: str | None = None) -> list[Draft]:
        """Every draft (or those answering ``msg_id``), the most recently changed first."""
        q = select(drafts).order_by(drafts.c.updated_at.desc(), drafts.c.id.desc())
        if msg_id is not None:
            q = q.where(drafts.c.msg_id == msg_id)
        return [Draft.from_row(r) for r in await self._rows(q)]

    async def delete_draft(self, draft_id: int) -> bool:
        """Delete a draft; False if it was gone already."""
        async with self._write() as conn:
            done = await conn.execute(delete(drafts).where(drafts.c.id == draft_id))
        return bool(done.rowcount)

"""Officer accounts of the web console: name, role and an Argon2id hash (the hashing
itself is done by :mod:`node.console.accounts`; this module only stores strings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from keys.errors import ValidationError
from node.storage.database import Database
from node.storage.schema import officers


@dataclass(frozen=True)
class OfficerRecord:
    """One officer account as stored."""

    name: str
    role: str
    password_hash: str
    created_at: str
    disabled: bool

    @classmethod
    def from_row(cls, row: Any) -> OfficerRecord:
        return cls(
            name=row["name"],
            role=row["role"],
            password_hash=row["password_hash"],
            created_at=row["created_at"],
            disabled=bool(row["disabled"]),
        )


class OfficerRecords(Database):
    """Reads and writes of the ``officers`` table."""

    async def add_officer(
        self, name: str, role: str, password_hash: str, now: str, *, replace: bool = False
    ) -> None:
        """Create an account (or, with ``replace``, set a new role and password).

        Raises:
            ValidationError: the name is taken and ``replace`` is false.
        """
        async with self._write() as conn:
            if replace:
                done = await conn.execute(
                    update(officers)
                    .where(officers.c.name == name)
                    .values(role=role, password_hash=password_hash, disabled=0)
                )
                if done.rowcount:
                    return
            try:
                await conn.execute(
                    insert(officers).values(
                        name=name, role=role, password_hash=password_hash, created_at=now
                    )
                )
            except IntegrityError as e:
                raise ValidationError(
                    f"an officer named {name!r} exists (use --replace to set a new password)",
                    code="officer_exists",
                ) from e

    async def get_officer(self, name: str) -> OfficerRecord | None:
        rows = await self._rows(select(officers).where(officers.c.name == name))
        return OfficerRecord.from_row(rows[0]) if rows else None

    async def list_officers(self) -> list[OfficerRecord]:
        rows = await self._rows(select(officers).order_by(officers.c.name))
        return [OfficerRecord.from_row(r) for r in rows]

    async def set_officer_disabled(self, name: str, disabled: bool) -> bool:
        """Disable (or enable again) an account; False if there is no such officer."""
        async with self._write() as conn:
            done = await conn.execute(
                update(officers).where(officers.c.name == name).values(disabled=int(disabled))
            )
        return bool(done.rowcount)

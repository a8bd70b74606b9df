"""The node's records of the signed directory: the pinned root and accepted versions.

A mixin of :class:`node.storage.store.Store`. The root file pinned at ``node init --root`` is one
row; every directory file this node accepted is kept as accepted, by version, so a
restart restores the newest (:meth:`keys.directory.TrustedDirectory.from_stored`) and
``node directory verify`` can replay the chain from the pinned root.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.storage.database import Database
from node.storage.schema import directory_root, directory_versions, messages


@dataclass(frozen=True)
class StoredVersion:
    """One accepted directory version, as stored."""

    version: int
    payload_sha256: str
    expires: str
    file: bytes
    accepted_at: str


class DirectoryRecords(Database):
    """Reads and writes of the pinned root and the accepted directory versions."""

    async def pinned_root(self) -> bytes | None:
        """The pinned root file's bytes, or None (development mode: no root pinned)."""
        rows = await self._rows(select(directory_root.c.root).where(directory_root.c.id == 1))
        return bytes(rows[0]["root"]) if rows else None

    async def pin_root(self, root: bytes, now: str, *, replace: bool = False) -> None:
        """Pin the secretariat's root file. With ``replace``, a root pinned before and every
        directory accepted under it are dropped (the node starts again from this root)."""
        async with self._write() as conn:
            if replace:
                await conn.execute(delete(directory_versions))
                await conn.execute(delete(directory_root))
            await conn.execute(insert(directory_root).values(id=1, root=root, pinned_at=now))

    async def save_directory(
        self, *, version: int, payload_sha256: str, expires: str, file: bytes, now: str
    ) -> bool:
        """Keep an accepted version. False if it was stored already (by another process)."""
        async with self._write() as conn:
            result = await conn.execute(
                sqlite_insert(directory_versions)
                .values(
                    version=version,
                    payload_sha256=payload_sha256,
                    expires=expires,
                    file=file,
                    accepted_at=now,
                )
                .on_conflict_do_nothing(index_elements=["version"])
            )
        return bool(result.rowcount)

    async def latest_directory(self) -> StoredVersion | None:
        """The newest accepted version, or None."""
        q = select(directory_versions).order_by(directory_versions.c.version.desc()).limit(1)
        rows = await self._rows(q)
        return _version(rows[0]) if rows else None

    async def latest_directory_version(self) -> int | None:
        """The newest accepted version number (one indexed read), or None."""
        async with self._reader.connect() as conn:
            value = (await conn.execute(select(func.max(directory_versions.c.version)))).scalar()
        return None if value is None else int(value)

    async def directory_chain(self) -> list[StoredVersion]:
        """Every accepted version, oldest first."""
        q = select(directory_versions).order_by(directory_versions.c.version)
        return [_version(r) for r in await self._rows(q)]

    async def counterparts(self) -> set[str]:
        """The parties this node has exchanged messages with."""
        rows = await self._rows(select(messages.c.counterpart).distinct())
        return {r["counterpart"] for r in rows}


def _version(row: object) -> StoredVersion:
    r = dict(row)  # type: ignore[call-overload]
    return StoredVersion(
        int(r["version"]), r["payload_sha256"], r["expires"], bytes(r["file"]), r["accepted_at"]
    )

"""The node's registers: pinned public keys and their changes, the append-only access
log (Protocol Art. 14(8)), and the warnings already raised."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from keys.errors import ValidationError
from node.storage.database import Database
from node.storage.records import AccessRecord
from node.storage.schema import access_log, notices, peer_changes, peers

ACCESS_ACTIONS = (
    *("display", "export", "export_content", "answer", "acknowledge", "forward"),
    # the web console (node/console): ``os_user`` is then ``officer:NAME``
    *("view", "login", "login_failed", "logout"),
)


class Registers(Database):
    """Pins, key changes, access records and notices."""

    # -- peers ------------------------------------------------------------------------

    async def pinned_bundles(self) -> dict[str, bytes]:
        rows = await self._rows(select(peers.c.party, peers.c.bundle))
        return {r["party"]: r["bundle"] for r in rows}

    async def pin(
        self, party: str, bundle: bytes, signing_key: str, signing_key_id: str, now: str
    ) -> None:
        """Pin (or replace) a party's bundle."""
        async with self._write() as conn:
            result = await conn.execute(
                update(peers)
                .where(peers.c.party == party)
                .values(
                    bundle=bundle,
                    signing_key=signing_key,
                    signing_key_id=signing_key_id,
                    updated_at=now,
                )
            )
            if result.rowcount == 0:
                await conn.execute(
                    insert(peers).values(
                        party=party,
                        bundle=bundle,
                        signing_key=signing_key,
                        signing_key_id=signing_key_id,
                        first_seen=now,
                        updated_at=now,
                    )
                )

    async def record_key_change(
        self, party: str, old_ids: str, new_ids: str, *, accepted: bool, now: str
    ) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(peer_changes).values(
                    party=party, at=now, old_key_ids=old_ids, new_key_ids=new_ids, accepted=accepted
                )
            )

    async def key_changes(self) -> list[dict[str, Any]]:
        rows = await self._rows(select(peer_changes).order_by(peer_changes.c.id))
        return [dict(r) for r in rows]

    # -- access log, notices ------------------------------------------------------------

    async def record_access(
        self, *, action: str, msg_id: str, os_user: str, now: str, detail: str | None = None
    ) -> None:
        """Append one access record (Protocol Art. 14(8))."""
        if action not in ACCESS_ACTIONS:
            raise ValidationError(f"unknown access action {action!r}")
        async with self._write() as conn:
            await conn.execute(
                insert(access_log).values(
                    at=now, os_user=os_user[:64], action=action, msg_id=msg_id, detail=detail
                )
            )

    async def access_records(
        self, *, since: str | None = None, msg_id: str | None = None
    ) -> list[AccessRecord]:
        q = select(access_log).order_by(access_log.c.id)
        if since:
            q = q.where(access_log.c.at >= since)
        if msg_id:
            q = q.where(access_log.c.msg_id == msg_id)
        return [AccessRecord.from_row(r) for r in await self._rows(q)]

    async def notice_keys(self, prefix: str) -> list[str]:
        """The notices noted so far whose key starts with ``prefix``."""
        q = select(notices.c.key).where(notices.c.key.startswith(prefix, autoescape=True))
        return [str(r.key) for r in await self._rows(q)]

    async def notice_once(self, key: str, now: str) -> bool:
        """True the first time ``key`` is noted, False afterwards."""
        try:
            async with self._write() as conn:
                await conn.execute(insert(notices).values(key=key[:200], at=now))
        except IntegrityError:
            return False
        return True

"""The persisted nonces of state-changing requests: replay protection that survives a
restart and spans every relay process on one database (docs/adr/0007).

:meth:`NonceStore.claim` runs as one operation of the single writer: it looks the nonce
up (the writer's transaction holds the audit lock, so on PostgreSQL no other relay
process can claim the same nonce between the look-up and the commit) and inserts it with
its expiry, the instant after which a request signed with it fails the time check anyway.
Expired rows are deleted by the same operation at most once per ``purge_every``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.storage.schema import nonces
from relay.storage.writer import Tx, Writer


class NonceStore:
    """Claims nonces through the writer."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: Writer,
        *,
        purge_every: timedelta = timedelta(seconds=60),
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._purge_every = purge_every
        self._purged_at: datetime | None = None

    async def claim(self, party: str, nonce: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``(party, nonce)`` until ``expires_at``; False if it is already recorded
        and still live (a replay).

        Raises:
            Unavailable: the database failed (from the writer).
        """

        async def op(tx: Tx) -> bool:
            key = and_(nonces.c.party == party, nonces.c.nonce == nonce)
            found = (await tx.execute(select(nonces.c.expires_at).where(key))).first()
            if found is not None:
                if found[0] > now:
                    return False
                await tx.execute(delete(nonces).where(key))
            if self._purged_at is None or now - self._purged_at >= self._purge_every:
                await tx.execute(delete(nonces).where(nonces.c.expires_at <= now))
                self._purged_at = now
            tx.add(nonces, {"party": party, "nonce": nonce, "expires_at": expires_at})
            return True

        return await self._writer.run(op)

    async def count(self) -> int:
        """How many nonces are recorded (for tests and metrics)."""
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(nonces))).scalar_one())

"""Several relay URLs behind the one :class:`node.relayapi.transport.RelayTransport` interface.

:class:`FailoverTransport` holds one :class:`HttpRelayTransport` per URL of ``[relay] urls``
and sends each call to the relay :func:`node.relayapi.selection.try_order` names first; a
call that finds no answer (:class:`keys.host.command.Unreachable`: refused, reset, timed
out, or a 5xx such as a relay's 503 without its database) is sent to the next, in the same
call, until one answers or every relay has failed (then the last :class:`Unreachable` is
raised and the node's usual retries take over). Every call of the API may be sent twice:
a submission of the same envelope gets the same ACCEPTED receipt, an acknowledgement or a
receipt already stored is not stored again. Any other error (a refusal, a 429, a
configuration error) is the answer and is raised at once.

Log lines: ``relay.failed_over`` (the URL that failed, the error's code) and
``relay.switched`` (the URL now used, and the one before).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

from keys.host.command import Unreachable
from node.relayapi import auditwire
from node.relayapi.selection import Health, failed, try_order
from node.relayapi.transport import (
    MAX_ACK_IDS,
    HandOver,
    HttpRelayTransport,
    InboxItem,
    RelayTransport,
    SubmitResult,
)

T = TypeVar("T")


class EventLog(Protocol):
    """What this module logs through (the node's logger)."""

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...


class FailoverTransport:
    """The relay API over several relays, sticking to the one that answers."""

    def __init__(
        self,
        relays: Sequence[tuple[str, RelayTransport]],
        *,
        log: EventLog,
        base: float,
        cap: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not relays:
            raise ValueError("at least one relay")
        self.urls = tuple(url for url, _ in relays)
        self._relays = tuple(transport for _, transport in relays)
        self._log = log
        self._base = base
        self._cap = cap
        self._clock = clock
        self.current = 0
        self.health = [Health() for _ in relays]

    @property
    def url(self) -> str:
        """The URL of the relay used now."""
        return self.urls[self.current]

    async def _call(self, call: Callable[[RelayTransport], Awaitable[T]]) -> T:
        order = try_order(self.current, self.health, self._clock(), base=self._base, cap=self._cap)
        error: Unreachable | None = None
        for index in order:
            try:
                result = await call(self._relays[index])
            except Unreachable as e:
                self.health[index] = failed(self.health[index], self._clock())
                self._log.warning("relay.failed_over", url=self.urls[index], error=e.code)
                error = e
                continue
            self.health[index] = Health()
            if index != self.current:
                self._log.info(
                    "relay.switched", url=self.urls[index], previous=self.urls[self.current]
                )
                self.current = index
            return result
        assert error is not None
        raise error

    async def submit(self, envelope: bytes) -> SubmitResult:
        return await self._call(lambda r: r.submit(envelope))

    async def inbox(self, *, wait: float, limit: int) -> list[InboxItem]:
        return await self._call(lambda r: r.inbox(wait=wait, limit=limit))

    async def ack(self, ids: Sequence[str]) -> int:
        return await self._call(lambda r: r.ack(ids))

    async def post_receipt(self, receipt: bytes) -> bool:
        return await self._call(lambda r: r.post_receipt(receipt))

    async def evidence(self, msg_id: str) -> dict[str, Any]:
        return await self._call(lambda r: r.evidence(msg_id))

    async def directory(self) -> dict[str, Any]:
        return await self._call(lambda r: r.directory())

    async def audit_checkpoint(self) -> bytes:
        return await self._call(lambda r: r.audit_checkpoint())

    async def audit_consistency(self, old_size: int, new_size: int) -> tuple[bytes, ...]:
        return await self._call(lambda r: r.audit_consistency(old_size, new_size))

    async def audit_inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        return await self._call(lambda r: r.audit_inclusion(index, size))

    async def hand_over(
        self,
        ids: Sequence[str],
        receipts: Sequence[bytes],
        *,
        wait: float | None = None,
        limit: int = MAX_ACK_IDS,
    ) -> HandOver:
        return await self._call(lambda r: r.hand_over(ids, receipts, wait=wait, limit=limit))

    async def audit_messages(
        self, msg_ids: Sequence[str]
    ) -> tuple[bytes, dict[str, list[auditwire.LeafProof]]]:
        return await self._call(lambda r: r.audit_messages(msg_ids))

    # Attachments: every relay reads the one database, so any of them holds the chunks.

    async def put_chunk(
        self, att_id: str, idx: int, blob: bytes, *, size: int, chunks: int
    ) -> bool:
        return await self._call(
            lambda r: _http(r).put_chunk(att_id, idx, blob, size=size, chunks=chunks)
        )

    async def attachment_status(self, att_id: str) -> dict[str, Any]:
        return await self._call(lambda r: _http(r).attachment_status(att_id))

    async def get_chunk(self, att_id: str, idx: int, max_bytes: int) -> bytes:
        return await self._call(lambda r: _http(r).get_chunk(att_id, idx, max_bytes))

    async def close(self) -> None:
        for relay in self._relays:
            await relay.close()


def _http(relay: RelayTransport) -> HttpRelayTransport:
    """The relays of a failover set are HTTP transports (node/runtime.py builds them)."""
    return cast(HttpRelayTransport, relay)


__all__ = ["FailoverTransport"]

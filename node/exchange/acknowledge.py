"""Acknowledging a received message: sign an ``ACKNOWLEDGED`` receipt, store it with the
message's new state, write the access record, and try to post it (the daemon posts it
later if the relay does not answer). Shared by ``node ack``, ``node respond`` and the web
console, so that all three do exactly the same."""

from __future__ import annotations

import contextlib
from datetime import datetime

from keys import receipts
from keys.encoding import format_time
from keys.errors import PocnetError
from keys.identities import SigningKey
from node.exchange.outbox import Outbox
from node.storage.store import Store


async def acknowledge(
    store: Store,
    outbox: Outbox,
    signing_key: SigningKey,
    party: str,
    msg_id: str,
    envelope_sha256: str,
    *,
    who: str,
    now: datetime,
    later: datetime | None = None,
) -> bool:
    """Acknowledge ``msg_id``; False if it already was. ``who`` goes in the access log;
    ``later`` (default ``now``) is when the receipt is queued and posted."""
    signed = receipts.issue_at(
        now,
        signing_key,
        type="ACKNOWLEDGED",
        msg_id=msg_id,
        envelope_sha256=envelope_sha256,
        issuer=party,
    )
    stamp = format_time(later or now)
    if not await store.acknowledge(msg_id, signed, stamp):
        return False
    await store.record_access(action="acknowledge", msg_id=msg_id, os_user=who, now=stamp)
    with contextlib.suppress(PocnetError):  # kept, and posted later by the daemon
        await outbox.post_receipts(later or now)
    return True

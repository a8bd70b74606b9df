"""A stored message's timeline as the node can prove it: where the relay's audit log holds
each receipt (from the inclusion proofs the node verified), and the audit alarms about the
message and about the whole log. Shared by ``node status``/``node show`` and the console."""

from __future__ import annotations

from typing import Any

from node.evidence.timeline import Timeline, build_timeline
from node.storage.records import StoredMessage
from node.storage.store import Store
from node.trust.peers import PeerKeys


async def audit_view(store: Store, msg_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Where the relay's log holds each receipt of ``msg_id``, and the alarms to show
    (those about the message and those about the whole log)."""
    where = {p.receipt_sha256: f"leaf {p.leaf_index}" for p in await store.proofs_for(msg_id)}
    about = await store.alarms(msg_id=msg_id)
    for a in about:
        if a.receipt_sha256:
            where[a.receipt_sha256] = f"ALARM {a.reason}"
    log_wide = [a for a in await store.alarms() if a.msg_id is None]
    return where, [a.to_dict() for a in (*about, *log_wide)]


async def proven_timeline(store: Store, peers: PeerKeys, msg: StoredMessage) -> Timeline:
    """The timeline of ``msg`` with each receipt's place in the relay's audit log."""
    stored = await store.receipts_for(msg.msg_id)
    replies = await store.replies_to(msg.msg_id)
    where, alarms = await audit_view(store, msg.msg_id)
    return build_timeline(msg, stored, replies, peers.key_at, where, alarms)

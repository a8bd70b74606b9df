"""``node status`` without an id: the node at a glance, for the officer coming on duty.

The signed directory (version, expiry, days left, the next warning stage), what waits in
the outbox by priority, and the received emergency and urgent requests nobody has
acknowledged. Reads the node's store only: no relay, no keystore.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keys.encoding import format_time
from node.exchange.escalation import directory_stage
from node.runtime import LocalNode

PRIORITIES = ("emergency", "urgent", "routine")


async def overview(node: LocalNode, now: datetime) -> dict[str, Any]:
    """The node's state now, as data."""
    await node.peers.sync()
    current = getattr(node.peers, "current", None)
    directory: dict[str, Any] = {"mode": node.peers.mode, "unusable": node.peers.unusable(now)}
    if current is not None:
        days = round((current.expires - now).total_seconds() / 86400, 1)
        directory.update(
            version=current.version,
            expires=format_time(current.expires),
            days_left=days,
            warning=directory_stage(current.expires, now),
        )
    queued = await node.store.due_outgoing("", limit=100_000)
    waiting = await node.store.unacknowledged_incoming(("emergency", "urgent"))
    return {
        "party": node.config.party,
        "directory": directory,
        "outbox": {p: sum(m.priority == p for m in queued) for p in PRIORITIES},
        "unacknowledged": [
            {"msg_id": m.msg_id, "priority": m.priority, "from": m.counterpart,
             "kind": m.kind, "received_at": m.stored_at}
            for m in sorted(waiting, key=lambda m: (PRIORITIES.index(m.priority), m.stored_at))
        ],
    }  # fmt: skip


def render(view: dict[str, Any]) -> str:
    """The overview as lines for a terminal."""
    d = view["directory"]
    if "version" in d:
        line = f"directory: version {d['version']}, expires {d['expires']} ({d['days_left']} days)"
        if d["unusable"]:
            line += f": NOT USABLE ({d['unusable']}) - run 'node directory refresh'"
        elif d["warning"] is not None:
            line += f": EXPIRES WITHIN {d['warning']} DAY(S) - ask the secretariat for a new one"
    else:
        line = f"directory: none ({d['mode']} mode)"
    out = view["outbox"]
    lines = [
        f"node {view['party']}",
        line,
        f"outbox: {out['emergency']} emergency, {out['urgent']} urgent, {out['routine']} "
        "routine waiting for the relay",
    ]
    waiting = view["unacknowledged"]
    lines.append(f"not acknowledged: {len(waiting)} emergency/urgent request(s) received")
    lines += [
        f"  {w['priority'].upper():<9} {w['msg_id'][:8]} from {w['from']} ({w['kind']}), "
        f"received {w['received_at']}: 'node ack {w['msg_id'][:8]}'"
        for w in waiting
    ]
    return "\n".join(lines)

"""``node audit status`` and ``node audit check``: what this node knows of the relay's log.

``status`` reads the store only: the trusted checkpoint, when the log was last checked,
how many receipts are proven in it and how many wait, and every alarm. ``check`` runs the
daemon's checks now (fetch the latest checkpoint and its consistency proof, prove the
receipts not yet proven) and prints the same. Both exit 7 while the node holds an alarm
(a fork, a rollback, a receipt not in the log ...), so a monitoring job can call them;
``check`` exits 6 when the relay could not be reached.
"""

from __future__ import annotations

import argparse
from typing import Any

from keys.auditlog.checkpoint import origin_for
from keys.host.command import EXIT_REFUSED, EXIT_UNREACHABLE, emit
from node.audit.auditor import auditor_for
from node.cli.base import full_node, local_node, now
from node.runtime import LocalNode

MAX_PENDING_COUNTED = 100_000
ALARMS_SHOWN = 20


async def audit_status(node: LocalNode) -> dict[str, Any]:
    """The audit state of a node, as ``node audit status --json`` prints it."""
    store = node.store
    trusted = await store.trusted_checkpoint()
    checked_at, last = await store.audit_result()
    counts = await store.audit_counts()
    pending = await store.unaudited_receipts(MAX_PENDING_COUNTED)
    alarms = await store.alarms(limit=ALARMS_SHOWN)
    return {
        "origin": origin_for(node.config.audit.network),
        "checkpoint": trusted.to_dict() if trusted else None,
        "checked_at": checked_at,
        "last_check": last,
        "proven": counts["proven"],
        "pending": len(pending),
        "alarm_count": counts["alarms"],
        "alarms": [a.to_dict(with_evidence=True) for a in alarms],
    }


def render_status(status: dict[str, Any]) -> str:
    lines = [f"audit log {status['origin']}"]
    cp = status["checkpoint"]
    if cp is None:
        lines.append("  no checkpoint trusted yet (the daemon fetches one; or 'node audit check')")
    else:
        lines.append(
            f"  trusted checkpoint: {cp['tree_size']} entries, root {cp['root_hash'][:16]}..., "
            f"signed {cp['signed_at']}"
        )
    lines.append(f"  last checked: {status['checked_at'] or 'never'}")
    lines.append(
        f"  receipts proven in the log: {status['proven']}; not proven yet: {status['pending']}"
    )
    if status["alarm_count"]:
        lines.append(f"  ALARMS: {status['alarm_count']} (newest first)")
        for a in status["alarms"]:
            about = f" message {a['msg_id']}" if a.get("msg_id") else ""
            extra = (
                f" trusted {a['trusted_size']} entries, shown {a['presented_size']}"
                if "trusted_size" in a
                else ""
            )
            lines.append(f"    {a['at']}  {a['kind']} ({a['reason']}){about}{extra}")
        lines.append(
            "  The relay's log contradicts what it signed: keep this node's database as "
            "evidence ('node audit status --json' has the signed checkpoints) and tell the "
            "network's secretariat."
        )
    else:
        lines.append("  no alarms")
    return "\n".join(lines)


async def cmd_audit(args: argparse.Namespace) -> int:
    if args.action == "check":
        async with full_node(args) as node:
            report = await auditor_for(node).run_once(now(), force=True)
            status = await audit_status(node)
        status["check"] = report.to_dict()
        text = render_status(status)
        if report.errors:
            text += "\n  this check was incomplete: " + "; ".join(report.errors[:5])
        emit(status, as_json=args.json, text=text)
        if status["alarm_count"]:
            return EXIT_REFUSED
        return EXIT_UNREACHABLE if report.unreachable else 0
    async with local_node(args) as node:
        status = await audit_status(node)
    emit(status, as_json=args.json, text=render_status(status))
    return EXIT_REFUSED if status["alarm_count"] else 0


__all__ = ["audit_status", "cmd_audit", "render_status"]

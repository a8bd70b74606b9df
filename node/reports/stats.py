"""Statistics of one node (DESIGN.md section 8; DOMAIN.md "Statistics the network needs").

Counts of requests sent and received by kind, counterpart, priority and month; times to
acknowledge and to respond (median and 90th percentile, nearest-rank); outcomes of
preservation requests and refusals by ground; emergency determinations; rejections; open
preservations and their expiry; access records by action. Pure functions of stored rows.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from keys.encoding import format_time
from node.reports.preservation import PreservationClock
from node.storage.records import AccessRecord, Rejection, StoredMessage, StoredReceipt

REPLY_KINDS = frozenset(
    {
        "preservation_response",
        "traffic_data_disclosure",
        "emergency_determination",
        "status_update",
        "supplementary_info_reply",
        "supplementary_info_request",
    }
)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, Any]:
    """Count, median and 90th percentile, in seconds."""
    return {
        "count": len(values),
        "median_s": round(statistics.median(values), 3) if values else None,
        "p90_s": round(p, 3) if (p := percentile(values, 90)) is not None else None,
    }


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _counts(msgs: list[StoredMessage]) -> dict[str, dict[str, int]]:
    return {
        "by_kind": dict(sorted(Counter(m.kind for m in msgs).items())),
        "by_counterpart": dict(sorted(Counter(m.counterpart for m in msgs).items())),
        "by_priority": dict(sorted(Counter(m.priority for m in msgs).items())),
        "by_month": dict(sorted(Counter(format_time(m.created_at)[:7] for m in msgs).items())),
    }


def _first_reply(
    msg: StoredMessage, replies: dict[str, list[StoredMessage]]
) -> StoredMessage | None:
    candidates = [r for r in replies.get(msg.msg_id, []) if r.direction != msg.direction]
    return min(candidates, key=lambda r: r.created_at) if candidates else None


def compute_stats(
    messages: Iterable[StoredMessage],
    receipts: Iterable[StoredReceipt],
    *,
    clocks: Iterable[PreservationClock] = (),
    access: Iterable[AccessRecord] = (),
    rejections: Iterable[Rejection] = (),
    since: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Every figure of ``node stats`` (times in seconds)."""
    all_msgs = list(messages)
    msgs = [m for m in all_msgs if not since or format_time(m.created_at) >= since]
    sent = [m for m in msgs if m.direction == "out"]
    received = [m for m in msgs if m.direction == "in"]
    replies: dict[str, list[StoredMessage]] = defaultdict(list)
    for m in all_msgs:
        if m.in_reply_to:
            replies[m.in_reply_to].append(m)
    acks: dict[str, datetime] = {}
    for r in receipts:
        if r.type == "ACKNOWLEDGED" and (r.msg_id not in acks or r.issued_at < acks[r.msg_id]):
            acks[r.msg_id] = r.issued_at
    sent_requests = [m for m in sent if m.kind not in REPLY_KINDS and m.in_reply_to is None]
    recv_requests = [m for m in received if m.kind not in REPLY_KINDS and m.in_reply_to is None]

    def respond_times(reqs: list[StoredMessage]) -> list[float]:
        out = []
        for m in reqs:
            reply = _first_reply(m, replies)
            if reply is not None:
                out.append(_seconds(reply.created_at, m.created_at))
        return out

    outcomes: Counter[str] = Counter()
    grounds: Counter[str] = Counter()
    determinations: Counter[str] = Counter()
    for m in msgs:
        body = m.body if m.kind in ("preservation_response", "emergency_determination") else {}
        if m.kind == "preservation_response":
            outcomes[f"{m.direction}:{body.get('outcome')}"] += 1
            if body.get("refusal_ground"):
                grounds[str(body["refusal_ground"])] += 1
        elif m.kind == "emergency_determination":
            determinations[f"{m.direction}:{body.get('determination')}"] += 1
    rejected_by_them = Counter(
        r.reason or "unknown" for r in receipts if r.type == "REJECTED" and r.origin == "peer"
    )
    open_clocks = [c for c in clocks if c.is_open]
    return {
        "generated_at": now.isoformat(),
        "since": since,
        "sent": {"total": len(sent), **_counts(sent)},
        "received": {"total": len(received), **_counts(received)},
        "time_to_acknowledge": {
            "sent": summary(
                [_seconds(acks[m.msg_id], m.created_at) for m in sent if m.msg_id in acks]
            ),
            "received": summary(
                [_seconds(m.acknowledged_at, m.stored_at) for m in received if m.acknowledged_at]
            ),
        },
        "time_to_respond": {
            "sent": summary(respond_times(sent_requests)),
            "received": summary(respond_times(recv_requests)),
        },
        "unacknowledged": {
            "sent": sum(1 for m in sent_requests if m.msg_id not in acks),
            "received": sum(1 for m in recv_requests if not m.acknowledged_at),
        },
        "preservation_outcomes": dict(sorted(outcomes.items())),
        "refusals_by_ground": dict(sorted(grounds.items())),
        "emergency_determinations": dict(sorted(determinations.items())),
        "rejected": {
            "by_us": dict(sorted(Counter(r.sent_reason or r.reason for r in rejections).items())),
            "by_recipients": dict(sorted(rejected_by_them.items())),
        },
        "open_preservations": [c.to_dict() for c in open_clocks],
        "access_records": dict(sorted(Counter(a.action for a in access).items())),
    }


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, rows)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, rows)
    else:
        rows.append((prefix, "" if value is None else str(value)))


def to_csv(stats: dict[str, Any]) -> str:
    """``metric,value`` rows, one per figure."""
    rows: list[tuple[str, str]] = []
    _flatten("", stats, rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric", "value"])
    writer.writerows(rows)
    return buf.getvalue()


def to_table(stats: dict[str, Any]) -> str:
    """A plain-text report."""
    lines = [
        f"statistics generated {stats['generated_at']}"
        + (f" since {stats['since']}" if stats["since"] else "")
    ]
    for side in ("sent", "received"):
        block = stats[side]
        lines.append(f"\n{side}: {block['total']}")
        for key in ("by_kind", "by_counterpart", "by_priority", "by_month"):
            if block[key]:
                items = ", ".join(f"{k} {v}" for k, v in block[key].items())
                lines.append(f"  {key.replace('_', ' ')}: {items}")
    for title in ("time_to_acknowledge", "time_to_respond"):
        lines.append(f"\n{title.replace('_', ' ')} (seconds):")
        for side, s in stats[title].items():
            median, p90 = _fmt(s["median_s"]), _fmt(s["p90_s"])
            lines.append(f"  {side:<9} n={s['count']:<5} median={median}  p90={p90}")
    for title in (
        "unacknowledged",
        "preservation_outcomes",
        "refusals_by_ground",
        "emergency_determinations",
        "access_records",
    ):
        if stats[title]:
            items = ", ".join(f"{k} {v}" for k, v in stats[title].items())
            lines.append(f"\n{title.replace('_', ' ')}: {items}")
    rej = stats["rejected"]
    if rej["by_us"] or rej["by_recipients"]:
        lines.append(f"\nrejected: by us {rej['by_us']}, by recipients {rej['by_recipients']}")
    lines.append(f"\nopen preservations: {len(stats['open_preservations'])}")
    for c in stats["open_preservations"]:
        until = c["preserved_until"] or "-"
        left = "" if c["days_left"] is None else f" ({c['days_left']} days left)"
        lines.append(
            f"  {c['role']:<9} {c['counterpart']:<6} {c['status']:<20} until {until}{left}"
            f"  ref {c['reference'] or '-'}"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"

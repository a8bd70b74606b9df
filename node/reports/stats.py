"""Statistics of one node (DESIGN.md section 8; DOMAIN.md "Statistics the network needs").

Counts of requests sent and received by kind, counterpart, priority and month; times to
acknowledge and to respond (median and 90th percentile, nearest-rank); outcomes of
preservation requests and refusals by ground; emergency determinations; rejections; open
preservations and their expiry; access records by action. Pure functions of stored rows.

Pings (``ping``, the availability test) and statistics reports are left out of every
figure; pings are counted apart under ``excluded``. ``groups`` holds one entry per month,
kind, counterpart and direction (counts by priority, times to acknowledge and respond);
:func:`to_csv` writes the figures as tidy rows (``period, kind, counterpart, metric,
value``, seconds for times) and :func:`to_table` in human units.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys.encoding import format_time
from node.reports.preservation import PreservationClock
from node.storage.records import AccessRecord, Rejection, StoredMessage, StoredReceipt

EXCLUDED_KINDS = frozenset({"ping", "statistics_report"})
CSV_HEADER = ("period", "kind", "counterpart", "metric", "value")
ALL = "all"

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


def in_period(created_at: datetime | str, since: str | None, until: str | None) -> bool:
    """``created_at`` falls on or after ``since`` (a day ``YYYY-MM-DD`` or an RFC 3339 UTC
    time) and on or before the day ``until`` (included); None for no bound."""
    stamp = created_at if isinstance(created_at, str) else format_time(created_at)
    return (not since or stamp >= since) and (not until or stamp[:10] <= until)


def compute_stats(
    messages: Iterable[StoredMessage],
    receipts: Iterable[StoredReceipt],
    *,
    clocks: Iterable[PreservationClock] = (),
    access: Iterable[AccessRecord] = (),
    rejections: Iterable[Rejection] = (),
    since: str | None = None,
    until: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Every figure of ``node stats`` (times in seconds), for messages created from
    ``since`` to ``until`` (both included), pings left out."""
    all_msgs = list(messages)
    access = [a for a in access if in_period(a.at, since, until)]
    rejections = [r for r in rejections if in_period(r.received_at, since, until)]
    chosen = [m for m in all_msgs if in_period(m.created_at, since, until)]
    msgs = [m for m in chosen if m.kind not in EXCLUDED_KINDS]
    sent = [m for m in msgs if m.direction == "out"]
    received = [m for m in msgs if m.direction == "in"]
    replies: dict[str, list[StoredMessage]] = defaultdict(list)
    for m in all_msgs:
        if m.in_reply_to:
            replies[m.in_reply_to].append(m)
    receipts = list(receipts)
    acks = _first_acks(receipts)
    sent_requests = [m for m in sent if is_request(m)]
    recv_requests = [m for m in received if is_request(m)]

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
        "until": until,
        "excluded": {"pings": sum(1 for m in chosen if m.kind == "ping")},
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
        "groups": _groups(msgs, acks, replies),
    }


def is_request(m: StoredMessage) -> bool:
    """A message that asks for something (not a reply to another)."""
    return m.kind not in REPLY_KINDS and m.in_reply_to is None


def _ack_seconds(m: StoredMessage, acks: dict[str, datetime]) -> float | None:
    if m.direction == "out":
        return _seconds(acks[m.msg_id], m.created_at) if m.msg_id in acks else None
    return _seconds(m.acknowledged_at, m.stored_at) if m.acknowledged_at else None


@dataclass(frozen=True)
class Observation:
    """One message as the statistics see it: no content, no reference, no identifier."""

    period: str  # YYYY-MM of creation (UTC)
    kind: str
    counterpart: str
    direction: str  # sent | received
    priority: str
    ack_s: float | None  # time to acknowledge
    respond_s: float | None  # time to the first answer (requests only)


def _observe(
    m: StoredMessage, acks: dict[str, datetime], replies: dict[str, list[StoredMessage]]
) -> Observation:
    reply = _first_reply(m, replies) if is_request(m) else None
    return Observation(
        period=m.created_at.strftime("%Y-%m"),
        kind=m.kind,
        counterpart=m.counterpart,
        direction="sent" if m.direction == "out" else "received",
        priority=m.priority,
        ack_s=_ack_seconds(m, acks),
        respond_s=_seconds(reply.created_at, m.created_at) if reply is not None else None,
    )


def observations(
    messages: Iterable[StoredMessage],
    receipts: Iterable[StoredReceipt],
    *,
    since: str | None = None,
    until: str | None = None,
) -> list[Observation]:
    """Every message created from ``since`` to ``until`` (pings left out), observed."""
    all_msgs = list(messages)
    replies: dict[str, list[StoredMessage]] = defaultdict(list)
    for m in all_msgs:
        if m.in_reply_to:
            replies[m.in_reply_to].append(m)
    acks = _first_acks(receipts)
    return [
        _observe(m, acks, replies)
        for m in all_msgs
        if in_period(m.created_at, since, until) and m.kind not in EXCLUDED_KINDS
    ]


def _first_acks(receipts: Iterable[StoredReceipt]) -> dict[str, datetime]:
    acks: dict[str, datetime] = {}
    for r in receipts:
        if r.type == "ACKNOWLEDGED" and (r.msg_id not in acks or r.issued_at < acks[r.msg_id]):
            acks[r.msg_id] = r.issued_at
    return acks


def _groups(
    msgs: list[StoredMessage], acks: dict[str, datetime], replies: dict[str, list[StoredMessage]]
) -> list[dict[str, Any]]:
    """One entry per (month, kind, counterpart, direction): counts by priority, and times
    to acknowledge and (requests only) to respond."""
    keyed: dict[tuple[str, str, str, str], list[Observation]] = defaultdict(list)
    for m in msgs:
        o = _observe(m, acks, replies)
        keyed[(o.period, o.kind, o.counterpart, o.direction)].append(o)
    out = []
    for (period, kind, counterpart, direction), group in sorted(keyed.items()):
        out.append(
            {
                "period": period,
                "kind": kind,
                "counterpart": counterpart,
                "direction": direction,
                "count": len(group),
                "by_priority": dict(sorted(Counter(o.priority for o in group).items())),
                "time_to_acknowledge": summary([o.ack_s for o in group if o.ack_s is not None]),
                "time_to_respond": summary([o.respond_s for o in group if o.respond_s is not None]),
            }
        )
    return out


def tidy_rows(stats: dict[str, Any]) -> list[tuple[str, str, str, str, Any]]:
    """The figures as observations ``(period, kind, counterpart, metric, value)``: per
    month, kind and counterpart from ``groups``; the rest over the whole period
    (``since/until``) with ``all`` where a column does not apply. Times in seconds."""
    rows: list[tuple[str, str, str, str, Any]] = []
    for g in stats["groups"]:
        key = (g["period"], g["kind"], g["counterpart"])
        side = g["direction"]
        rows.append((*key, side, g["count"]))
        rows.extend((*key, f"{side}_{p}", n) for p, n in g["by_priority"].items())
        for name, short in (("time_to_acknowledge", "ack"), ("time_to_respond", "respond")):
            s = g[name]
            if s["count"]:
                rows.append((*key, f"{side}_{short}_count", s["count"]))
                rows.append((*key, f"{side}_{short}_median_s", s["median_s"]))
                rows.append((*key, f"{side}_{short}_p90_s", s["p90_s"]))
    whole = f"{stats['since'] or 'start'}/{stats['until'] or stats['generated_at'][:10]}"
    for side, n in stats["unacknowledged"].items():
        rows.append((whole, ALL, ALL, f"unacknowledged_{side}", n))
    for key, n in stats["preservation_outcomes"].items():
        direction, outcome = key.split(":", 1)
        side = "sent" if direction == "out" else "received"
        rows.append((whole, "preservation_response", ALL, f"{side}_{outcome}", n))
    for ground, n in stats["refusals_by_ground"].items():
        rows.append((whole, "preservation_response", ALL, f"refused_{ground}", n))
    for key, n in stats["emergency_determinations"].items():
        direction, outcome = key.split(":", 1)
        side = "sent" if direction == "out" else "received"
        rows.append((whole, "emergency_determination", ALL, f"{side}_{outcome}", n))
    for who, counts in stats["rejected"].items():
        rows.extend((whole, ALL, ALL, f"rejected_{who}_{r}", n) for r, n in counts.items())
    for action, n in stats["access_records"].items():
        rows.append((whole, ALL, ALL, f"access_{action}", n))
    rows.append((whole, ALL, ALL, "open_preservations", len(stats["open_preservations"])))
    rows.append((whole, "ping", ALL, "excluded", stats["excluded"]["pings"]))
    return rows


def to_csv(stats: dict[str, Any]) -> str:
    """Tidy CSV: ``period,kind,counterpart,metric,value``, one observation a row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(tidy_rows(stats))
    return buf.getvalue()


def to_table(stats: dict[str, Any]) -> str:
    """A plain-text report."""
    lines = [
        f"statistics generated {stats['generated_at']}"
        + (f" since {stats['since']}" if stats["since"] else "")
        + (f" until {stats['until']}" if stats["until"] else "")
        + f" (pings left out: {stats['excluded']['pings']})"
    ]
    for side in ("sent", "received"):
        block = stats[side]
        lines.append(f"\n{side}: {block['total']}")
        for key in ("by_kind", "by_counterpart", "by_priority", "by_month"):
            if block[key]:
                items = ", ".join(f"{k} {v}" for k, v in block[key].items())
                lines.append(f"  {key.replace('_', ' ')}: {items}")
    for title in ("time_to_acknowledge", "time_to_respond"):
        lines.append(f"\n{title.replace('_', ' ')}:")
        for side, s in stats[title].items():
            median, p90 = human_duration(s["median_s"]), human_duration(s["p90_s"])
            lines.append(f"  {side:<9} n={s['count']:<5} median {median:<12} p90 {p90}")
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


def human_duration(seconds: float | None) -> str:
    """A duration for people: ``45 s``, ``5 min 30 s``, ``2 h 05 min``, ``3 d 4 h``;
    ``-`` for none. Below a minute, tenths are kept (``1.5 s``)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"

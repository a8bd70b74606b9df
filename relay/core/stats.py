"""``relay stats``: counts and times per counterpart pair, from metadata only.

The relay cannot read a message, so it knows neither its kind nor its content: it counts
envelopes per month, sender and recipient, by priority, the OVERDUE ones, and the times
from acceptance to ``DELIVERED`` and to ``ACKNOWLEDGED`` (median and 90th percentile,
nearest rank). Pings and statistics reports are envelopes like any other here, so the
nodes' request counts are at most these. For cross-checking the nodes' own figures (ADR
0011). Pure: a function of the rows.
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

from relay.storage.metadata import EnvelopeMeta

CSV_HEADER = ("period", "sender", "recipient", "metric", "value")


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_s": None, "p90_s": None}
    ordered = sorted(values)
    rank = max(1, math.ceil(0.9 * len(ordered)))
    return {
        "count": len(values),
        "median_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[rank - 1], 3),
    }


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def relay_stats(rows: Iterable[EnvelopeMeta], *, now: datetime) -> dict[str, Any]:
    """One entry per (month, sender, recipient), and the totals."""
    groups: dict[tuple[str, str, str], list[EnvelopeMeta]] = defaultdict(list)
    for row in rows:
        groups[(row.created_at.strftime("%Y-%m"), row.sender, row.recipient)].append(row)
    pairs = []
    for (period, sender, recipient), items in sorted(groups.items()):
        delivery = [t for r in items if (t := _seconds(r.delivered_at, r.accepted_at)) is not None]
        ack = [t for r in items if (t := _seconds(r.acknowledged_at, r.accepted_at)) is not None]
        pairs.append(
            {
                "period": period,
                "sender": sender,
                "recipient": recipient,
                "envelopes": len(items),
                "by_priority": dict(sorted(Counter(r.priority for r in items).items())),
                "overdue": sum(1 for r in items if r.overdue_at is not None),
                "time_to_delivered": _summary(delivery),
                "time_to_acknowledged": _summary(ack),
            }
        )
    return {
        "generated_at": now.isoformat(),
        "envelopes": sum(p["envelopes"] for p in pairs),
        "overdue": sum(p["overdue"] for p in pairs),
        "pairs": pairs,
    }


def to_csv(stats: dict[str, Any]) -> str:
    """Tidy CSV: ``period,sender,recipient,metric,value`` (seconds for times)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for p in stats["pairs"]:
        key = (p["period"], p["sender"], p["recipient"])
        w.writerow((*key, "envelopes", p["envelopes"]))
        for priority, n in p["by_priority"].items():
            w.writerow((*key, f"envelopes_{priority}", n))
        w.writerow((*key, "overdue", p["overdue"]))
        for name in ("time_to_delivered", "time_to_acknowledged"):
            s = p[name]
            if s["count"]:
                for field in ("count", "median_s", "p90_s"):
                    w.writerow((*key, f"{name}_{field}", s[field]))
    return buf.getvalue()


def to_table(stats: dict[str, Any]) -> str:
    """A plain-text table."""
    lines = [
        f"relay statistics generated {stats['generated_at']}: {stats['envelopes']} envelopes, "
        f"{stats['overdue']} overdue (metadata only: kinds and contents are not visible here)",
        "",
        f"{'period':<8} {'sender':<7} {'recipient':<9} {'env':>5} {'overdue':>7}  "
        f"{'delivered median/p90':<22} acknowledged median/p90",
    ]
    for p in stats["pairs"]:
        d, a = p["time_to_delivered"], p["time_to_acknowledged"]
        lines.append(
            f"{p['period']:<8} {p['sender']:<7} {p['recipient']:<9} {p['envelopes']:>5} "
            f"{p['overdue']:>7}  {_pair(d):<22} {_pair(a)}"
        )
    return "\n".join(lines)


def _pair(s: dict[str, Any]) -> str:
    if not s["count"]:
        return "-"
    return f"{_human(s['median_s'])} / {_human(s['p90_s'])}"


def _human(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"

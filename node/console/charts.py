"""The statistics page's charts as inline SVG, built on the server (no JavaScript, no
style attribute: only SVG presentation attributes, so the console's CSP holds). Pure:
figures in, SVG text out, every label escaped by :func:`node.reports.render_network.stacked_bars`,
the same drawing as the network report's.

- requests per month, stacked by kind (replies and pings left out);
- time to acknowledge and time to respond, as counts per time band (sent and received);
- open preservations, each with the days left before its ``preserved_until``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from node.forms.kinds_reports import TIME_BUCKETS
from node.reports.network import bucket_of
from node.reports.preservation import PreservationClock
from node.reports.render_network import BUCKET_LABELS, stacked_bars
from node.reports.stats import REPLY_KINDS, Observation

MAX_PRESERVATIONS = 20  # bars in the expiry chart, soonest first


def requests_by_month(obs: Iterable[Observation]) -> str:
    requests = [o for o in obs if o.kind not in REPLY_KINDS]
    months = sorted({o.period for o in requests})
    kinds = sorted({o.kind for o in requests})
    counts = Counter((o.period, o.kind) for o in requests)
    series = {k: [float(counts[(m, k)]) for m in months] for k in kinds}
    return stacked_bars("Requests per month, by kind", months, series)


def time_bands(obs: Sequence[Observation], which: str) -> str:
    """Counts per time band of ``which`` (``ack`` or ``respond``), sent and received."""
    title = "Time to acknowledge" if which == "ack" else "Time to respond"
    bands = [b for b, _ in TIME_BUCKETS]
    series: dict[str, list[float]] = {}
    for direction in ("received", "sent"):
        seconds = [
            s
            for o in obs
            if o.direction == direction
            and (s := (o.ack_s if which == "ack" else o.respond_s)) is not None
        ]
        per = Counter(bucket_of(s) for s in seconds)
        series[direction] = [float(per[b]) for b in bands]
    return stacked_bars(
        f"{title} (requests per time band)", [BUCKET_LABELS[b] for b in bands], series
    )


def preservations(clocks: Iterable[PreservationClock]) -> str:
    """Days left of each open preservation with a known end (soonest first)."""
    known = sorted(
        (c for c in clocks if c.is_open and c.days_left is not None),
        key=lambda c: (c.days_left, c.reference or ""),
    )[:MAX_PRESERVATIONS]
    labels = [f"{c.counterpart} {c.reference or c.request_msg_id[:8]}" for c in known]
    days = [float(max(c.days_left or 0, 0)) for c in known]
    return stacked_bars("Open preservations: days left", labels, {"days left": days}, unit=" d")

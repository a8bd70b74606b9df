"""``node stats send`` (a node's signed monthly report to the secretariat) and ``node stats
collect`` (the secretariat's network report), ADR 0011."""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from keys.encoding import format_time
from keys.errors import PocnetError, ValidationError
from keys.host.command import emit
from keys.host.files import write_private
from keys.identities import RELAY_ID, validate_party_id
from node.cli.base import full_node, local_node, now
from node.daemon.statistics import previous_month, send_report
from node.reports.network import (
    REPORT_KIND,
    NetworkReport,
    Received,
    combine,
)
from node.reports.render_network import render
from node.runtime import LocalNode
from node.trust.peers import PeerKeys

_PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_PERIODS = 36


def parse_periods(values: list[str] | None, at: datetime) -> list[str]:
    """``--period`` values (``YYYY-MM``, repeated or comma-separated); the previous month
    when none is given."""
    if not values:
        return [previous_month(at)]
    out = sorted({p.strip() for v in values for p in v.split(",") if p.strip()})
    bad = [p for p in out if not _PERIOD_RE.match(p)]
    if bad:
        raise ValidationError(f"--period must be a month YYYY-MM, not {bad[0][:16]!r}")
    if len(out) > MAX_PERIODS:
        raise ValidationError(f"at most {MAX_PERIODS} months at once")
    return out


async def cmd_stats_send(args: argparse.Namespace) -> int:
    [period] = parse_periods([args.period[-1]] if args.period else None, now())
    if not args.to:
        raise ValidationError("--to PARTY: the secretariat's party is needed")
    to = validate_party_id(args.to)
    async with full_node(args) as node:
        msg_id, outcome, rows = await send_report(node, to, period, now())
    result = {
        "ok": outcome != "failed",
        "msg_id": msg_id,
        "recipient": to,
        "period": period,
        "outcome": outcome,
    }
    text = (
        f"statistics report for {period} to {to}: {outcome} (msg_id {msg_id}); "
        f"{rows} count rows, no content, no references"
    )
    emit(result, as_json=args.json, text=text)
    return 0 if outcome != "failed" else 7


def _inactive(peers: PeerKeys, party: str, at: datetime) -> bool:
    history = peers.key_history(party)
    return history is not None and history.status.inactive_at(at)


async def collect_reports(node: LocalNode, periods: list[str], at: datetime) -> NetworkReport:
    """The secretariat's combination of the reports its node received for ``periods``."""
    peers = node.peers
    received = [
        Received(m.counterpart, m.body, m.msg_id)
        for m in await node.store.list_messages(direction="in", limit=1_000_000)
        if m.kind == REPORT_KIND
    ]
    me = node.config.party
    expected = [
        p for p in peers.parties() if p not in (me, RELAY_ID) and not _inactive(peers, p, at)
    ]
    return combine(
        received,
        periods=periods,
        expected=expected,
        key_at=peers.key_at,
        inactive_now=lambda party: _inactive(peers, party, at),
        now=at,
    )


def write_report(report: NetworkReport, out: Path, at: datetime) -> list[str]:
    """Write every file of the network report into ``out``; their names."""
    files = render(report, generated_at=format_time(at))
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            write_private(out / name, content.encode("utf-8"))
    except OSError as e:
        raise PocnetError(f"cannot write the report to {out}: {e.strerror}") from None
    return sorted(files)


async def cmd_stats_collect(args: argparse.Namespace) -> int:
    periods = parse_periods(args.period, now())
    out = Path(args.out or "network-report")
    at = now()
    async with local_node(args) as node:
        report = await collect_reports(node, periods, at)
    files = write_report(report, out, at)
    summary: dict[str, Any] = {**report.to_dict(), "out": str(out), "files": files}
    lines = [f"network report for {', '.join(periods)} written to {out}/"]
    for p in periods:
        missing = report.missing(p)
        lines.append(
            f"  {p}: {len(report.reported.get(p, []))} report(s); "
            f"{sum(report.requests(p).values())} requests; "
            f"not reported: {', '.join(missing) or '-'}"
        )
    for r in report.refused:
        lines.append(f"  REFUSED {r['period']} from {r['party']}: {r['reason']} ({r['msg_id']})")
    emit(summary, as_json=args.json, text="\n".join(lines))
    return 0


__all__ = [
    "cmd_stats_collect",
    "cmd_stats_send",
    "collect_reports",
    "parse_periods",
    "previous_month",
    "send_report",
    "write_report",
]

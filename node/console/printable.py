"""A message as a person reads it, outside the browser: plain text for the terminal
(``node show --format text``) and a standalone HTML page for printing or filing
(``--format html``). Built from the same pieces as the console's message page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from keys.encoding import format_time
from node.console.board import AckDeadlines, Row, board
from node.console.present import DisplayRow, duration, form_rows, in_zone
from node.evidence.timeline import Timeline
from node.forms import KINDS
from node.forms.registry import fields_for
from node.storage.consolequeries import BoardItem
from node.storage.records import StoredMessage

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Readable:
    """What a reader needs of one message."""

    msg: StoredMessage
    title: str
    basis: str
    rows: list[DisplayRow]
    timeline: Timeline
    sent_utc: str
    sent_sender_zone: str


def readable(msg: StoredMessage, timeline: Timeline, sender_zone: str | None) -> Readable:
    spec = KINDS.get(msg.kind)
    body = msg.body
    zone = body.get("time_zone") if isinstance(body.get("time_zone"), str) else sender_zone
    rows = form_rows(fields_for(spec) if spec else (), body)
    return Readable(
        msg,
        spec.title if spec else msg.kind,
        spec.basis if spec else "",
        rows,
        timeline,
        format_time(msg.created_at),
        in_zone(msg.created_at, zone),
    )


def as_text(r: Readable) -> str:
    m = r.msg
    way = "from" if m.direction == "in" else "to"
    lines = [
        f"{r.title} ({m.kind}), {m.priority.upper()}",
        f"{way} {m.counterpart}; sent {r.sent_utc}"
        + (f" (sender's time {r.sent_sender_zone})" if r.sent_sender_zone else ""),
        f"state {m.state}; msg_id {m.msg_id}; conversation {m.conversation_id}",
    ]
    if r.basis:
        lines.append(f"legal basis: {r.basis}")
    lines.append("")
    for row in r.rows:
        pad = "  " * row.depth
        mark = " <<" if row.highlight and row.value else ""
        lines.append(f"{pad}{row.label}:" + (f" {row.value}{mark}" if row.value else ""))
    lines += ["", "Timeline of signed receipts:"]
    for e in r.timeline.entries:
        where = f"  [{e.audit_log}]" if e.audit_log else ""
        lines.append(f"  {e.at}  {e.event:<14} {e.issuer:<8} signature {e.signature}{where}")
    verdict = "all valid" if r.timeline.all_signatures_valid else "NOT ALL VALID"
    lines.append(f"signatures: {verdict}")
    return "\n".join(lines)


def as_html(r: Readable, printed_at: datetime, printed_by: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    css = (HERE / "static" / "console.css").read_text(encoding="utf-8")
    css += (HERE / "static" / "print.css").read_text(encoding="utf-8")
    return env.get_template("printable.html").render(
        r=r, css=css, printed_at=printed_at.isoformat(), printed_by=printed_by
    )


def inbox_sections(
    messages: list[StoredMessage], acked: frozenset[str], ack: AckDeadlines, now: datetime
) -> list[tuple[str, list[Row]]]:
    """``node inbox`` in the console's order, under headings: what needs someone now,
    other open work, the rest (empty sections left out)."""
    items = [
        BoardItem(
            m.msg_id, m.direction, m.counterpart, m.kind, m.priority,
            format_time(m.created_at), format_time(m.expires_at), m.reference, m.state,
            format_time(m.acknowledged_at) if m.acknowledged_at else None,
        )
        for m in messages
    ]  # fmt: skip
    rows = board(items, acked, ack, now)
    titles = ("NEEDS ACTION NOW (emergency, urgent, overdue)", "OPEN", "DONE")
    out: list[tuple[str, list[Row]]] = []
    for rank, title in enumerate(titles):
        mine = [r for r in rows if r.rank == rank]
        if mine:
            out.append((title, mine))
    return out


def inbox_text(sections: list[tuple[str, list[Row]]], now: datetime, what: Any) -> str:
    if not sections:
        return f"no {what} messages"
    lines: list[str] = []
    for title, rows in sections:
        lines.append(f"{title} ({len(rows)})")
        for r in rows:
            m = r.msg
            left = ""
            if r.deadline_at is not None:
                when = "since" if r.deadline_at <= now else "in"
                left = f"  {r.deadline_label} {when} {duration(r.deadline_at - now)}"
            lines.append(
                f"  {m.msg_id[:12]}  {m.created_at[:16]}  {m.counterpart:<6} {m.priority:<9} "
                f"{m.kind:<28} {m.state:<12} {m.reference or ''}{left}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()

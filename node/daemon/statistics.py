"""The monthly statistics report to the secretariat (ADR 0011): building and sending one
(``node stats send`` and the daemon), and when the daemon sends it (a pure decision)."""

from __future__ import annotations

from datetime import datetime

from keys.errors import ValidationError
from node.forms import FormDefaults, validate_form
from node.reports.network import REPORT_KIND, build_report, sign_report
from node.runtime import Node


def previous_month(at: datetime) -> str:
    """The month before ``at``'s (UTC): what the monthly schedule reports."""
    year, month = (at.year, at.month - 1) if at.month > 1 else (at.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def report_due(now: datetime, *, send_day: int, sent: set[str]) -> str | None:
    """The month whose report is due at ``now``: last month, from day ``send_day`` of this
    one, unless already sent; None otherwise."""
    period = previous_month(now)
    if now.day < send_day or period in sent:
        return None
    return period


async def sent_periods(node: Node, to: str) -> set[str]:
    """Months already reported to ``to`` (not counting reports the relay refused)."""
    out = set()
    for m in await node.store.list_messages(direction="out", limit=100_000):
        if m.kind == REPORT_KIND and m.counterpart == to and m.state != "failed":
            period = m.body.get("period")
            if isinstance(period, str):
                out.add(period)
    return out


async def send_report(node: Node, to: str, period: str, at: datetime) -> tuple[str, str, int]:
    """Build, sign and send ``node``'s report for ``period`` to ``to``:
    (msg_id, outcome of the submission, number of count rows)."""
    if to == node.config.party:
        raise ValidationError("you cannot send a report to yourself", code="self_recipient")
    figures = build_report(
        node.config.party,
        period,
        await node.store.list_messages(limit=1_000_000),
        await node.store.all_receipts(),
        now=at,
    )
    body = sign_report(figures, node.keystore.signing_key)
    # No authority defaults: the report carries figures only.
    form = validate_form(
        REPORT_KIND, body, now=at, defaults=FormDefaults(language=node.config.language)
    )
    if not node.peers.knows(to):
        await node.peers.refresh(node.transport, at)
    msg = await node.outbox.queue(to, form, at)
    outcome = await node.outbox.submit(msg, at)
    return msg.msg_id, outcome, len(figures["counts"])


__all__ = ["previous_month", "report_due", "send_report", "sent_periods"]

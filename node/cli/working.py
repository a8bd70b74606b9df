"""``node inbox``, ``node show``, ``node status`` (``node evidence``: node/cli/evidence.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from keys.encoding import format_time
from keys.errors import PocnetError, ValidationError
from keys.host.command import EXIT_REFUSED, emit
from keys.host.files import write_private
from node.cli.attachments import attachment_lines
from node.cli.base import local_node, now, os_user
from node.cli.overview import overview
from node.cli.overview import render as render_overview
from node.console.board import AckDeadlines
from node.console.filing import message_pdf
from node.console.present import in_zone
from node.console.printable import as_html, as_text, inbox_sections, inbox_text, readable
from node.evidence.auditview import proven_timeline
from node.evidence.timeline import render_text
from node.forms import KINDS
from node.forms.i18n import printable
from node.forms.migrate import migrate
from node.runtime import LocalNode
from node.storage.states import OPEN_INCOMING

# How far a sent message got, lowest first; a reply outranks every receipt.
_PROGRESS = ("ACCEPTED", "DELIVERED", "OVERDUE", "EXPIRED", "RETRIEVED", "ACKNOWLEDGED")
_FINAL = ("REJECTED",)


async def _sent_progress(node: LocalNode, msg_id: str, state: str) -> str:
    """The state shown for a sent message: ``replied`` once answered, else the furthest
    receipt received (``rejected`` wins), else the stored state (queued, failed)."""
    if await node.store.replies_to(msg_id):
        return "replied"
    types = {r.type for r in await node.store.receipts_for(msg_id) if r.origin != "self"}
    for final in _FINAL:
        if final in types:
            return final.lower()
    reached = [t for t in _PROGRESS if t in types]
    return reached[-1].lower() if reached else state


async def cmd_inbox(args: argparse.Namespace) -> int:
    async with local_node(args) as node:
        states = OPEN_INCOMING if args.open else None
        direction = "out" if args.sent else "in"
        msgs = await node.store.list_messages(
            direction=direction, states=states, priority=args.priority, limit=args.limit
        )
        rows = [m.summary() for m in msgs]
        if args.sent:
            for row in rows:
                row["state"] = await _sent_progress(node, row["msg_id"], row["state"])
        # the text: the console's order under headings (emergencies and overdue first)
        ack = AckDeadlines(
            node.config.alerts.ack_deadline_urgent, node.config.alerts.ack_deadline_emergency
        )
        shown = [dataclasses.replace(m, state=r["state"]) for m, r in zip(msgs, rows, strict=True)]
        sections = inbox_sections(shown, await node.store.acknowledged_ids(), ack, now())
    what = "sent" if args.sent else "received"
    text = inbox_text(sections, now(), what + (" open" if args.open else ""))
    emit({"messages": rows}, as_json=args.json, text=text)
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    if args.format == "pdf":
        return await _show_pdf(args)
    async with local_node(args) as node:
        msg = await node.store.get_message(args.id)
        await node.store.record_access(
            action="display", msg_id=msg.msg_id, os_user=os_user(), now=format_time(now())
        )
        if args.format in ("text", "html") and not args.json and not args.lang:
            _, _, timeline = await _timeline(node, msg.msg_id)
            zone = _contact_zone(node, msg.counterpart) if msg.direction == "in" else None
            view = readable(msg, timeline, zone)
            page = as_text(view) if args.format == "text" else as_html(view, now(), os_user())
            files = await node.store.attachments_of(msg.msg_id)
            emit({}, as_json=False, text=page + attachment_lines(files))
            return 0
        files = await node.store.attachments_of(msg.msg_id)
    content = msg.content
    # An attachment's key opens its chunks: it stays in the database, not on a screen.
    content["attachments"] = [
        {k: v for k, v in a.items() if k != "key"} for a in content.get("attachments", [])
    ]
    result = {**msg.summary(), "message": content}
    result["attachment_files"] = [f.to_dict() for f in files]
    header = (
        f"{msg.kind} {'to' if msg.direction == 'out' else 'from'} {msg.counterpart} "
        f"({msg.priority}), sent {format_time(msg.created_at)}, state {msg.state}\n"
        f"msg_id {msg.msg_id}  conversation {msg.conversation_id}"
        + (f"  in reply to {msg.in_reply_to}" if msg.in_reply_to else "")
    )
    shown = migrate(msg.kind, content["body"])  # an old form version, in today's fields
    if args.lang and msg.kind in KINDS:
        text = header + "\n\n" + printable(msg.kind, shown, args.lang)
    else:
        text = header + "\n" + json.dumps(shown, indent=2, ensure_ascii=False)
    emit(result, as_json=args.json, text=text + attachment_lines(files))
    return 0


async def _show_pdf(args: argparse.Namespace) -> int:
    """``node show ID --format pdf --out FILE``: the document a prosecutor files."""
    if args.out is None:
        raise ValidationError("usage: node show ID --format pdf --out FILE", code="usage")
    zone = args.zone
    if zone is not None and not in_zone(now(), zone):
        raise ValidationError(f"unknown time zone {zone!r} (an IANA name)", code="bad_zone")
    async with local_node(args) as node:
        msg = await node.store.get_message(args.id)
        moment = now()
        pdf = await message_pdf(
            node.store,
            node.peers,
            msg,
            own_party=node.config.party,
            officer_zone=zone or node.config.authority.get("time_zone") or None,
            printed_at=moment,
            printed_by=os_user(),
        )
        write_private(args.out, pdf)
        await node.store.record_access(
            action="export",
            msg_id=msg.msg_id,
            os_user=os_user(),
            now=format_time(moment),
            detail=f"pdf {args.out}"[:200],
        )
    result = {"msg_id": msg.msg_id, "out": str(args.out), "bytes": len(pdf)}
    emit(result, as_json=args.json, text=f"PDF of {msg.msg_id} written to {args.out}")
    return 0


def _contact_zone(node: LocalNode, party: str) -> str | None:
    """The party's time zone from the signed directory, if there is one."""
    current = getattr(node.peers, "current", None)
    if current is not None and party in current:
        return str(current.contact(party).timezone)
    return None


async def _timeline(node: LocalNode, msg_id: str) -> Any:
    msg = await node.store.get_message(msg_id)
    stored = await node.store.receipts_for(msg.msg_id)
    return msg, stored, await proven_timeline(node.store, node.peers, msg)


async def cmd_status(args: argparse.Namespace) -> int:
    if args.id is None:  # the node at a glance
        async with local_node(args) as node:
            view = await overview(node, now())
        emit(view, as_json=args.json, text=render_overview(view))
        return 0
    async with local_node(args) as node:
        msg, _, timeline = await _timeline(node, args.id)
        if msg.direction == "out":
            state = await _sent_progress(node, msg.msg_id, timeline.state)
            timeline = dataclasses.replace(timeline, state=state)
    emit(timeline.to_dict(), as_json=args.json, text=render_text(timeline))
    about_it = any(a.get("msg_id") == msg.msg_id for a in timeline.audit_alarms)
    return 0 if timeline.all_signatures_valid and not about_it else EXIT_REFUSED


__all__ = ["PocnetError", "cmd_inbox", "cmd_show", "cmd_status"]

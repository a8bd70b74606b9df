"""``node inbox``, ``node show``, ``node status``, ``node evidence``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from keys.auditlog.checkpoint import origin_for
from keys.encoding import format_time, loads_strict
from keys.errors import NotFound, PocnetError, ValidationError
from keys.host.command import EXIT_REFUSED, emit
from keys.host.files import write_private
from node import config as node_config
from node.audit.auditor import auditor_for
from node.cli.base import data_dir, full_node, local_node, now, os_user
from node.cli.overview import overview
from node.cli.overview import render as render_overview
from node.console.board import AckDeadlines
from node.console.printable import as_html, as_text, inbox_sections, inbox_text, readable
from node.evidence.auditview import proven_timeline
from node.evidence.bundle import MAX_EVIDENCE_BYTES, export_bundle, verify_bundle_doc
from node.evidence.timeline import render_text
from node.forms import KINDS
from node.forms.i18n import printable
from node.forms.migrate import migrate
from node.logs import get_logger
from node.runtime import LocalNode, open_local
from node.storage.states import OPEN_INCOMING
from node.trust.keyhistory import KeyHistory

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
            emit({}, as_json=False, text=page)
            return 0
    content = msg.content
    result = {**msg.summary(), "message": content}
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
    emit(result, as_json=args.json, text=text)
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


async def cmd_evidence(args: argparse.Namespace) -> int:
    if args.target[0] == "verify":
        if len(args.target) != 2:
            raise ValidationError("usage: node evidence verify FILE", code="usage")
        return await _verify(args, Path(args.target[1]))
    if len(args.target) != 1 or args.out is None:
        raise ValidationError("usage: node evidence ID --out FILE", code="usage")
    relay_evidence = None
    if args.fetch:
        async with full_node(args) as node:
            msg = await node.store.get_message(args.target[0])
            # Prove what can be proven now, so the bundle carries it.
            await auditor_for(node).run_once(now(), force=True, msg_id=msg.msg_id)
            relay_evidence = await node.transport.evidence(msg.msg_id)
    async with local_node(args) as node:
        msg = await node.store.get_message(args.target[0])
        doc = await export_bundle(
            node.store,
            node.peers,
            msg,
            origin=origin_for(node.config.audit.network),
            exported_at=format_time(now()),
            exported_by=node.config.party,
            relay_evidence=relay_evidence,
            with_content=args.with_content,
        )
        write_private(args.out, json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n")
        await node.store.record_access(
            action="export_content" if args.with_content else "export",
            msg_id=msg.msg_id,
            os_user=os_user(),
            now=format_time(now()),
            detail=str(args.out)[:200],
        )
    proven = len(doc["audit"]["proofs"]) if doc["audit"] else 0
    receipts = len(doc["receipts"])
    result = {
        "msg_id": msg.msg_id,
        "out": str(args.out),
        "receipts": receipts,
        "audit_proofs": proven,
        "with_content": doc["content"] is not None,
    }
    emit(
        result,
        as_json=args.json,
        text=f"evidence of {msg.msg_id} ({receipts} receipts, {proven} proven in the "
        f"relay's audit log{', with the signed content' if doc['content'] else ''}) written to "
        f"{args.out}",
    )
    return 0


async def _pinned_keys(args: argparse.Namespace) -> dict[str, KeyHistory] | None:
    """The key histories this node trusts (its directory), if a node is configured here;
    else None."""
    folder = data_dir(args)
    if not (folder / node_config.CONFIG_NAME).exists():
        return None
    cfg = node_config.load(folder)
    node = await open_local(cfg, get_logger(party=cfg.party))
    try:
        return {p: h for p in node.peers.parties() if (h := node.peers.key_history(p))}
    finally:
        await node.close()


async def _verify(args: argparse.Namespace, path: Path) -> int:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_EVIDENCE_BYTES + 1)
    except FileNotFoundError as e:
        raise NotFound(f"no evidence file at {path}", code="file_not_found", fault="local") from e
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from e
    doc = loads_strict(raw, max_bytes=MAX_EVIDENCE_BYTES)
    pinned = None if args.included_keys else await _pinned_keys(args)
    report = verify_bundle_doc(doc, None if pinned is None else pinned.get)
    lines = [f"evidence of {report.msg_id}: {'VALID' if report.valid else 'NOT VALID'}"]
    lines += [
        f"  [{'ok' if c['ok'] else 'FAIL'}] {c['check']}"
        + (f" ({c['note']})" if c.get("note") else "")
        for c in report.checks
    ]
    lines += [f"  note: {n}" for n in report.notes]
    if report.content is not None:
        c = report.content
        lines.append(
            f"  content: {c['kind']} from {c['sender']} to {c['recipient']}, created "
            f"{c['created_at']}, {len(c['attachments'])} attachment(s); "
            "'--json' shows the whole message"
        )
    if report.directory is not None:
        lines.append(
            f"  note: the bundle's keys are those of directory version "
            f"{report.directory['version']} (payload sha256 {report.directory['payload_sha256']})"
        )
    if report.key_source == "included":
        lines.append(
            "  note: checked with the keys inside the bundle (consistency only); run it where "
            "a node has pinned the parties' keys for an independent check"
        )
    emit(report.to_dict(), as_json=args.json, text="\n".join(lines))
    return 0 if report.valid else EXIT_REFUSED


__all__ = ["PocnetError", "cmd_evidence", "cmd_inbox", "cmd_show", "cmd_status"]

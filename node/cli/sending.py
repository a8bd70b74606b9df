"""``node send``, ``node respond``, ``node flush``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from keys.encoding import format_time
from keys.errors import InvalidInput
from keys.host.command import EXIT_CONFIG, EXIT_UNREACHABLE, emit
from keys.identities import normalise_party_id
from node.cli.base import form_defaults, full_node, is_terminal, now, os_user
from node.cli.faults import pause_at
from node.cli.formfile import read_form
from node.cli.interactive import complete_interactively
from node.exchange.acknowledge import acknowledge
from node.exchange.alerts import Alert
from node.exchange.answer import Sender, Sent, request_form, respond, send_form
from node.exchange.attachments import AttachmentDirs
from node.forms import ValidatedForm, validate_form
from node.forms.i18n import language_warning
from node.relayapi.misconfig import RelayConfigError
from node.runtime import Node
from node.storage.states import OutboxState


def _read(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    if args.form is None:
        return {}
    return read_form(args.form, max_bytes=node.config.limits.max_form_bytes)


async def _recipient_key_known(node: Node, party: str) -> None:
    """Make sure the recipient's key is known; fetch the directory once if not (or if the
    one in force has expired)."""
    if node.peers.knows(party) and node.peers.unusable(now()) is None:
        return
    await node.peers.refresh(node.transport, now())
    node.peers.encryption_key_for(party, now())  # NotFound (fault local): unknown party


def call_instead(node: Node, party: str, moment: datetime) -> dict[str, str | None]:
    """Who to phone when an emergency cannot go through the network: the party's 24/7
    phone (directory, else node.toml [contacts]) and the time it is there now."""
    phone = node.peers.contact_phone(party)
    current = getattr(node.peers, "current", None)
    zone = None
    if current is not None and party in current:
        zone = current.contact(party).timezone
    local = None
    if zone:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            local = moment.astimezone(ZoneInfo(zone)).strftime("%H:%M %Z (%a)")
    return {"phone": phone, "time_zone": zone, "local_time": local}


def _call_text(party: str, call: dict[str, str | None]) -> str:
    phone = call["phone"] or "(no phone known: add it to node.toml [contacts])"
    when = f", where it is {call['local_time']}" if call["local_time"] else ""
    return f"\nCALL {party}'s 24/7 point of contact now: {phone}{when}"


async def _emergency_alert(node: Node, msg_id: str, call: dict[str, str | None]) -> None:
    stored = await node.store.get_message(msg_id)
    stamp = format_time(now())
    detail = {**call, "state": stored.state, "error": stored.last_error}
    detail["advice"] = f"call {stored.counterpart}'s 24/7 point of contact now"
    aid = f"emergency_not_delivered:{msg_id}"
    await node.alerter.raise_alert(
        Alert.about(stored, "emergency_not_delivered", stamp, detail, id=aid)
    )


def _sender(node: Node) -> Sender:
    return Sender(
        node.store,
        node.outbox,
        node.keystore.signing_key,
        node.config.party,
        AttachmentDirs.under(node.config.data_dir),
    )


def _validator(args: argparse.Namespace) -> Callable[..., ValidatedForm]:
    """The CLI's validation: interactive completion on a terminal, else the validator."""
    if is_terminal() and not args.no_input and not args.json:
        return lambda kind, data, **kw: complete_interactively(kind, data, input, **kw)
    return validate_form


async def _report(
    node: Node, recipient: str, form: ValidatedForm, sent: Sent
) -> tuple[int, dict[str, Any], str]:
    """Exit code, JSON result and text for a form handed to the shared sending path."""
    result = {
        "ok": sent.ok,
        "msg_id": sent.msg_id,
        "recipient": recipient,
        "kind": form.kind,
        "priority": form.priority,
        "state": sent.state,
    }
    call_line = ""
    if form.priority == "emergency" and sent.outcome != "accepted":
        call = call_instead(node, recipient, now())
        call_line = _call_text(recipient, call)
        result["call"] = call
        await _emergency_alert(node, sent.msg_id, call)
    if sent.outcome == "accepted":
        text = (
            f"accepted by the relay: {form.kind} to {recipient} ({form.priority}), "
            f"msg_id {sent.msg_id}\nfollow it with 'node status {sent.msg_id[:8]}'"
        )
        return 0, result, text
    error = sent.error
    if sent.outcome == "retrying" and isinstance(error, RelayConfigError):
        # Not an outage: waiting will not help. Kept queued; sent once the setting is fixed.
        result.update(queued=True, ok=False, error=error.code, setting=error.setting)
        text = (
            f"NOT SENT: {error.message}\nthe {form.kind} to {recipient} is kept queued "
            f"(msg_id {sent.msg_id}) and goes out once {error.setting} is fixed{call_line}"
        )
        return EXIT_CONFIG, result, text
    if sent.outcome == "retrying":
        result["queued"] = True
        text = (
            f"queued: the relay did not answer ({sent.last_error}); the {form.kind} to "
            f"{recipient} is stored (msg_id {sent.msg_id}) and will be delivered by the "
            f"daemon ('node run') or 'node flush'{call_line}"
        )
        return 0, result, text
    result["error"] = sent.last_error
    text = (
        f"refused by the relay: {sent.last_error}\nthe message {sent.msg_id} is kept as "
        f"failed; check the recipient and your registration with the relay operator{call_line}"
    )
    return 7, result, text


async def cmd_send(args: argparse.Namespace) -> int:
    recipient = normalise_party_id(args.to)
    async with full_node(args) as node:
        accepted = node.peers.accepted_languages(recipient)
        if accepted and is_terminal() and not args.json:
            print(f"{recipient} accepts requests in: {', '.join(accepted)}", file=sys.stderr)
        form = request_form(
            node.config.party,
            recipient,
            args.kind,
            _read(args, node),
            now=now(),
            priority=args.priority,
            validate=_validator(args),
            defaults=form_defaults(node.config),
        )
        await _recipient_key_known(node, recipient)
        accepted = node.peers.accepted_languages(recipient)
        warning = language_warning(form.language, accepted, recipient)
        sent = await send_form(
            _sender(node), recipient, form, now, files=args.attach or (), pause=pause_at
        )
        code, result, text = await _report(node, recipient, form, sent)
    result["recipient_languages"] = list(accepted)
    if warning:
        result["warnings"] = [warning]
        if not args.json:
            print(f"warning: {warning}", file=sys.stderr)
    emit(result, as_json=args.json, text=text)
    return code


async def cmd_respond(args: argparse.Namespace) -> int:
    async with full_node(args) as node:
        original = await node.store.get_message(args.id)
        form, sent = await respond(
            _sender(node),
            original,
            args.kind,
            _read(args, node),
            who=os_user(),
            clock=now,
            priority=args.priority,
            validate=_validator(args),
            before_send=lambda party: _recipient_key_known(node, party),
            pause=pause_at,
            defaults=form_defaults(node.config),
            files=args.attach or (),
        )
        code, result, text = await _report(node, original.counterpart, form, sent)
    emit(result, as_json=args.json, text=text)
    return code


async def _acknowledge(node: Node, msg_id: str, envelope_sha256: str) -> bool:
    """Queue an ACKNOWLEDGED receipt for a received message and try to post it."""
    moment = now()
    return await acknowledge(
        node.store,
        node.outbox,
        node.keystore.signing_key,
        node.config.party,
        msg_id,
        envelope_sha256,
        who=os_user(),
        now=moment,
        later=now(),  # due now: queued after the receipt's own time
    )


async def cmd_ack(args: argparse.Namespace) -> int:
    async with full_node(args) as node:
        msg = await node.store.get_message(args.id)
        if msg.direction != "in":
            raise InvalidInput(
                f"{msg.msg_id} is a message you sent; only received ones are acknowledged",
                code="not_received",
            )
        fresh = await _acknowledge(node, msg.msg_id, msg.envelope_sha256)
        pending = await node.store.pending_receipts("")
    queued = any(r.msg_id == msg.msg_id and r.type == "ACKNOWLEDGED" for r in pending)
    result = {"msg_id": msg.msg_id, "acknowledged": True, "already": not fresh, "queued": queued}
    if not fresh:
        text = f"{msg.msg_id} was already acknowledged"
    elif queued:
        text = (
            f"acknowledged {msg.msg_id}; the relay did not answer, so the ACKNOWLEDGED receipt "
            "is queued and will be posted by the daemon"
        )
    else:
        text = f"acknowledged {msg.msg_id}: {msg.counterpart} is told you have it in hand"
    emit(result, as_json=args.json, text=text)
    return 0


async def cmd_retry(args: argparse.Namespace) -> int:
    """``node retry ID...``: send failed requests again (after the cause is fixed)."""
    async with full_node(args) as node:
        ids = []
        for given in args.ids:
            msg = await node.store.get_message(given)
            if msg.direction != "out" or msg.state != OutboxState.FAILED:
                raise InvalidInput(
                    f"{msg.msg_id} is not a sent request that failed (it is {msg.state})",
                    code="not_failed",
                )
            ids.append(msg.msg_id)
        requeued = await node.store.requeue_failed(ids)
    return await _flush(args, requeued)


async def cmd_flush(args: argparse.Namespace) -> int:
    requeued: list[str] = []
    if getattr(args, "failed", False):
        async with full_node(args) as node:
            requeued = await node.store.requeue_failed()
    return await _flush(args, requeued)


async def _flush(args: argparse.Namespace, requeued: list[str]) -> int:
    async with full_node(args) as node:
        report = await node.outbox.flush(now(), everything=True)
        queued = await node.store.due_outgoing("")
    result = report.to_dict()
    result["still_queued"] = len(queued)
    result["requeued"] = requeued
    text = f"sent again: {len(requeued)} failed request(s)\n" if requeued else ""
    text += (
        f"accepted {len(report.accepted)}, still queued {len(queued)}, failed "
        f"{len(report.failed)}, receipts posted {report.receipts_posted} (pending "
        f"{report.receipts_pending})"
    )
    if report.unreachable:
        text += "\nthe relay did not answer: the rest is kept and retried"
    emit(result, as_json=args.json, text=text)
    return EXIT_UNREACHABLE if report.unreachable else 0

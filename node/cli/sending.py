"""``node send``, ``node respond``, ``node flush``."""

from __future__ import annotations

import argparse
import contextlib
import sys
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
from node.exchange.attachments import AttachmentDirs, seal_files
from node.forms import KINDS, ValidatedForm, validate_form
from node.forms.i18n import language_warning
from node.forms.replies import reply_priority
from node.relayapi.misconfig import RelayConfigError
from node.runtime import Node
from node.storage.states import OutboxState


def _read(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    if args.form is None:
        return {}
    return read_form(args.form, max_bytes=node.config.limits.max_form_bytes)


def _validate(
    args: argparse.Namespace,
    node: Node,
    data: dict[str, Any],
    *,
    request_time: datetime | None = None,
    priority: str | None = None,
) -> ValidatedForm:
    defaults = form_defaults(node.config)
    kw: dict[str, Any] = {
        "now": now(),
        "request_time": request_time,
        "priority": args.priority or priority,
        "defaults": defaults,
    }
    if is_terminal() and not args.no_input and not args.json:
        return complete_interactively(args.kind, data, input, **kw)
    return validate_form(args.kind, data, **kw)


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


async def _send(
    args: argparse.Namespace,
    node: Node,
    recipient: str,
    form: ValidatedForm,
    *,
    conversation_id: str | None = None,
    in_reply_to: str | None = None,
) -> tuple[int, dict[str, Any], str]:
    # Queued due only after [outbox] send_grace_seconds: the daemon leaves it to us unless
    # we die first; an unanswered submit below sets the usual backoff instead.
    pause_at("started")
    files = getattr(args, "attach", None) or []
    sealed_files = seal_files(files, AttachmentDirs.under(node.config.data_dir)) if files else ()
    msg = await node.outbox.queue(
        recipient,
        form,
        now(),
        conversation_id=conversation_id,
        in_reply_to=in_reply_to,
        attachments=sealed_files,
    )
    pause_at("queued")
    outcome, error = await node.outbox.submit_explained(msg, now())
    pause_at("submitted")
    stored = await node.store.get_message(msg.msg_id)
    result = {
        "ok": outcome != "failed",
        "msg_id": msg.msg_id,
        "recipient": recipient,
        "kind": form.kind,
        "priority": form.priority,
        "state": stored.state,
    }
    call_line = ""
    if form.priority == "emergency" and outcome != "accepted":
        call = call_instead(node, recipient, now())
        call_line = _call_text(recipient, call)
        result["call"] = call
        await _emergency_alert(node, msg.msg_id, call)
    if outcome == "accepted":
        text = (
            f"accepted by the relay: {form.kind} to {recipient} ({form.priority}), "
            f"msg_id {msg.msg_id}\nfollow it with 'node status {msg.msg_id[:8]}'"
        )
        return 0, result, text
    if outcome == "retrying" and isinstance(error, RelayConfigError):
        # Not an outage: waiting will not help. Kept queued; sent once the setting is fixed.
        result.update(queued=True, ok=False, error=error.code, setting=error.setting)
        text = (
            f"NOT SENT: {error.message}\nthe {form.kind} to {recipient} is kept queued "
            f"(msg_id {msg.msg_id}) and goes out once {error.setting} is fixed{call_line}"
        )
        return EXIT_CONFIG, result, text
    if outcome == "retrying":
        result["queued"] = True
        text = (
            f"queued: the relay did not answer ({stored.last_error}); the {form.kind} to "
            f"{recipient} is stored (msg_id {msg.msg_id}) and will be delivered by the "
            f"daemon ('node run') or 'node flush'{call_line}"
        )
        return 0, result, text
    result["error"] = stored.last_error
    text = (
        f"refused by the relay: {stored.last_error}\nthe message {msg.msg_id} is kept as "
        f"failed; check the recipient and your registration with the relay operator{call_line}"
    )
    return 7, result, text


async def cmd_send(args: argparse.Namespace) -> int:
    recipient = normalise_party_id(args.to)
    async with full_node(args) as node:
        if recipient == node.config.party:
            raise InvalidInput("you cannot send a request to yourself", code="self_recipient")
        accepted = node.peers.accepted_languages(recipient)
        if accepted and is_terminal() and not args.json:
            print(f"{recipient} accepts requests in: {', '.join(accepted)}", file=sys.stderr)
        form = _validate(args, node, _read(args, node))
        await _recipient_key_known(node, recipient)
        accepted = node.peers.accepted_languages(recipient)
        warning = language_warning(form.language, accepted, recipient)
        code, result, text = await _send(args, node, recipient, form)
    result["recipient_languages"] = list(accepted)
    if warning:
        result["warnings"] = [warning]
        if not args.json:
            print(f"warning: {warning}", file=sys.stderr)
    emit(result, as_json=args.json, text=text)
    return code


def answerable(original_kind: str, direction: str, reply_kind: str) -> InvalidInput | None:
    """Why ``reply_kind`` cannot answer a message, or None: only a message this node
    received can be answered, and only by a kind that answers its kind (its form lists the
    kinds it answers, ``*`` for any)."""
    if direction != "in":
        return InvalidInput(
            "this is a message you sent, not one you received: only received messages can "
            "be answered (to add to your own request, use 'node send' with its reference)",
            code="not_received",
        )
    spec = KINDS.get(reply_kind)
    answers = spec.answers if spec is not None else ()
    if "*" in answers or original_kind in answers:
        return None
    fitting = sorted(k for k, s in KINDS.items() if original_kind in s.answers or "*" in s.answers)
    return InvalidInput(
        f"a {reply_kind} does not answer a {original_kind}; kinds that do: {', '.join(fitting)}",
        code="reply_kind_mismatch",
    )


async def cmd_respond(args: argparse.Namespace) -> int:
    async with full_node(args) as node:
        original = await node.store.get_message(args.id)
        refusal = answerable(original.kind, original.direction, args.kind)
        if refusal is not None:
            raise refusal
        data = _read(args, node)
        reference = original.body.get("reference")
        if isinstance(reference, str) and not data.get("request_reference"):
            data["request_reference"] = reference
        # A reply inherits the request's priority unless --priority or the form says.
        inherited = None if data.get("urgency") else reply_priority(args.kind, original.priority)
        form = _validate(args, node, data, request_time=original.created_at, priority=inherited)
        recipient = original.counterpart
        await _recipient_key_known(node, recipient)
        if original.acknowledged_at is None:
            await _acknowledge(node, original.msg_id, original.envelope_sha256)
        code, result, text = await _send(
            args,
            node,
            recipient,
            form,
            conversation_id=original.conversation_id,
            in_reply_to=original.msg_id,
        )
        if result["ok"]:
            if original.direction == "in":
                await node.store.mark_responded(original.msg_id)
            await node.store.record_access(
                action="answer",
                msg_id=original.msg_id,
                os_user=os_user(),
                now=_stamp(),
                detail=f"{form.kind} {result['msg_id']}",
            )
    emit(result, as_json=args.json, text=text)
    return code


def _stamp() -> str:
    return format_time(now())


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

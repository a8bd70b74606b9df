"""``node send``, ``node respond``, ``node flush``."""

from __future__ import annotations

import argparse
import contextlib
from datetime import datetime
from typing import Any

from keys import receipts
from keys.encoding import format_time, parse_time
from keys.errors import PocnetError, ValidationError
from keys.host.command import EXIT_UNREACHABLE, emit
from keys.identities import validate_party_id
from node.cli.base import form_defaults, full_node, is_terminal, now, os_user
from node.cli.faults import pause_at
from node.cli.formfile import read_form
from node.cli.interactive import complete_interactively
from node.forms import KINDS, ValidatedForm, validate_form
from node.forms.validate import PRIORITIES
from node.runtime import Node


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


def _reply_priority(kind: str, request_priority: str) -> str:
    """The request's priority, or the reply kind's default when that is higher."""
    spec = KINDS.get(kind)
    default = spec.default_priority if spec is not None else PRIORITIES[0]
    ranked = [p for p in PRIORITIES if p in (request_priority, default)]
    return ranked[-1] if ranked else default


async def _recipient_key_known(node: Node, party: str) -> None:
    """Make sure the recipient's key is known; fetch the directory once if not (or if the
    one in force has expired)."""
    if node.peers.knows(party) and node.peers.unusable(now()) is None:
        return
    await node.peers.refresh(node.transport, now())
    node.peers.encryption_key_for(party, now())  # LocalNotFound: unknown party


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
    msg = await node.outbox.queue(
        recipient, form, now(), conversation_id=conversation_id, in_reply_to=in_reply_to
    )
    pause_at("queued")
    outcome = await node.outbox.submit(msg, now())
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
    if outcome == "accepted":
        text = (
            f"accepted by the relay: {form.kind} to {recipient} ({form.priority}), "
            f"msg_id {msg.msg_id}\nfollow it with 'node status {msg.msg_id[:8]}'"
        )
        return 0, result, text
    if outcome == "retrying":
        result["queued"] = True
        text = (
            f"queued: the relay did not answer ({stored.last_error}); the {form.kind} to "
            f"{recipient} is stored (msg_id {msg.msg_id}) and will be delivered by the "
            "daemon ('node run') or 'node flush'"
        )
        return 0, result, text
    result["error"] = stored.last_error
    text = (
        f"refused by the relay: {stored.last_error}\nthe message {msg.msg_id} is kept as "
        "failed; check the recipient and your registration with the relay operator"
    )
    return 7, result, text


async def cmd_send(args: argparse.Namespace) -> int:
    recipient = validate_party_id(args.to)
    async with full_node(args) as node:
        if recipient == node.config.party:
            raise ValidationError("you cannot send a request to yourself", code="self_recipient")
        form = _validate(args, node, _read(args, node))
        await _recipient_key_known(node, recipient)
        code, result, text = await _send(args, node, recipient, form)
    emit(result, as_json=args.json, text=text)
    return code


async def cmd_respond(args: argparse.Namespace) -> int:
    async with full_node(args) as node:
        original = await node.store.get_message(args.id)
        data = _read(args, node)
        reference = original.body.get("reference")
        if isinstance(reference, str) and not data.get("request_reference"):
            data["request_reference"] = reference
        # A reply inherits the request's priority unless --priority or the form says.
        inherited = None if data.get("urgency") else _reply_priority(args.kind, original.priority)
        form = _validate(
            args, node, data, request_time=parse_time(original.created_at), priority=inherited
        )
        recipient = original.counterpart
        await _recipient_key_known(node, recipient)
        if original.direction == "in" and original.acknowledged_at is None:
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
                await node.store.set_state(original.msg_id, "responded")
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
    signed = receipts.issue_at(
        moment,
        node.keystore.signing_key,
        type="ACKNOWLEDGED",
        msg_id=msg_id,
        envelope_sha256=envelope_sha256,
        issuer=node.config.party,
    )
    if not await node.store.acknowledge(msg_id, signed, _stamp()):
        return False
    await node.store.record_access(
        action="acknowledge", msg_id=msg_id, os_user=os_user(), now=_stamp()
    )
    with contextlib.suppress(PocnetError):  # kept, and posted later by the daemon
        await node.outbox.post_receipts(now())  # due now: queued at _stamp(), after moment
    return True


async def cmd_ack(args: argparse.Namespace) -> int:
    async with full_node(args) as node:
        msg = await node.store.get_message(args.id)
        if msg.direction != "in":
            raise ValidationError(
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
            if msg.direction != "out" or msg.state != "failed":
                raise ValidationError(
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

"""Answering a received message: a form generated from the reply kind's specification,
checked by :func:`node.exchange.answer.answer_form` and sent by
:func:`node.exchange.answer.respond`, the functions ``node respond`` calls (acknowledge if
not yet, seal and queue, submit, mark the request responded, write the access log)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from keys.errors import InvalidInput, PocnetError
from node.console.context import CONSOLE_KEY, Console
from node.console.draft_views import discard_draft, draft_number, load_draft, save_draft
from node.console.formgen import form_context, parse
from node.console.present import form_rows
from node.console.security import session_of
from node.console.views import page_context, stored_message
from node.exchange.answer import Sender, answer_form
from node.exchange.answer import respond as respond_shared
from node.forms import KINDS, FormInvalid, Problem
from node.forms.registry import fields_for
from node.forms.replies import answering_kinds
from node.storage.records import StoredMessage

MAX_DATA = 60_000


async def _original(console: Console, request: web.Request) -> StoredMessage:
    msg = await stored_message(request)
    if console.outbox is None:
        raise web.HTTPConflict(text="this console runs without the node's keys: read-only")
    return msg


def _kind(request: web.Request, original: StoredMessage, asked: Any) -> str:
    kinds = answering_kinds(original.kind)
    kind = asked if isinstance(asked, str) and asked in kinds else kinds[0]
    return kind


async def _form_page(
    request: web.Request,
    original: StoredMessage,
    kind: str,
    values: dict[str, Any],
    problems: list[Problem],
    status: int = 200,
    draft: int | None = None,
) -> web.Response:
    form = form_context(
        kind, values, problems, draft, action=f"/messages/{original.msg_id}/respond",
        hidden={"kind": kind}, check_label="Check the answer",
    )  # fmt: skip
    context = await page_context(
        request,
        {
            **form,
            "title": f"Answer {original.msg_id[:8]}",
            "msg": original,
            "kinds": answering_kinds(original.kind),
        },
    )
    return aiohttp_jinja2.render_template("respond.html", request, context, status=status)


async def respond_form(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    original = await _original(console, request)
    draft_id = draft_number(request.query.get("draft"))
    if draft_id is not None:
        draft = await load_draft(console, draft_id, purpose="answer")
        if draft.msg_id != original.msg_id:
            raise web.HTTPNotFound(text="no such draft for this message")
        kind = _kind(request, original, draft.kind)
        await console.record(session, "draft", original.msg_id, f"resumed {draft_id}")
        return await _form_page(request, original, kind, draft.data, [], draft=draft_id)
    kind = _kind(request, original, request.query.get("kind"))
    reference = original.body.get("reference")
    values = {"request_reference": reference} if isinstance(reference, str) else {}
    await console.record(session, "view", original.msg_id, f"answer form {kind}")
    return await _form_page(request, original, kind, values, [])


def sender_of(console: Console) -> Sender:
    if console.outbox is None:
        raise web.HTTPConflict(text="this console runs without the node's keys: read-only")
    return Sender(console.store, console.outbox, console.signing_key, console.party)


def confirmed(posted: Any) -> dict[str, Any]:
    """The form as shown on the confirmation page (a hidden JSON field)."""
    raw = posted.get("data")
    if not isinstance(raw, str) or len(raw) > MAX_DATA:
        raise web.HTTPBadRequest(text="the confirmed form is missing or too large")
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise web.HTTPBadRequest(text="the confirmed form is not JSON") from e
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="the confirmed form is not an object")
    return data


async def respond(request: web.Request) -> web.StreamResponse:
    """Check (then the confirmation page) or send (step=send): both through
    :mod:`node.exchange.answer`, as ``node respond``."""
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    original = await _original(console, request)
    posted = await request.post()
    kind = _kind(request, original, posted.get("kind"))
    sending = posted.get("step") == "send"
    draft_id = draft_number(posted.get("draft"))
    data = confirmed(posted) if sending else parse(fields_for(KINDS[kind]), posted)
    if posted.get("step") == "draft":
        saved = await save_draft(
            console, session.officer, draft_id, "answer", kind, data, msg_id=original.msg_id
        )
        await console.record(session, "draft", original.msg_id, f"saved {saved} {kind}")
        return web.Response(status=303, headers={"Location": "/drafts"})
    try:
        if sending:
            _, sent = await respond_shared(
                sender_of(console), original, kind, data, who=f"officer:{session.officer}",
                clock=console.clock, defaults=console.defaults,
            )  # fmt: skip
        else:
            form = answer_form(original, kind, data, now=console.clock(), defaults=console.defaults)
    except FormInvalid as e:
        problems = list(e.problems)
        return await _form_page(request, original, kind, data, problems, 422, draft_id)
    except InvalidInput as e:
        raise web.HTTPBadRequest(text=e.message) from e
    except PocnetError as e:  # no usable key for the requester (suspended, revoked ...)
        console.log.warning("console.answer_refused", msg_id=original.msg_id, error=str(e))
        raise web.HTTPConflict(text=f"not sent: {e.message}") from e
    if sending:
        console.log.info(
            "console.answered", msg_id=original.msg_id, reply=sent.msg_id, outcome=sent.outcome
        )
        if draft_id is not None and sent.ok:
            await discard_draft(console, session.officer, draft_id, "deleted on send")
        return web.Response(status=303, headers={"Location": f"/messages/{sent.msg_id}"})
    context = await page_context(
        request,
        {
            "title": "Check before sending",
            "msg": original,
            "kind": kind,
            "spec": KINDS[kind],
            "form": form,
            "rows": form_rows(fields_for(KINDS[kind]), form.body),
            "data": json.dumps(data, ensure_ascii=False),
            "draft": draft_id,
            "action": f"/messages/{original.msg_id}/respond",
            "hidden": {"kind": kind},
            "intro": f"In answer to {original.kind} {original.msg_id} from {original.counterpart}",
            "send_label": "Send the answer",
            "restart": f"/messages/{original.msg_id}/respond?kind={kind}",
        },
    )
    return aiohttp_jinja2.render_template("confirm.html", request, context)

"""Answering a received message: a form generated from the reply kind's specification,
checked by the same validator as ``node respond``, a confirmation page, then the same
steps as ``node respond`` (acknowledge if not yet, seal and queue, submit, mark the
request responded, write the access log)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from keys.errors import NotFound, PocnetError
from node.console.context import CONSOLE_KEY, Console
from node.console.formgen import inputs, parse
from node.console.present import form_rows
from node.console.security import session_of
from node.console.views import page_context
from node.exchange.acknowledge import acknowledge
from node.forms import KINDS, FormInvalid, Problem, ValidatedForm, validate_form
from node.forms.registry import fields_for
from node.forms.replies import answering_kinds, reply_priority
from node.storage.records import StoredMessage

MAX_DATA = 60_000


async def _original(console: Console, request: web.Request) -> StoredMessage:
    try:
        msg = await console.store.get_message(request.match_info["msg_id"][:32])
    except NotFound as e:
        raise web.HTTPNotFound(text="no such message") from e
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
) -> web.Response:
    spec = KINDS[kind]
    context = await page_context(
        request,
        {
            "title": f"Answer {original.msg_id[:8]}",
            "msg": original,
            "kind": kind,
            "spec": spec,
            "kinds": answering_kinds(original.kind),
            "inputs": inputs(fields_for(spec), values, problems),
            "problems": problems,
        },
    )
    return aiohttp_jinja2.render_template("respond.html", request, context, status=status)


async def respond_form(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    original = await _original(console, request)
    kind = _kind(request, original, request.query.get("kind"))
    reference = original.body.get("reference")
    values = {"request_reference": reference} if isinstance(reference, str) else {}
    await console.record(session_of(request), "view", original.msg_id, f"answer form {kind}")
    return await _form_page(request, original, kind, values, [])


def _validate(console: Console, original: StoredMessage, kind: str, data: Any) -> ValidatedForm:
    inherited = None if data.get("urgency") else reply_priority(kind, original.priority)
    return validate_form(
        kind,
        data,
        now=console.clock(),
        request_time=original.created_at,
        priority=inherited,
        defaults=console.defaults,
    )


async def respond(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    original = await _original(console, request)
    posted = await request.post()
    kind = _kind(request, original, posted.get("kind"))
    step = posted.get("step")
    if step == "send":
        raw = posted.get("data")
        if not isinstance(raw, str) or len(raw) > MAX_DATA:
            raise web.HTTPBadRequest(text="the confirmed form is missing or too large")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="the confirmed form is not an object")
    else:
        data = parse(fields_for(KINDS[kind]), posted)
    try:
        form = _validate(console, original, kind, data)
    except FormInvalid as e:
        return await _form_page(request, original, kind, data, list(e.problems), 422)
    if step != "send":
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
            },
        )
        return aiohttp_jinja2.render_template("confirm.html", request, context)
    msg_id = await _send(console, session.officer, original, form)
    return web.Response(status=303, headers={"Location": f"/messages/{msg_id}"})


async def _send(
    console: Console, officer: str, original: StoredMessage, form: ValidatedForm
) -> str:
    assert console.outbox is not None
    who = f"officer:{officer}"
    if original.direction == "in" and original.acknowledged_at is None:
        await acknowledge(
            console.store, console.outbox, console.signing_key, console.party,
            original.msg_id, original.envelope_sha256, who=who, now=console.clock(),
            later=console.clock(),
        )  # fmt: skip
    msg = await console.outbox.queue(
        original.counterpart,
        form,
        console.clock(),
        conversation_id=original.conversation_id,
        in_reply_to=original.msg_id,
    )
    try:
        outcome = await console.outbox.submit(msg, console.clock())
    except PocnetError as e:  # kept queued: the daemon retries
        console.log.warning("console.submit_failed", msg_id=msg.msg_id, error=str(e))
        outcome = "retrying"
    if outcome != "failed" and original.direction == "in":
        await console.store.mark_responded(original.msg_id)
    await console.record(officer, "answer", original.msg_id, f"{form.kind} {msg.msg_id}")
    console.log.info("console.answered", msg_id=original.msg_id, reply=msg.msg_id, outcome=outcome)
    return msg.msg_id

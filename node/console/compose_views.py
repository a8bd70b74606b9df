"""A new request from the browser: choose the counterpart from the directory (its
languages, time zone, local time and 24/7 phone shown), a form generated from the kind's
specification, checked by :func:`node.exchange.answer.request_form` (the validation of
``node send``), a confirmation page, then :func:`node.exchange.answer.send_form`, the
function ``node send`` queues and submits with. Drafts as for answers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from keys.errors import InvalidInput, PocnetError
from node.console.context import CONSOLE_KEY, Console
from node.console.draft_views import discard_draft, draft_number, load_draft, save_draft
from node.console.formgen import form_context, parse
from node.console.live import contact_of
from node.console.present import form_rows, in_zone
from node.console.respond_views import confirmed, sender_of
from node.console.security import session_of
from node.console.views import page_context
from node.exchange.answer import request_form, send_form
from node.forms import KINDS, FormInvalid, Problem
from node.forms.registry import fields_for

NOT_COMPOSED = ("statistics_report",)  # sent by 'node netstats send', not typed
COMPOSE_KINDS = tuple(k for k, s in KINDS.items() if not s.answers and k not in NOT_COMPOSED)


def counterparts(console: Console) -> list[dict[str, Any]]:
    """Every party this node can send to, with its 24/7 profile and local time."""
    now = console.clock()
    out = []
    for party in sorted(console.peers.parties()):
        if party in (console.party, "relay"):
            continue
        contact = contact_of(console, party)
        out.append(
            {
                "id": party,
                "phone": contact.get("phone") or "",
                "timezone": contact.get("timezone") or "",
                "local_time": in_zone(now, contact.get("timezone")),
                "languages": ", ".join(contact.get("languages", [])),
            }
        )
    return out


def _choice(console: Console, to: Any, kind: Any) -> tuple[str, str]:
    parties = {p["id"] for p in counterparts(console)}
    if not isinstance(to, str) or to not in parties:
        raise web.HTTPBadRequest(text="choose a counterpart from the directory")
    if not isinstance(kind, str) or kind not in COMPOSE_KINDS:
        raise web.HTTPBadRequest(text="choose a kind of request")
    return to, kind


async def _form_page(
    request: web.Request,
    to: str,
    kind: str,
    values: dict[str, Any],
    problems: list[Problem],
    status: int = 200,
    draft: int | None = None,
) -> web.Response:
    console = request.app[CONSOLE_KEY]
    profile = next(p for p in counterparts(console) if p["id"] == to)
    form = form_context(
        kind, values, problems, draft, action="/compose", hidden={"to": to, "kind": kind},
        check_label="Check the request",
    )  # fmt: skip
    context = await page_context(
        request, {**form, "title": f"New {kind} to {to}", "to": to, "profile": profile}
    )
    return aiohttp_jinja2.render_template("compose.html", request, context, status=status)


async def compose_form(request: web.Request) -> web.Response:
    """Step 1 (no ``to``): the counterparts and kinds; step 2: the kind's form."""
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    sender_of(console)  # read-only console: 409
    draft_id = draft_number(request.query.get("draft"))
    if draft_id is not None:
        draft = await load_draft(console, draft_id, purpose="request")
        to, kind = _choice(console, draft.recipient, draft.kind)
        await console.record(session, "draft", detail=f"resumed {draft_id}")
        return await _form_page(request, to, kind, draft.data, [], draft=draft_id)
    if "to" not in request.query:
        await console.record(session, "view", detail="compose")
        context = await page_context(
            request,
            {"title": "New request", "parties": counterparts(console), "kinds": COMPOSE_KINDS},
        )
        return aiohttp_jinja2.render_template("compose_pick.html", request, context)
    to, kind = _choice(console, request.query.get("to"), request.query.get("kind"))
    await console.record(session, "view", detail=f"compose {kind} to {to}")
    return await _form_page(request, to, kind, {}, [])


async def compose(request: web.Request) -> web.StreamResponse:
    """Check (then the confirmation page), save as draft, or send (step=send)."""
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    sender = sender_of(console)
    posted = await request.post()
    to, kind = _choice(console, posted.get("to"), posted.get("kind"))
    step = posted.get("step")
    draft_id = draft_number(posted.get("draft"))
    data = confirmed(posted) if step == "send" else parse(fields_for(KINDS[kind]), posted)
    if step == "draft":
        saved = await save_draft(
            console, session.officer, draft_id, "request", kind, data, recipient=to
        )
        await console.record(session, "draft", detail=f"saved {saved} {kind} to {to}")
        return web.Response(status=303, headers={"Location": "/drafts"})
    try:
        form = request_form(
            console.party, to, kind, data, now=console.clock(), defaults=console.defaults
        )
    except FormInvalid as e:
        return await _form_page(request, to, kind, data, list(e.problems), 422, draft_id)
    except InvalidInput as e:
        raise web.HTTPBadRequest(text=e.message) from e
    if step == "send":
        try:
            sent = await send_form(sender, to, form, console.clock)
        except PocnetError as e:  # no usable key for the recipient (suspended, revoked ...)
            console.log.warning("console.send_refused", recipient=to, error=str(e))
            raise web.HTTPConflict(text=f"not sent: {e.message}") from e
        await console.record(session, "send", sent.msg_id, f"{kind} to {to} {sent.outcome}")
        console.log.info("console.sent", msg_id=sent.msg_id, kind=kind, outcome=sent.outcome)
        if draft_id is not None and sent.ok:
            await discard_draft(console, session.officer, draft_id, "deleted on send")
        return web.Response(status=303, headers={"Location": f"/messages/{sent.msg_id}"})
    context = await page_context(
        request,
        {
            "title": "Check before sending",
            "spec": KINDS[kind],
            "form": form,
            "rows": form_rows(fields_for(KINDS[kind]), form.body),
            "data": json.dumps(data, ensure_ascii=False),
            "draft": draft_id,
            "action": "/compose",
            "hidden": {"to": to, "kind": kind},
            "intro": f"A new {kind} to {to}",
            "send_label": "Send the request",
            "restart": f"/compose?to={to}&kind={kind}",
        },
    )
    return aiohttp_jinja2.render_template("confirm.html", request, context)

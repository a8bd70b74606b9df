"""The pages: inbox board, one message, and the acknowledge action. Each handler reads
through the store, calls the shared exchange function, and writes the access log."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from keys.errors import NotFound, PocnetError
from node.console.board import OPEN_IN, OPEN_OUT, Filters, board_page
from node.console.context import CONSOLE_KEY
from node.console.filing import message_pdf
from node.console.live import alarm_items, contact_of
from node.console.pdf import MEDIA_TYPE
from node.console.present import duration, form_rows, in_zone
from node.console.security import session_of
from node.evidence.auditview import proven_timeline
from node.exchange.acknowledge import acknowledge
from node.forms import KINDS
from node.forms.registry import fields_for
from node.storage.records import StoredMessage
from node.storage.states import InboxState, OutboxState

STATES = ("open", *InboxState, *OutboxState)  # "open": new or acknowledged
PRIORITIES = ("emergency", "urgent", "routine")


async def page_context(request: web.Request, extra: dict[str, Any]) -> dict[str, Any]:
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    return {
        "party": console.party,
        "officer": session.officer,
        "role": session.role,
        "csrf": session.csrf,
        "alarms": await alarm_items(console),
        **extra,
    }


async def stored_message(request: web.Request) -> StoredMessage:
    """The message named by the URL's ``msg_id`` (an id or a unique prefix), else 404."""
    console = request.app[CONSOLE_KEY]
    try:
        return await console.store.get_message(request.match_info["msg_id"][:32])
    except NotFound as e:
        raise web.HTTPNotFound(text="no such message") from e


async def inbox(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    filters = Filters.from_query(dict(request.query))
    now = console.clock()
    limit = console.settings.board_rows
    opened, closed, total = await console.store.board_slice(
        {"in": OPEN_IN, "out": OPEN_OUT},
        closed_limit=limit,
        **{k: v for k, v in dataclasses.asdict(filters).items()},
    )
    acked = await console.store.acknowledged_ids()
    shown = board_page([*opened, *closed], acked, console.ack, now, limit)
    await console.record(session_of(request), "view", detail="inbox")
    context = await page_context(
        request,
        {
            "title": "Inbox",
            "rows": shown,
            "hidden": total - len(shown),
            "total": total,
            "filters": filters,
            "states": STATES,
            "priorities": PRIORITIES,
            "kinds": sorted(KINDS),
            "duration": duration,
            "now": now,
        },
    )
    return aiohttp_jinja2.render_template("inbox.html", request, context)


async def message(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    msg = await stored_message(request)
    session = session_of(request)
    await console.record(session, "display", msg_id=msg.msg_id, detail="console")
    spec = KINDS.get(msg.kind)
    body = msg.body
    rows = form_rows(fields_for(spec), body) if spec is not None else form_rows((), body)
    replies = await console.store.replies_to(msg.msg_id)
    timeline = await proven_timeline(console.store, console.peers, msg)
    created = msg.created_at
    contact = contact_of(console, msg.counterpart)
    sender_zone = body.get("time_zone") if isinstance(body.get("time_zone"), str) else None
    sender_zone = sender_zone or (contact.get("timezone") if msg.direction == "in" else None)
    context = await page_context(
        request,
        {
            "title": f"{spec.title if spec else msg.kind} {msg.msg_id[:8]}",
            "msg": msg,
            "spec": spec,
            "rows": rows,
            "timeline": timeline,
            "replies": replies,
            "created_sender": in_zone(created, sender_zone),
            "contact": contact,
            "can_answer": msg.direction == "in" and console.outbox is not None,
            "can_ack": msg.direction == "in"
            and msg.acknowledged_at is None
            and console.outbox is not None,
        },
    )
    return aiohttp_jinja2.render_template("message.html", request, context)


async def pdf(request: web.Request) -> web.StreamResponse:
    """The message as a PDF to file (the same document as ``node show --format pdf``)."""
    console = request.app[CONSOLE_KEY]
    msg = await stored_message(request)
    session = session_of(request)
    document = await message_pdf(
        console.store,
        console.peers,
        msg,
        own_party=console.party,
        officer_zone=console.defaults.authority.get("time_zone") or None,
        printed_at=console.clock(),
        printed_by=f"officer:{session.officer}",
    )
    await console.record(session, "export", msg_id=msg.msg_id, detail="pdf (console)")
    return web.Response(
        body=document,
        content_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="pocnet-{msg.msg_id[:12]}.pdf"'},
    )


async def ack(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    if console.outbox is None:
        raise web.HTTPConflict(text="this console runs without the node's keys: read-only")
    msg = await stored_message(request)
    if msg.direction != "in":
        raise web.HTTPBadRequest(text="only received messages are acknowledged")
    try:
        await acknowledge(
            console.store,
            console.outbox,
            console.signing_key,
            console.party,
            msg.msg_id,
            msg.envelope_sha256,
            who=f"officer:{session.officer}",
            now=console.clock(),
            later=console.clock(),
        )
    except PocnetError as e:
        console.log.error("console.ack_failed", msg_id=msg.msg_id, error=str(e))
        raise web.HTTPInternalServerError(text="the acknowledgement could not be stored") from e
    console.log.info("console.acknowledged", msg_id=msg.msg_id, officer=session.officer)
    return web.Response(status=303, headers={"Location": f"/messages/{msg.msg_id}"})

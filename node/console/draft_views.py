"""Drafts: an answer (or a new request) typed but not sent, saved in the node's database
("Save as draft"), listed on ``/drafts`` with who saved it and when, resumed by anyone on
duty, deleted when sent or discarded. Every save, resume and deletion is access-logged."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from keys.errors import NotFound
from node.console.context import CONSOLE_KEY, Console
from node.console.security import session_of
from node.console.views import page_context
from node.storage.draftstore import Draft

MAX_DRAFT_ID = 10**9


def draft_number(value: Any) -> int | None:
    """A draft id from a form or query field, or None (absent or not a number)."""
    if not isinstance(value, str) or not value.isdigit() or len(value) > 9:
        return None
    number = int(value)
    return number if 0 < number < MAX_DRAFT_ID else None


async def load_draft(console: Console, draft_id: int, *, purpose: str) -> Draft:
    try:
        draft = await console.store.get_draft(draft_id)
    except NotFound as e:
        raise web.HTTPNotFound(text="no such draft (sent or discarded meanwhile)") from e
    if draft.purpose != purpose:
        raise web.HTTPNotFound(text="no such draft")
    return draft


async def save_draft(
    console: Console,
    officer: str,
    draft_id: int | None,
    purpose: str,
    kind: str,
    data: dict[str, Any],
    *,
    msg_id: str | None = None,
    recipient: str | None = None,
) -> int:
    """Save (or overwrite) a draft; a draft discarded meanwhile is saved anew."""
    kw: dict[str, Any] = {
        "purpose": purpose, "kind": kind, "data": data, "officer": officer,
        "now": console.stamp(), "msg_id": msg_id, "recipient": recipient,
    }  # fmt: skip
    try:
        return await console.store.save_draft(draft_id, **kw)
    except NotFound:
        return await console.store.save_draft(None, **kw)
    except ValueError as e:
        raise web.HTTPRequestEntityTooLarge(0, 0, text="the draft is too large") from e


async def discard_draft(console: Console, officer: str, draft_id: int, why: str) -> None:
    try:
        draft = await console.store.get_draft(draft_id)
    except NotFound:
        return
    if await console.store.delete_draft(draft_id):
        await console.record(officer, "draft", draft.msg_id or "", f"{why} {draft_id}")


def resume_link(draft: Draft) -> str:
    if draft.purpose == "answer" and draft.msg_id:
        return f"/messages/{draft.msg_id}/respond?draft={draft.id}"
    return f"/compose?draft={draft.id}"


async def drafts(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    rows = await console.store.list_drafts()
    await console.record(session_of(request), "view", detail="drafts")
    context = await page_context(
        request,
        {
            "title": "Drafts",
            "drafts": [(d, resume_link(d)) for d in rows],
        },
    )
    return aiohttp_jinja2.render_template("drafts.html", request, context)


async def delete(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    number = draft_number(request.match_info["draft_id"])
    if number is None:
        raise web.HTTPNotFound(text="no such draft")
    await discard_draft(console, session_of(request).officer, number, "discarded")
    return web.Response(status=303, headers={"Location": "/drafts"})

"""What only a supervisor may do (:mod:`node.console.rights`): the officers page (disable
or enable an account; a disabled officer's sessions end at once), the access log, and
sending a failed request again. An officer who tries gets 403, and the attempt is a
``denied`` line in the access log."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from keys.errors import PocnetError
from node.console.accounts import NAME_RE
from node.console.context import CONSOLE_KEY
from node.console.rights import Right, allowed
from node.console.security import session_of
from node.console.views import page_context, stored_message
from node.storage.states import OutboxState

ACCESS_ROWS = 500  # the newest lines shown; `node access` exports them all


async def require(request: web.Request, right: Right, msg_id: str = "") -> None:
    """Refuse (403) unless the session's role holds ``right``; a refusal is access-logged.

    Raises:
        web.HTTPForbidden: the role does not hold ``right``.
    """
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    if allowed(session.role, right):
        return
    await console.record(session, "denied", msg_id, f"{right} {request.method} {request.path}")
    console.log.warning("console.denied", officer=session.officer, right=str(right))
    raise web.HTTPForbidden(text=f"only a supervisor may do this ({right})")


async def officers(request: web.Request) -> web.Response:
    await require(request, Right.MANAGE_OFFICERS)
    console = request.app[CONSOLE_KEY]
    rows = await console.store.list_officers()
    await console.record(session_of(request), "view", detail="officers")
    context = await page_context(request, {"title": "Officers", "officers": rows})
    return aiohttp_jinja2.render_template("officers.html", request, context)


async def set_disabled(request: web.Request) -> web.StreamResponse:
    await require(request, Right.MANAGE_OFFICERS)
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    name = request.match_info["name"]
    disable = request.match_info["action"] == "disable"
    if not NAME_RE.fullmatch(name):
        raise web.HTTPNotFound(text="no such officer")
    if disable and name == session.officer:
        raise web.HTTPBadRequest(text="you cannot disable your own account")
    if not await console.store.set_officer_disabled(name, disable):
        raise web.HTTPNotFound(text="no such officer")
    ended = await console.sessions.close_officer(name) if disable else 0
    what = "disabled" if disable else "enabled"
    await console.record(session, "view", detail=f"officer {name} {what}")
    console.log.info(f"console.officer_{what}", officer=session.officer, target=name, ended=ended)
    return web.Response(status=303, headers={"Location": "/officers"})


async def access_log(request: web.Request) -> web.Response:
    await require(request, Right.READ_ACCESS_LOG)
    console = request.app[CONSOLE_KEY]
    records = await console.store.access_records()
    await console.record(session_of(request), "view", detail="access log")
    newest = list(reversed(records[-ACCESS_ROWS:]))
    context = await page_context(
        request, {"title": "Access log", "records": newest, "total": len(records)}
    )
    return aiohttp_jinja2.render_template("access.html", request, context)


async def resend(request: web.Request) -> web.StreamResponse:
    """A sent request that ended ``failed``: queued again (as ``node retry``) and tried."""
    console = request.app[CONSOLE_KEY]
    await require(request, Right.RESEND_FAILED, request.match_info["msg_id"][:32])
    if console.outbox is None:
        raise web.HTTPConflict(text="this console runs without the node's keys: read-only")
    msg = await stored_message(request)
    if msg.direction != "out" or msg.state != OutboxState.FAILED:
        raise web.HTTPBadRequest(text="only a sent request that failed can be sent again")
    await console.store.requeue_failed([msg.msg_id])
    try:
        outcome = await console.outbox.submit(
            await console.store.get_message(msg.msg_id), console.clock()
        )
    except PocnetError as e:  # kept queued: the daemon retries
        console.log.warning("console.resend_failed", msg_id=msg.msg_id, error=str(e))
        outcome = "retrying"
    await console.record(session_of(request), "send", msg.msg_id, f"resent {outcome}")
    return web.Response(status=303, headers={"Location": f"/messages/{msg.msg_id}"})

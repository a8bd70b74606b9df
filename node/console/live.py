"""The alarm list and its live feed (server-sent events).

:func:`alarm_items` is what the banner shows, on every page and in every event: each
unacknowledged incoming emergency/urgent request, and each outgoing request gone OVERDUE
with the recipient's 24/7 phone and local time from the directory. :func:`events` polls a
cheap change marker of the store (the daemon, another process, writes it) and sends the
list when it changes; the browser repeats the sound and notification until it is empty.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from node.console.board import ALARM_PRIORITIES, OPEN_IN, OPEN_OUT, alarms, board
from node.console.context import CONSOLE_KEY, COOKIE, Console
from node.console.present import in_zone
from node.console.security import session_of

HEARTBEAT_SECONDS = 15.0
STREAM_MAX_SECONDS = 3600.0  # the browser reconnects by itself


def contact_of(console: Console, party: str) -> dict[str, Any]:
    """The party's 24/7 profile from the signed directory, if there is one."""
    current = getattr(console.peers, "current", None)
    if current is not None and party in current:
        c = current.contact(party)
        return {
            "phone": c.phone,
            "email": c.email,
            "timezone": c.timezone,
            "languages": list(c.languages),
        }
    phone = console.peers.contact_phone(party)
    return {"phone": phone} if phone else {}


async def alarm_items(console: Console) -> list[dict[str, Any]]:
    now = console.clock()
    # only what can sound: open and urgent or emergency (board() decides the rest)
    items = await console.store.board_items(
        states=(*OPEN_IN, *OPEN_OUT), priorities=ALARM_PRIORITIES
    )
    acked = await console.store.acknowledged_ids()
    out = []
    for row in alarms(board(items, acked, console.ack, now)):
        m = row.msg
        item: dict[str, Any] = {
            "msg_id": m.msg_id,
            "direction": m.direction,
            "priority": m.priority,
            "kind": m.kind,
            "counterpart": m.counterpart,
            "reference": m.reference or "",
            "what": "OVERDUE" if m.direction == "out" else "unacknowledged",
            "phone": "",
            "local_time": "",
        }
        if m.direction == "out":
            contact = contact_of(console, m.counterpart)
            item["phone"] = contact.get("phone", "")
            item["local_time"] = in_zone(now, contact.get("timezone"))
        out.append(item)
    return out


async def events(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    cookie = request.cookies.get(COOKIE)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    await console.record(session, "view", detail="live alarms")
    loop = asyncio.get_running_loop()
    started = last_beat = loop.time()
    marker: Any = None
    interval = console.settings.poll_interval
    while loop.time() - started < STREAM_MAX_SECONDS:
        if await console.sessions.peek(cookie, console.clock()) is None:
            await response.write(b"event: logout\ndata: {}\n\n")
            break
        now_marker = await console.store.change_marker()
        if now_marker != marker:
            marker = now_marker
            data = json.dumps({"alarms": await alarm_items(console)})
            await response.write(f"event: alarms\ndata: {data}\n\n".encode())
        elif loop.time() - last_beat > HEARTBEAT_SECONDS:
            await response.write(b": keep-alive\n\n")
            last_beat = loop.time()
        await asyncio.sleep(interval)
    return response

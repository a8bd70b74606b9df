"""The directory page (every party's authority, 24/7 contact, local time, languages,
status and key fingerprints to read over the phone) and the statistics page (the figures
of ``node stats``, exportable as CSV)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from node.console import charts
from node.console.context import CONSOLE_KEY
from node.console.present import in_zone
from node.console.security import session_of
from node.console.views import page_context
from node.reports.preservation import preservation_clocks
from node.reports.stats import compute_stats, observations, to_csv, to_table


async def directory(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    now = console.clock()
    current = getattr(console.peers, "current", None)
    parties: list[dict[str, Any]] = []
    if current is not None:
        for p in current:
            parties.append(
                {
                    "id": p.id,
                    "authority": p.authority,
                    "phone": p.contact.phone,
                    "email": p.contact.email,
                    "timezone": p.contact.timezone,
                    "local_time": in_zone(now, p.contact.timezone),
                    "languages": ", ".join(p.contact.languages),
                    "status": p.status.state,
                    "fingerprints": [
                        e.key.fingerprint
                        for e in p.signing_keys
                        if e.not_after is None or e.not_after > now
                    ],
                }
            )
    await console.record(session_of(request), "view", detail="directory")
    context = await page_context(
        request,
        {
            "title": "Directory",
            "parties": parties,
            "version": getattr(current, "version", None),
            "pinned": sorted(console.peers.parties()) if current is None else [],
        },
    )
    return aiohttp_jinja2.render_template("directory.html", request, context)


async def _stats(request: web.Request) -> dict[str, Any]:
    console = request.app[CONSOLE_KEY]
    store, now = console.store, console.clock()
    return compute_stats(
        await store.list_messages(limit=1_000_000),
        await store.all_receipts(),
        clocks=preservation_clocks(await store.preservation_messages(), now),
        access=await store.access_records(),
        rejections=await store.rejections(),
        since=None,
        now=now,
    )


async def statistics(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    store, now = console.store, console.clock()
    stats = await _stats(request)
    obs = observations(await store.list_messages(limit=1_000_000), await store.all_receipts())
    clocks = preservation_clocks(await store.preservation_messages(), now)
    svg = [
        charts.requests_by_month(obs),
        charts.time_bands(obs, "ack"),
        charts.time_bands(obs, "respond"),
        charts.preservations(clocks),
    ]
    await console.record(session_of(request), "view", detail="statistics")
    context = await page_context(
        request,
        {
            "title": "Statistics",
            "table": to_table(stats),
            "charts": [Markup(c) for c in svg],  # noqa: S704 - built and escaped by charts
        },
    )
    return aiohttp_jinja2.render_template("statistics.html", request, context)


async def statistics_csv(request: web.Request) -> web.Response:
    console = request.app[CONSOLE_KEY]
    stats = await _stats(request)
    await console.record(session_of(request), "export", detail="statistics.csv")
    return web.Response(
        text=to_csv(stats),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="pocnet-statistics.csv"'},
    )

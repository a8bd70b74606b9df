"""The console's aiohttp application and how it is served."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from node.console import (
    auth_views,
    compose_views,
    draft_views,
    info_views,
    live,
    respond_views,
    supervisor_views,
    views,
)
from node.console.context import CONSOLE_KEY, Console
from node.console.security import gate, headers

HERE = Path(__file__).parent


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[headers, gate], client_max_size=64 * 1024)
    app[CONSOLE_KEY] = console
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/login", auth_views.login_form)
    app.router.add_post("/login", auth_views.login)
    app.router.add_post("/logout", auth_views.logout)
    app.router.add_get("/", views.inbox)
    app.router.add_get("/messages/{msg_id:[0-9a-f]{1,32}}", views.message)
    app.router.add_get("/messages/{msg_id:[0-9a-f]{1,32}}/pdf", views.pdf)
    app.router.add_post("/messages/{msg_id:[0-9a-f]{1,32}}/ack", views.ack)
    app.router.add_get("/messages/{msg_id:[0-9a-f]{1,32}}/respond", respond_views.respond_form)
    app.router.add_post("/messages/{msg_id:[0-9a-f]{1,32}}/respond", respond_views.respond)
    app.router.add_get("/compose", compose_views.compose_form)
    app.router.add_post("/compose", compose_views.compose)
    app.router.add_get("/drafts", draft_views.drafts)
    app.router.add_get("/officers", supervisor_views.officers)
    app.router.add_post(
        "/officers/{name:[a-z0-9._-]{1,32}}/{action:disable|enable}", supervisor_views.set_disabled
    )
    app.router.add_get("/access", supervisor_views.access_log)
    app.router.add_post("/messages/{msg_id:[0-9a-f]{1,32}}/resend", supervisor_views.resend)
    app.router.add_post("/drafts/{draft_id:[0-9]{1,9}}/delete", draft_views.delete)
    app.router.add_get("/directory", info_views.directory)
    app.router.add_get("/statistics", info_views.statistics)
    app.router.add_get("/statistics.csv", info_views.statistics_csv)
    app.router.add_get("/events", live.events)
    app.router.add_static("/static/", HERE / "static", follow_symlinks=False)
    return app


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


async def serve(
    console: Console, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    """Start serving; the caller stops it with ``await runner.cleanup()``."""
    # open live feeds are cut after 2 s at shutdown (browsers reconnect by themselves)
    runner = web.AppRunner(build_app(console), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    return runner

"""Middlewares: security headers on every answer, the session gate, CSRF on every POST.

An unauthenticated request gets the login page (401), never data; a POST without the
session's CSRF token is refused (403) before any handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web

from node.console.context import CONSOLE_KEY, COOKIE, SESSION_KEY
from node.console.sessions import Session, csrf_ok

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
PUBLIC = ("/login", "/static/")
MAX_FORM_BYTES = 64 * 1024


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as e:
        response = e
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException) and response.status >= 400:
        raise response
    return response


def session_of(request: web.Request) -> Session:
    session: Session = request[SESSION_KEY]
    return session


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/login" or request.path.startswith("/static/"):
        return await handler(request)
    console = request.app[CONSOLE_KEY]
    session = await console.sessions.get(request.cookies.get(COOKIE), console.clock())
    if session is None:
        response = aiohttp_jinja2.render_template(
            "login.html", request, {"error": None, "next": request.path}, status=401
        )
        response.del_cookie(COOKIE, path="/")
        return response
    request[SESSION_KEY] = session
    if request.method not in ("GET", "HEAD"):
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_FORM_BYTES, request.content_length)
        form = await request.post()
        token = form.get("csrf")
        if not isinstance(token, str) or not csrf_ok(session, token):
            console.log.warning("console.csrf_refused", officer=session.officer, path=request.path)
            raise web.HTTPForbidden(text="refused: this form has expired; reload the page")
    return await handler(request)

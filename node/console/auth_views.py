"""Login and logout. The login form carries its own CSRF token (a double-submit cookie,
SameSite=Strict) because there is no session yet."""

from __future__ import annotations

import base64
import hmac

import aiohttp_jinja2
from aiohttp import web

from node.console.accounts import verify_password
from node.console.context import CONSOLE_KEY, COOKIE, LOGIN_COOKIE, Console
from node.console.security import session_of

MAX_NAME = 64


def _token(console: Console) -> str:
    return base64.urlsafe_b64encode(console.random(32)).rstrip(b"=").decode("ascii")


def _set_cookie(console: Console, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=console.settings.secure_cookies,
    )


def _login_page(request: web.Request, error: str | None, status: int = 200) -> web.Response:
    console = request.app[CONSOLE_KEY]
    token = _token(console)
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"error": error, "login_csrf": token}, status=status
    )
    _set_cookie(console, response, LOGIN_COOKIE, token)
    return response


async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, None)


async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    if request.content_length is not None and request.content_length > 8192:
        raise web.HTTPRequestEntityTooLarge(8192, request.content_length)
    form = await request.post()
    submitted = str(form.get("csrf", ""))[:128]
    cookie = request.cookies.get(LOGIN_COOKIE, "")[:128]
    if not submitted or not hmac.compare_digest(submitted.encode(), cookie.encode()):
        return _login_page(request, "The login form expired. Please try again.", 403)
    name = str(form.get("name", "")).strip().lower()[:MAX_NAME]
    password = str(form.get("password", ""))[:2048]
    now = console.clock()
    peer = request.remote or "?"
    keys = (f"name:{name}", f"addr:{peer}")
    if console.throttle.blocked(keys, now):
        console.log.warning("console.login_throttled", officer=name, remote=peer)
        return _login_page(request, "Too many failed logins. Wait a few minutes.", 429)
    officer = await console.store.get_officer(name) if name else None
    usable = officer is not None and not officer.disabled
    ok = verify_password(officer.password_hash if usable and officer else None, password)
    if not ok or officer is None:
        console.throttle.failed(keys, now)
        console.log.warning("console.login_failed", officer=name, remote=peer)
        await console.record(name or "?", "login_failed", detail=f"from {peer}")
        return _login_page(request, "Wrong name or password.", 401)
    console.throttle.succeeded(f"name:{name}")
    cookie_value = await console.sessions.open(
        officer.name, officer.role, now, console.random(32), console.random(32)
    )
    await console.record(officer.name, "login", detail=f"from {peer}")
    console.log.info("console.login", officer=officer.name, remote=peer)
    response = web.Response(status=303, headers={"Location": "/"})
    _set_cookie(console, response, COOKIE, cookie_value)
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    session = session_of(request)
    await console.sessions.close(request.cookies.get(COOKIE))
    await console.record(session, "logout")
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(COOKIE, path="/")
    return response

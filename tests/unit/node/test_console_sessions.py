"""Console sessions live in the node's database: a new console process on the same store
(a restart) accepts the cookie of the old one; the idle timeout still ends it; logout and
a disabled account end it for every process; the database holds no cookie."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from node.console.app import build_app
from node.console.context import COOKIE
from node.runtime import Node
from node.storage.schema import console_sessions
from tests.support.console import console_for
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import clock, csrf_of, login, pair

__all__ = ["clock", "pair"]  # fixtures shared with test_console_app


async def restarted(de: Node, clock: FakeClock, aiohttp_client: Any, cookie: str) -> TestClient:
    """A fresh console (new process state) on the same database, with the old cookie."""
    console = await console_for(de, clock, officers=(), poll_interval=0.01)
    client: TestClient = await aiohttp_client(build_app(console))
    client.session.cookie_jar.update_cookies({COOKIE: cookie})
    return client


async def test_a_session_survives_a_console_restart_and_keeps_its_idle_timeout(
    pair: tuple[Node, Node], clock: FakeClock, aiohttp_client: Any
) -> None:
    _, de = pair
    first = await console_for(de, clock, officers=("anna",), poll_interval=0.01)
    before: TestClient = await aiohttp_client(build_app(first))
    resp = await login(before)
    cookie = resp.cookies[COOKIE].value
    # only the digest is stored
    async with de.store._reader.connect() as conn:
        rows = (await conn.execute(console_sessions.select())).mappings().all()
    assert len(rows) == 1 and cookie not in str(dict(rows[0]))
    clock.advance(seconds=600)
    after = await restarted(de, clock, aiohttp_client, cookie)
    page = await after.get("/")
    assert page.status == 200 and "anna" in await page.text()
    clock.advance(seconds=16 * 60)  # idle longer than 15 minutes
    assert (await after.get("/")).status == 401
    assert (await before.get("/")).status == 401


async def test_logout_in_one_process_ends_the_session_in_another(
    pair: tuple[Node, Node], clock: FakeClock, aiohttp_client: Any
) -> None:
    _, de = pair
    first = await console_for(de, clock, officers=("anna",), poll_interval=0.01)
    one: TestClient = await aiohttp_client(build_app(first))
    cookie = (await login(one)).cookies[COOKIE].value
    other = await restarted(de, clock, aiohttp_client, cookie)
    assert (await other.get("/")).status == 200
    token = await csrf_of(await one.get("/"))
    await one.post("/logout", data={"csrf": token})
    assert (await other.get("/")).status == 401

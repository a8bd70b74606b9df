"""Console sessions live in the node's database: a new console process on the same store
(a restart) accepts the cookie of the old one; the idle timeout still ends it; logout and
a disabled account or a new password (`node officers add --replace`) end it for every
process; the database holds no cookie."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from node.console.app import build_app
from node.console.context import COOKIE
from node.console.sessions import SessionBook
from node.runtime import Node
from node.storage.schema import console_sessions
from node.storage.store import Store
from tests.support.console import console_for
from tests.support.fake_relay import FakeClock
from tests.unit.node import test_cli
from tests.unit.node.test_console_app import clock, csrf_of, login, pair

__all__ = ["clock", "pair"]  # fixtures shared with test_console_app
run = test_cli.run
fr = test_cli.fr  # an initialised node FR (for `node officers`)
_reset_logging = test_cli._reset_logging


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


def test_a_new_password_ends_the_officers_console_sessions(
    fr: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("night-shift-password")
    add = ("officers", "add", "anna", "--password-file", str(secret), "--data", str(fr))
    code, _, err = run(capsys, *add, "--json")
    assert code == 0, err

    async def sessions(action: str) -> int:
        store = await Store.open(fr / "node.db")
        try:
            if action == "open":
                book = SessionBook(store, timedelta(minutes=15))
                await book.open("anna", "officer", datetime.now(UTC), b"t" * 32, b"c" * 32)
            return len(await store._rows(select(console_sessions)))
        finally:
            await store.close()

    assert asyncio.run(sessions("open")) == 1
    code, out, _ = run(capsys, *add, "--replace", "--json")
    assert code == 0 and json.loads(out)["sessions_ended"] == 1
    assert asyncio.run(sessions("count")) == 0

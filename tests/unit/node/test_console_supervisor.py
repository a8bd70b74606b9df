"""Supervisor rights, enforced by the server: an officer gets 403 on each supervisor
action and the attempt is a ``denied`` access record; a supervisor reads the access log,
disables an officer (whose session ends at once) and sends a failed request again."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from keys.encoding import format_time
from node.console.accounts import hash_password
from node.console.app import build_app
from node.console.rights import RIGHTS, Right, allowed, rights_of
from node.forms import validate_form
from node.runtime import Node
from tests.support.console import FAST, PASSWORD, console_for
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import clock, csrf_of, login, pair

__all__ = ["clock", "pair"]  # fixtures shared with test_console_app


@pytest.fixture
async def two(
    pair: tuple[Node, Node], clock: FakeClock, aiohttp_client: Any
) -> tuple[TestClient, TestClient]:
    """Two browsers on one console: ``boss`` (supervisor) and ``anna`` (officer)."""
    _, de = pair
    console = await console_for(de, clock, officers=("anna",), poll_interval=0.01)
    await de.store.add_officer(
        "boss", "supervisor", hash_password(PASSWORD, **FAST), format_time(clock())
    )
    boss: TestClient = await aiohttp_client(build_app(console))
    anna: TestClient = await aiohttp_client(build_app(console))
    await login(boss, "boss")
    await login(anna, "anna")
    return boss, anna


async def failed_request(fr: Node, clock: FakeClock) -> str:
    form = validate_form("ping", {}, now=clock(), priority="routine")
    msg = await fr.outbox.queue("DE", form, clock())
    await fr.store.mark_failed(msg.msg_id, "refused: test")
    return msg.msg_id


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("officer", set()),
        ("supervisor", set(Right)),
        ("intruder", set()),
    ],
)
def test_rights_by_role(role: str, expected: set[Right]) -> None:
    assert rights_of(role) == expected
    assert all(allowed(role, r) == (r in expected) for r in RIGHTS)


async def test_an_officer_is_refused_every_supervisor_action_and_it_is_logged(
    pair: tuple[Node, Node], clock: FakeClock, two: tuple[TestClient, TestClient]
) -> None:
    _, de = pair
    _, anna = two
    page = await anna.get("/")
    assert "/access" not in await page.text()  # no link for an officer
    token = await csrf_of(page)
    attempts = [
        ("GET", "/officers"),
        ("GET", "/access"),
        ("POST", "/officers/boss/disable"),
        ("POST", "/messages/" + "a" * 32 + "/resend"),
    ]
    for method, path in attempts:
        resp = await anna.request(method, path, data={"csrf": token}, allow_redirects=False)
        assert resp.status == 403, path
        assert "supervisor" in await resp.text()
    denied = [r.detail for r in await de.store.access_records() if r.action == "denied"]
    assert denied == [
        "manage_officers GET /officers",
        "read_access_log GET /access",
        "manage_officers POST /officers/boss/disable",
        f"resend_failed POST /messages/{'a' * 32}/resend",
    ]
    assert all(
        r.os_user == "officer:anna" for r in await de.store.access_records() if r.action == "denied"
    )
    assert not (await de.store.get_officer("boss")).disabled  # type: ignore[union-attr]


async def test_a_supervisor_reads_the_log_and_disables_an_officer(
    pair: tuple[Node, Node], clock: FakeClock, two: tuple[TestClient, TestClient]
) -> None:
    _, de = pair
    boss, anna = two
    page = await boss.get("/access")
    text = await page.text()
    assert page.status == 200 and "officer:anna" in text and "login" in text
    officers = await boss.get("/officers")
    token = await csrf_of(officers)
    assert "Disable anna" in await officers.text()
    assert (await anna.get("/")).status == 200
    done = await boss.post("/officers/anna/disable", data={"csrf": token}, allow_redirects=False)
    assert done.status == 303
    assert (await de.store.get_officer("anna")).disabled  # type: ignore[union-attr]
    assert (await anna.get("/")).status == 401  # her session ended
    again = await boss.post("/officers/anna/enable", data={"csrf": token}, allow_redirects=False)
    assert again.status == 303
    assert not (await de.store.get_officer("anna")).disabled  # type: ignore[union-attr]
    own = await boss.post("/officers/boss/disable", data={"csrf": token}, allow_redirects=False)
    assert own.status == 400


async def test_a_supervisor_sends_a_failed_request_again(
    pair: tuple[Node, Node], clock: FakeClock, two: tuple[TestClient, TestClient]
) -> None:
    _, de = pair
    boss, _ = two
    msg_id = await failed_request(de, clock)
    page = await boss.get(f"/messages/{msg_id}")
    assert 'id="resend"' in await page.text()
    token = await csrf_of(page)
    resent = await boss.post(
        f"/messages/{msg_id}/resend", data={"csrf": token}, allow_redirects=False
    )
    assert resent.status == 303
    assert (await de.store.get_message(msg_id)).state == "accepted"
    records = [
        (r.os_user, r.action, r.detail) for r in await de.store.access_records(msg_id=msg_id)
    ]
    assert ("officer:boss", "send", "resent accepted") in records
    # only a failed one
    again = await boss.post(f"/messages/{msg_id}/resend", data={"csrf": token})
    assert again.status == 400

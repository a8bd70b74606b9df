"""The console's HTTP application against a real store and a node on a fake relay:
the session gate, CSRF, login throttling, headers, the inbox, a message, acknowledge,
the live feed, and the access log."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from multidict import MultiDict

from node.console.app import build_app
from node.console.board import OPEN_IN, OPEN_OUT, Filters
from node.console.context import COOKIE
from node.console.formgen import inputs
from node.forms import KINDS, validate_form
from node.forms.examples import example
from node.forms.registry import fields_for
from node.runtime import Node
from tests.support.console import PASSWORD, console_for
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def pair(clock: FakeClock, tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    net = FakeRelayNetwork(clock)
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log)
    await fr.peers.refresh(fr.transport, clock())
    await de.peers.refresh(de.transport, clock())
    yield fr, de
    await fr.close()
    await de.close()


async def send(fr: Node, de: Node, kind: str, clock: FakeClock, priority: str) -> str:
    form = validate_form(kind, example(kind, clock()), now=clock(), priority=priority)
    msg = await fr.outbox.queue("DE", form, clock())
    assert await fr.outbox.submit(msg, clock()) == "accepted"
    clock.advance(seconds=1)
    await de.inbox.handle(await de.transport.inbox(wait=0, limit=100), clock())
    return msg.msg_id


@pytest.fixture
async def client(pair: tuple[Node, Node], clock: FakeClock, aiohttp_client: Any) -> TestClient:
    _, de = pair
    console = await console_for(de, clock, officers=("anna", "ben"), poll_interval=0.01)
    c: TestClient = await aiohttp_client(build_app(console))
    return c


async def csrf_of(resp: ClientResponse) -> str:
    found = CSRF_RE.search(await resp.text())
    assert found, "no CSRF field on the page"
    return found.group(1)


async def login(client: TestClient, name: str = "anna", password: str = PASSWORD) -> ClientResponse:
    token = await csrf_of(await client.get("/login"))
    return await client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token},
        allow_redirects=False,
    )


async def test_unauthenticated_requests_get_the_login_page_never_data(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    msg_id = await send(fr, de, "preservation_request", clock, "emergency")
    for path in ("/", f"/messages/{msg_id}", "/events"):
        resp = await client.get(path)
        body = await resp.text()
        assert resp.status == 401, path
        assert "Log in" in body and msg_id not in body and "preservation" not in body
    resp = await client.post(f"/messages/{msg_id}/ack", data={"csrf": "x"})
    assert resp.status == 401
    assert (await de.store.get_message(msg_id)).acknowledged_at is None


async def test_login_sets_a_strict_httponly_cookie_and_headers(client: TestClient) -> None:
    resp = await login(client)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie" and COOKIE in v)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    page = await client.get("/")
    assert page.status == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in await page.text()  # no inline script


@pytest.mark.parametrize(
    ("name", "password", "status"),
    [("anna", "wrong-password-123", 401), ("nobody", PASSWORD, 401), ("", "", 401)],
)
async def test_wrong_logins_are_refused(
    client: TestClient, name: str, password: str, status: int
) -> None:
    resp = await login(client, name, password)
    assert resp.status == status
    assert "Wrong name or password" in await resp.text()
    assert (await client.get("/")).status == 401


async def test_login_without_its_csrf_token_is_refused(client: TestClient) -> None:
    resp = await client.post("/login", data={"name": "anna", "password": PASSWORD})
    assert resp.status == 403


async def test_logins_are_rate_limited(client: TestClient) -> None:
    for _ in range(5):
        assert (await login(client, "anna", "wrong-password-123")).status == 401
    resp = await login(client)  # the right password, too late
    assert resp.status == 429
    assert (await client.get("/")).status == 401


async def test_inbox_puts_the_emergency_first(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    routine = await send(fr, de, "ping", clock, "routine")
    emergency = await send(fr, de, "preservation_request", clock, "emergency")
    await login(client)
    body = await (await client.get("/")).text()
    assert body.index(emergency) < body.index(routine)
    assert 'class="countdown"' in body and "OVERDUE" in body
    assert 'id="alarm"' in body and "unacknowledged" in body
    only = await (await client.get("/", params={"priority": "routine"})).text()
    table = only.split('id="board"')[1]
    assert routine in table and emergency not in table


async def test_message_page_ack_needs_csrf_and_writes_the_access_log(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    msg_id = await send(fr, de, "preservation_request", clock, "emergency")
    await login(client)
    assert (await client.get("/")).status == 200
    page = await client.get(f"/messages/{msg_id}")
    body = await page.text()
    assert page.status == 200
    assert "Timeline of signed receipts" in body and "Summary of facts" in body
    refused = await client.post(f"/messages/{msg_id}/ack", data={}, allow_redirects=False)
    assert refused.status == 403
    forged = await client.post(
        f"/messages/{msg_id}/ack", data={"csrf": "forged"}, allow_redirects=False
    )
    assert forged.status == 403
    assert (await de.store.get_message(msg_id)).acknowledged_at is None
    done = await client.post(
        f"/messages/{msg_id}/ack", data={"csrf": await csrf_of(page)}, allow_redirects=False
    )
    assert done.status == 303
    assert (await de.store.get_message(msg_id)).acknowledged_at is not None
    records = await de.store.access_records()
    mine = [(r.os_user, r.action) for r in records]
    assert ("officer:anna", "login") in mine
    assert ("officer:anna", "view") in mine
    assert ("officer:anna", "display") in mine
    assert ("officer:anna", "acknowledge") in mine
    # the sender gets the signed ACKNOWLEDGED receipt
    clock.advance(seconds=1)
    await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=100), clock())
    assert "ACKNOWLEDGED" in {r.type for r in await fr.store.receipts_for(msg_id)}


async def test_a_logged_out_cookie_cannot_be_reused(client: TestClient) -> None:
    await login(client)
    page = await client.get("/")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    resp = await client.post("/logout", data={"csrf": await csrf_of(page)}, allow_redirects=False)
    assert resp.status == 303
    replay = await client.get("/", cookies={COOKIE: cookie})
    assert replay.status == 401


async def test_one_officers_logout_leaves_anothers_session(
    client: TestClient, aiohttp_client: Any
) -> None:
    other: TestClient = await aiohttp_client(client.server)
    await login(client, "anna")
    await login(other, "ben")
    page = await client.get("/")
    await client.post("/logout", data={"csrf": await csrf_of(page)})
    assert (await other.get("/")).status == 200
    assert (await client.get("/")).status == 401


async def test_the_live_feed_sends_the_alarms(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    msg_id = await send(fr, de, "ping", clock, "urgent")
    await login(client)
    resp = await client.get("/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    seen = b""
    while b"\n\n" not in seen:  # bounded by the test timeout
        seen += await resp.content.readany()
    assert seen.startswith(b"event: alarms\n") and msg_id.encode() in seen
    resp.close()


async def test_unknown_message_and_bad_ids(client: TestClient) -> None:
    await login(client)
    assert (await client.get("/messages/" + "0" * 32)).status == 404
    assert (await client.get("/messages/../etc")).status == 404


@pytest.mark.parametrize(
    "query",
    [{}, {"state": "open"}, {"state": "acknowledged"}, {"priority": "urgent"},
     {"kind": "ping"}, {"counterpart": "fr"}, {"since": "2026-03-01"}, {"since": "2099-01-01"},
     {"priority": "routine", "state": "open"}],
)  # fmt: skip
async def test_the_stores_filters_mean_what_the_board_says(
    pair: tuple[Node, Node], clock: FakeClock, query: dict[str, str]
) -> None:
    fr, de = pair
    for kind, priority in [("ping", "routine"), ("ping", "urgent"), ("preservation_request",
                           "emergency"), ("ping", "routine")]:  # fmt: skip
        await send(fr, de, kind, clock, priority)
    first = (await de.store.list_messages())[-1]
    await de.store.set_fields(first.msg_id, state="acknowledged")
    filters = Filters.from_query(query)
    every = await de.store.board_items()
    expected = sorted(m.msg_id for m in every if filters.keep(m))
    opened, closed, total = await de.store.board_slice(
        {"in": OPEN_IN, "out": OPEN_OUT}, closed_limit=100, **dataclasses.asdict(filters)
    )
    assert sorted(m.msg_id for m in [*opened, *closed]) == expected
    assert total == len(expected)


async def test_answer_with_a_generated_form_inline_errors_then_confirm_and_send(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    msg_id = await send(fr, de, "preservation_request", clock, "urgent")
    await login(client)
    page = await client.get(f"/messages/{msg_id}/respond")
    body = await page.text()
    assert page.status == 200 and "preservation_response" in body
    token = await csrf_of(page)
    base = {"csrf": token, "kind": "preservation_response", "step": "check"}
    bad = await client.post(f"/messages/{msg_id}/respond", data=base)
    assert bad.status == 422
    text = await bad.text()
    assert 'aria-invalid="true"' in text and "field-error" in text
    assert (await de.store.replies_to(msg_id)) == []
    filled = inputs(
        fields_for(KINDS["preservation_response"]), example("preservation_response", clock())
    )
    data = MultiDict(base)
    for i in filled:
        if i.widget == "checkboxes":
            for v in i.value:
                data.add(i.name, v)
        elif i.widget != "heading":
            data.add(i.name, str(i.value))
    confirm = await client.post(f"/messages/{msg_id}/respond", data=data)
    assert confirm.status == 200
    ctext = await confirm.text()
    assert "Check before sending" in ctext and 'id="send"' in ctext
    hidden = re.search(r'name="data" value="([^"]*)"', ctext)
    assert hidden
    sent = await client.post(
        f"/messages/{msg_id}/respond",
        data={"csrf": token, "kind": "preservation_response", "step": "send",
              "data": html.unescape(hidden.group(1))},
        allow_redirects=False,
    )  # fmt: skip
    assert sent.status == 303
    [reply] = await de.store.replies_to(msg_id)
    assert reply.kind == "preservation_response" and reply.state == "accepted"
    assert reply.priority == "urgent"  # inherited from the request
    original = await de.store.get_message(msg_id)
    assert original.state == "responded" and original.acknowledged_at is not None
    actions = [(r.os_user, r.action) for r in await de.store.access_records(msg_id=msg_id)]
    assert ("officer:anna", "answer") in actions


async def test_directory_and_statistics_pages(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    await send(fr, de, "preservation_request", clock, "urgent")
    for path in ("/directory", "/statistics", "/statistics.csv"):
        assert (await client.get(path)).status == 401
    await login(client)
    page = await (await client.get("/directory")).text()
    assert "development mode" in page and "FR" in page
    stats = await client.get("/statistics")
    assert stats.status == 200 and "preservation_request" in await stats.text()
    csv = await client.get("/statistics.csv")
    assert csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in csv.headers["Content-Disposition"]
    actions = [(r.action, r.detail) for r in await de.store.access_records()]
    assert ("export", "statistics.csv") in actions and ("view", "directory") in actions

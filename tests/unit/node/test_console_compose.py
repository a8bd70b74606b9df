"""A new request composed in the console: the counterparts from the directory, a generated
form with inline problems from ``node send``'s validation, a confirmation page, then the
same ``send_form`` as ``node send``; the recipient gets it. Drafts of requests; only known
counterparts and request kinds; access-logged."""

from __future__ import annotations

import html
import re

from aiohttp.test_utils import TestClient
from multidict import MultiDict

from node.console.compose_views import COMPOSE_KINDS
from node.forms import KINDS
from node.forms.examples import example
from node.runtime import Node
from tests.support.console import posted_form
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import client, clock, csrf_of, login, pair

__all__ = ["client", "clock", "pair"]  # fixtures shared with test_console_app
KIND = "preservation_request"


def filled(token: str, clock: FakeClock, step: str) -> MultiDict[str]:
    values = example(KIND, clock(), "DE")
    return posted_form(KIND, values, csrf=token, to="FR", kind=KIND, step=step)


async def test_compose_check_confirm_send_and_the_recipient_gets_it(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    assert (await client.get("/compose")).status == 401
    await login(client)
    pick = await client.get("/compose")
    text = await pick.text()
    assert pick.status == 200 and '<option value="FR">' in text
    assert '<option value="DE">' not in text  # not to itself
    assert "statistics_report" not in text and "preservation_response" not in text
    page = await client.get(f"/compose?to=FR&kind={KIND}")
    assert page.status == 200 and 'id="profile"' in await page.text()
    token = await csrf_of(page)
    empty = MultiDict({"csrf": token, "to": "FR", "kind": KIND, "step": "check"})
    bad = await client.post("/compose", data=empty)
    assert bad.status == 422
    assert 'aria-invalid="true"' in await bad.text()
    confirm = await client.post("/compose", data=filled(token, clock, "check"))
    ctext = await confirm.text()
    assert confirm.status == 200 and "Send the request" in ctext, ctext[-2000:]
    hidden = re.search(r'name="data" value="([^"]*)"', ctext)
    assert hidden
    sent = await client.post(
        "/compose",
        data={"csrf": token, "to": "FR", "kind": KIND, "step": "send",
              "data": html.unescape(hidden.group(1))},
        allow_redirects=False,
    )  # fmt: skip
    assert sent.status == 303
    msg_id = sent.headers["Location"].rsplit("/", 1)[1]
    mine = await de.store.get_message(msg_id)
    assert mine.direction == "out" and mine.counterpart == "FR" and mine.state == "accepted"
    await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=100), clock())
    assert (await fr.store.get_message(msg_id)).kind == KIND
    log = [(r.os_user, r.action) for r in await de.store.access_records(msg_id=msg_id)]
    assert log == [("officer:anna", "send")]


async def test_only_known_counterparts_and_request_kinds(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    await login(client)
    for query in ("to=DE&kind=ping", "to=XX&kind=ping", "to=FR&kind=preservation_response"):
        assert (await client.get(f"/compose?{query}")).status == 400, query
    token = await csrf_of(await client.get("/compose?to=FR&kind=ping"))
    refused = await client.post(
        "/compose", data={"csrf": token, "to": "DE", "kind": "ping", "step": "send"}
    )
    assert refused.status == 400
    assert set(COMPOSE_KINDS) == {k for k, s in KINDS.items() if not s.answers} - {
        "statistics_report"
    }


async def test_a_request_saved_as_draft_is_resumed(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    _, de = pair
    await login(client)
    token = await csrf_of(await client.get(f"/compose?to=FR&kind={KIND}"))
    data = MultiDict({"csrf": token, "to": "FR", "kind": KIND, "step": "draft",
                      "summary_of_facts": "half written"})  # fmt: skip
    saved = await client.post("/compose", data=data, allow_redirects=False)
    assert saved.status == 303
    [draft] = await de.store.list_drafts()
    assert draft.purpose == "request" and draft.recipient == "FR"
    assert f"/compose?draft={draft.id}" in await (await client.get("/drafts")).text()
    resumed = await (await client.get(f"/compose?draft={draft.id}")).text()
    assert "half written" in resumed and f'name="draft" value="{draft.id}"' in resumed

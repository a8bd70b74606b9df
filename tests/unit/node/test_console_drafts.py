"""Drafts of answers in the console: saved in the node's database without validation,
listed with who saved them, resumed by another officer with the values as typed, deleted
when the answer is sent or the draft discarded; every step access-logged; CSRF required."""

from __future__ import annotations

import html
import re
from pathlib import Path

from aiohttp.test_utils import TestClient
from multidict import MultiDict

from node.console.draft_views import draft_number
from node.forms.examples import example
from node.runtime import Node
from node.storage.store import Store
from tests.support.console import posted_form
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import client, clock, csrf_of, login, pair, send

__all__ = ["client", "clock", "pair"]  # fixtures shared with test_console_app
KIND = "preservation_response"


def filled_form(token: str, clock: FakeClock, step: str) -> MultiDict[str]:
    return posted_form(KIND, example(KIND, clock()), csrf=token, kind=KIND, step=step)


async def draft_actions(store: Store) -> list[tuple[str, str | None]]:
    return [(r.os_user, r.detail) for r in await store.access_records() if r.action == "draft"]


async def test_save_resume_by_a_colleague_and_send_deletes_it(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    msg_id = await send(fr, de, "preservation_request", clock, "urgent")
    await login(client, "anna")
    token = await csrf_of(await client.get(f"/messages/{msg_id}/respond"))
    # half typed: no validation on saving, nothing sent
    half = MultiDict({"csrf": token, "kind": KIND, "step": "draft", "provider_reference": "HX-9"})
    saved = await client.post(f"/messages/{msg_id}/respond", data=half, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"] == "/drafts"
    [draft] = await de.store.list_drafts()
    assert draft.msg_id == msg_id and draft.officer == "anna" and draft.kind == KIND
    assert draft.data.get("provider_reference") == "HX-9"
    assert await de.store.replies_to(msg_id) == []
    # the shift changes: ben sees it and resumes it with the values as typed
    await client.post("/logout", data={"csrf": token})
    await login(client, "ben")
    listing = await (await client.get("/drafts")).text()
    assert "anna" in listing and f"/messages/{msg_id}/respond?draft={draft.id}" in listing
    resumed = await client.get(f"/messages/{msg_id}/respond?draft={draft.id}")
    page = await resumed.text()
    assert resumed.status == 200 and 'value="HX-9"' in page
    assert f'name="draft" value="{draft.id}"' in page
    # checked, confirmed (the draft id travels along), sent: the draft is gone
    token = await csrf_of(resumed)
    form = filled_form(token, clock, "check")
    form.add("draft", str(draft.id))
    confirm = await (await client.post(f"/messages/{msg_id}/respond", data=form)).text()
    assert "Check before sending" in confirm and f'name="draft" value="{draft.id}"' in confirm
    hidden = re.search(r'name="data" value="([^"]*)"', confirm)
    assert hidden
    sent = await client.post(
        f"/messages/{msg_id}/respond",
        data={"csrf": token, "kind": KIND, "step": "send", "draft": str(draft.id),
              "data": html.unescape(hidden.group(1))},
        allow_redirects=False,
    )  # fmt: skip
    assert sent.status == 303
    assert await de.store.list_drafts() == []
    assert len(await de.store.replies_to(msg_id)) == 1
    assert await draft_actions(de.store) == [
        ("officer:anna", f"saved {draft.id} {KIND}"),
        ("officer:ben", f"resumed {draft.id}"),
        ("officer:ben", f"deleted on send {draft.id}"),
    ]
    assert "No drafts." in await (await client.get("/drafts")).text()


async def test_discard_needs_csrf_and_is_logged(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient, tmp_path: Path
) -> None:
    fr, de = pair
    msg_id = await send(fr, de, "preservation_request", clock, "routine")
    assert (await client.get("/drafts")).status == 401
    await login(client)
    page = await client.get(f"/messages/{msg_id}/respond")
    token = await csrf_of(page)
    await client.post(
        f"/messages/{msg_id}/respond", data={"csrf": token, "kind": KIND, "step": "draft"}
    )
    [draft] = await de.store.list_drafts()
    refused = await client.post(f"/drafts/{draft.id}/delete", data={}, allow_redirects=False)
    assert refused.status == 403 and len(await de.store.list_drafts()) == 1
    done = await client.post(
        f"/drafts/{draft.id}/delete", data={"csrf": token}, allow_redirects=False
    )
    assert done.status == 303 and await de.store.list_drafts() == []
    assert ("officer:anna", f"discarded {draft.id}") in await draft_actions(de.store)
    # a draft that is gone: 404 on resume, nothing on a second discard
    assert (await client.get(f"/messages/{msg_id}/respond?draft={draft.id}")).status == 404


def test_draft_numbers_from_forms() -> None:
    assert draft_number("12") == 12
    for bad in (None, "", "0", "-1", "1e3", "12a", "9" * 10, 12):
        assert draft_number(bad) is None, bad

"""The authorisation matrix, one test per cell, on SQLite and PostgreSQL.

FR sends a message to DE; IT is a third member. A node reads only its own inbox and its own
messages' evidence, confirms only its own downloads, issues receipts only in its own name
and about messages addressed to it, and submits only as the header's sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from keys.envelope import Envelope
from keys.receipts import issue_at
from tests.integration.relaykit import AppUnderTest, database, node_receipt, seal, start_app


@dataclass
class Scene:
    relay: AppUnderTest
    env: Envelope
    item_id: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def scene(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        relay = await start_app(aiohttp_server, url)
        try:
            env = seal(relay.members["FR"], relay.members["DE"], relay.clock())
            async with relay.client("FR") as fr, relay.client("DE") as de:
                assert (await fr.submit(env.to_bytes()))[0] == 201
                _, inbox = await de.inbox()
            yield Scene(relay, env, inbox["items"][0]["id"])
        finally:
            # The relay's shutdown ends here, inside database(): not after this fixture
            # has let go of the database (aiohttp_server's own teardown comes later).
            await relay.close()


async def test_inbox_recipient_sees_its_envelope(scene: Scene) -> None:
    async with scene.relay.client("DE") as de:
        _, inbox = await de.inbox()
    assert [i["id"] for i in inbox["items"]] == [scene.item_id]


@pytest.mark.parametrize("party", ["FR", "IT"])
async def test_inbox_others_do_not_see_it(scene: Scene, party: str) -> None:
    async with scene.relay.client(party) as c:
        assert await c.inbox() == (200, {"items": []})


@pytest.mark.parametrize("party", ["FR", "DE"])
async def test_evidence_sender_and_recipient_may_read(scene: Scene, party: str) -> None:
    async with scene.relay.client(party) as c:
        status, ev = await c.evidence(scene.env.header.msg_id)
    assert status == 200 and ev["envelope_sha256"] == scene.env.sha256


async def test_evidence_third_party_gets_404(scene: Scene) -> None:
    async with scene.relay.client("IT") as c:
        status, err = await c.evidence(scene.env.header.msg_id)
    assert (status, err["error"]) == (404, "not_found")


@pytest.mark.parametrize("party", ["FR", "IT"])
async def test_ack_of_another_nodes_item_is_ignored(scene: Scene, party: str) -> None:
    async with scene.relay.client(party) as c, scene.relay.client("DE") as de:
        assert await c.ack([scene.item_id]) == (200, {"acked": 0, "unknown": 1})
        _, inbox = await de.inbox()
        assert [i["id"] for i in inbox["items"]] == [scene.item_id]  # still there
        _, sender_inbox = await c.inbox()
        assert all(i["type"] != "receipt" for i in sender_inbox["items"])  # no DELIVERED


async def test_ack_by_the_recipient_confirms(scene: Scene) -> None:
    async with scene.relay.client("DE") as de:
        assert await de.ack([scene.item_id]) == (200, {"acked": 1, "unknown": 0})


async def test_receipt_in_another_partys_name_is_403(scene: Scene) -> None:
    forged = node_receipt(scene.relay.members["DE"], scene.env, "RETRIEVED", scene.relay.clock())
    async with scene.relay.client("IT") as it:
        status, err = await it.send_receipt(forged.to_bytes())
    assert (status, err["error"]) == (403, "forbidden")


@pytest.mark.parametrize("party", ["FR", "IT"])
async def test_receipt_about_a_message_not_addressed_to_you_is_404(
    scene: Scene, party: str
) -> None:
    own = node_receipt(scene.relay.members[party], scene.env, "ACKNOWLEDGED", scene.relay.clock())
    async with scene.relay.client(party) as c:
        status, err = await c.send_receipt(own.to_bytes())
    assert (status, err["error"]) == (404, "not_found")


async def test_receipt_by_the_recipient_is_stored(scene: Scene) -> None:
    own = node_receipt(
        scene.relay.members["DE"], scene.env, "REJECTED", scene.relay.clock(), reason="decrypt"
    )
    async with scene.relay.client("DE") as de:
        assert await de.send_receipt(own.to_bytes()) == (201, {"stored": True})


async def test_relay_receipt_types_cannot_come_from_a_node(scene: Scene) -> None:
    de = scene.relay.members["DE"]
    forged = issue_at(
        scene.relay.clock(),
        de.key,
        type="DELIVERED",
        msg_id=scene.env.header.msg_id,
        envelope_sha256=scene.env.sha256,
        issuer="relay",
    )
    async with scene.relay.client("DE") as c:
        status, err = await c.send_receipt(forged.to_bytes())
    assert (status, err["error"]) == (403, "forbidden")


async def test_receipt_for_another_envelope_digest_is_rejected(scene: Scene) -> None:
    de = scene.relay.members["DE"]
    wrong = issue_at(
        scene.relay.clock(),
        de.key,
        type="RETRIEVED",
        msg_id=scene.env.header.msg_id,
        envelope_sha256="0" * 64,
        issuer="DE",
    )
    async with scene.relay.client("DE") as c:
        status, err = await c.send_receipt(wrong.to_bytes())
    assert (status, err["error"]) == (400, "rejected")


async def test_submit_as_someone_else_is_403(scene: Scene) -> None:
    relay = scene.relay
    env = seal(relay.members["DE"], relay.members["IT"], relay.clock())  # signed by DE
    async with relay.client("FR") as fr:
        status, err = await fr.submit(env.to_bytes())
    assert (status, err["error"]) == (403, "forbidden")


async def test_submit_as_yourself_is_accepted(scene: Scene) -> None:
    relay = scene.relay
    env = seal(relay.members["IT"], relay.members["DE"], relay.clock())
    async with relay.client("IT") as it:
        assert (await it.submit(env.to_bytes()))[0] == 201

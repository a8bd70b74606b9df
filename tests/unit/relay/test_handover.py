"""``POST /v1/inbox/ack`` with ``receipts``: the recipient's receipts and its download
confirmation in one request (relay.core.handover), on SQLite and on PostgreSQL. Each
receipt is checked exactly as ``POST /v1/receipts`` checks it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from keys.encoding import b64u_decode, b64u_encode
from keys.receipts import verify as verify_receipt
from relay.storage.database import make_engine
from relay.storage.schema import events
from tests.integration.relaykit import AppUnderTest, database, node_receipt, seal, start_app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url)


async def _event_types(relay: AppUnderTest) -> list[str]:
    engine = make_engine(relay.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(events.c.type).order_by(events.c.seq))
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


def _body(ids: list[str], receipts: list[Any]) -> bytes:
    return json.dumps({"ids": ids, "receipts": receipts}).encode()


async def _delivered_to_de(relay: AppUnderTest, cf: Any, cd: Any, **kw: Any) -> tuple[Any, str]:
    env = seal(relay.members["FR"], relay.members["DE"], relay.clock(), **kw)
    assert (await cf.submit(env.to_bytes()))[0] == 201
    _, inbox = await cd.inbox()
    return env, inbox["items"][-1]["id"]


async def test_receipt_and_ack_in_one_request_reach_the_sender(
    relay: AppUnderTest,
) -> None:
    de = relay.members["DE"]
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        env, item = await _delivered_to_de(relay, cf, cd)
        retrieved = node_receipt(de, env, "RETRIEVED", relay.clock())
        body = _body([item], [retrieved.to_wire()])
        status, answer, _ = await cd.request("POST", "/v1/inbox/ack", body)
        assert (status, answer) == (200, {"acked": 1, "unknown": 0, "receipts": [{"status": 201}]})
        # Both are the sender's when the request has been answered, RETRIEVED first.
        _, sender = await cf.inbox()
        got = [verify_receipt(i["receipt"], _key(relay, i)).receipt.type for i in sender["items"]]
        assert got == ["RETRIEVED", "DELIVERED"]
        assert (await cd.inbox())[1]["items"] == []
        # Idempotent: the same request again stores and removes nothing.
        status, again, _ = await cd.request("POST", "/v1/inbox/ack", body)
        assert again == {"acked": 0, "unknown": 1, "receipts": [{"status": 200}]}
    assert await _event_types(relay) == [
        "directory_installed",
        "accepted",
        "retrieved",
        "delivered",
    ]


def _key(relay: AppUnderTest, item: dict[str, Any]) -> Any:
    issuer = json.loads(b64u_decode(item["receipt"]["payload"]))["issuer"]
    return relay.relay_key if issuer == "relay" else relay.members[issuer].key.public


async def test_each_refused_receipt_is_answered_in_its_place_and_the_rest_goes_on(
    relay: AppUnderTest,
) -> None:
    fr, de, it = relay.members["FR"], relay.members["DE"], relay.members["IT"]
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        env, item = await _delivered_to_de(relay, cf, cd)
        assert (
            await cd.send_receipt(node_receipt(de, env, "RETRIEVED", relay.clock()).to_bytes())
        )[0] == 201
        relay.clock.advance(seconds=1)
        tampered = node_receipt(de, env, "ACKNOWLEDGED", relay.clock()).to_wire()
        tampered["sig"] = b64u_encode(bytes(64))
        given = [
            node_receipt(de, env, "RETRIEVED", relay.clock()).to_wire(),  # another: 409
            node_receipt(it, env, "RETRIEVED", relay.clock()).to_wire(),  # not DE's: 403
            tampered,  # bad signature: 400 rejected
            node_receipt(fr, env, "ACKNOWLEDGED", relay.clock()).to_wire(),  # FR's: 403
            "not a receipt",
            node_receipt(de, env, "ACKNOWLEDGED", relay.clock()).to_wire(),  # stored
        ]
        status, answer, _ = await cd.request("POST", "/v1/inbox/ack", _body([item], given))
        assert status == 200 and answer["acked"] == 1
        assert [(r["status"], r.get("error")) for r in answer["receipts"]] == [
            (409, "receipt_exists"),
            (403, "forbidden"),
            (400, "rejected"),
            (403, "forbidden"),
            (400, answer["receipts"][4]["error"]),
            (201, None),
        ]
        assert answer["receipts"][2]["message"] == "rejected"  # nothing more for a peer
    assert (await _event_types(relay))[-3:] == ["retrieved", "acknowledged", "delivered"]


@pytest.mark.parametrize(
    "body",
    [
        {"ids": [], "receipts": {}},
        {"ids": [], "receipts": [], "more": 1},
        {"receipts": []},
        {"ids": ["1"] * 101, "receipts": []},
        {"ids": [], "receipts": [{}] * 101},
    ],
    ids=["receipts-not-a-list", "unknown-field", "no-ids", "too-many-ids", "too-many-receipts"],
)
async def test_a_malformed_hand_over_is_refused_whole(
    relay: AppUnderTest, body: dict[str, Any]
) -> None:
    async with relay.client("DE") as cd:
        status, answer, _ = await cd.request("POST", "/v1/inbox/ack", json.dumps(body).encode())
    assert status == 400 and answer["error"] in ("bad_fields", "too_many_ids")


async def test_an_acknowledgement_can_long_poll_for_the_next_items(relay: AppUnderTest) -> None:
    de = relay.members["DE"]
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        env, item = await _delivered_to_de(relay, cf, cd)
        retrieved = node_receipt(de, env, "RETRIEVED", relay.clock()).to_wire()
        # DE: receipts, acknowledgement and the next long-poll in one request; it waits
        # until FR's next envelope arrives.
        body = json.dumps({"ids": [item], "receipts": [retrieved], "wait": 20, "limit": 5})
        waiting = asyncio.ensure_future(cd.request("POST", "/v1/inbox/ack", body.encode()))
        _, sender = await cf.inbox(wait=20)  # FR is woken by RETRIEVED
        assert sender["items"][0]["msg_id"] == env.header.msg_id
        follow = seal(relay.members["FR"], de, relay.clock(), body={"n": 2})
        assert (await cf.submit(follow.to_bytes()))[0] == 201
        status, answer, _ = await asyncio.wait_for(waiting, 20)
        assert status == 200 and answer["acked"] == 1 and answer["receipts"] == [{"status": 201}]
        assert [i["envelope"] for i in answer["items"]] == [follow.to_wire()]
        # FR acknowledges its receipts and finds nothing more at once (wait 0).
        _, sender = await cf.inbox()
        ids = [i["id"] for i in sender["items"]]
        assert len(ids) == 2  # RETRIEVED and DELIVERED
        ack = json.dumps({"ids": ids, "wait": 0}).encode()
        status, answer, _ = await cf.request("POST", "/v1/inbox/ack", ack)
        assert (status, answer) == (200, {"acked": 2, "unknown": 0, "items": []})


@pytest.mark.parametrize(
    "extra",
    [{"wait": "1"}, {"wait": -1}, {"wait": True}, {"wait": 1, "limit": 0}, {"limit": 5}],
    ids=["wait-text", "wait-negative", "wait-bool", "limit-zero", "limit-without-wait"],
)
async def test_a_bad_long_poll_in_an_acknowledgement_is_refused(
    relay: AppUnderTest, extra: dict[str, Any]
) -> None:
    async with relay.client("DE") as cd:
        body = json.dumps({"ids": [], **extra}).encode()
        status, answer, _ = await cd.request("POST", "/v1/inbox/ack", body)
    assert status == 400 and answer["error"] in ("invalid_field", "bad_fields")

"""``GET /v1/audit/proofs/messages``: the log entries of several messages with their
inclusion proofs in ONE checkpoint's tree, for the messages the caller sent or received
only (SQLite, and PostgreSQL when POCNET_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from typing import Any

import pytest

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.check import check_entry_inclusion
from keys.auditlog.entry import parse_entry
from keys.encoding import b64u_decode
from keys.errors import Rejected
from tests.integration.relaykit import AppUnderTest, database, seal, start_app

ORIGIN = "pocnet.relay/pocnet"
PATH = "/v1/audit/proofs/messages"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url)


async def test_several_messages_are_proven_in_one_checkpoint_for_their_parties_only(
    relay: AppUnderTest,
) -> None:
    fr, de, it = relay.members["FR"], relay.members["DE"], relay.members["IT"]
    mine = [seal(fr, de, relay.clock(), body={"n": n}) for n in range(3)]
    other = seal(it, de, relay.clock())
    async with relay.client("FR") as cf, relay.client("IT") as ci, relay.client("DE") as cd:
        for env in mine:
            assert (await cf.submit(env.to_bytes()))[0] == 201
        assert (await ci.submit(other.to_bytes()))[0] == 201
        _, inbox = await cd.inbox()
        await cd.ack([inbox["items"][0]["id"]])  # the first is DELIVERED too
        unknown = "0" * 32
        ids = [env.header.msg_id for env in mine] + [other.header.msg_id, unknown]
        query = "&".join(f"msg_id={m}" for m in ids)
        status, answer, _ = await cf.request("GET", f"{PATH}?{query}")
        # Another party's message and an unknown id are answered alike: absent.
        status_it, answer_it, _ = await ci.request("GET", f"{PATH}?msg_id={other.header.msg_id}")
    assert status == 200 and set(answer) == {"checkpoint", "messages"}
    assert set(answer["messages"]) == {env.header.msg_id for env in mine}
    checkpoint = signed_checkpoint.verify(answer["checkpoint"].encode(), relay.relay_key, ORIGIN)
    for env in mine:
        proofs = answer["messages"][env.header.msg_id]
        types = [parse_entry(b64u_decode(p["entry"]))["type"] for p in proofs]
        assert types == (["accepted", "delivered"] if env is mine[0] else ["accepted"])
        for p in proofs:
            entry, index = b64u_decode(p["entry"]), p["leaf_index"]
            hashes = [b64u_decode(h) for h in p["hashes"]]
            expect = {"msg_id": env.header.msg_id, "envelope_sha256": env.sha256}
            check_entry_inclusion(entry, index, hashes, checkpoint, expect=expect)
            with pytest.raises(Rejected):
                check_entry_inclusion(entry, index ^ 1, hashes, checkpoint, expect=expect)
    assert status_it == 200 and list(answer_it["messages"]) == [other.header.msg_id]


@pytest.mark.parametrize(
    "query",
    ["", "?msg_id=XYZ", "?msg_id=" + "A" * 32, "?" + "&".join(["msg_id=" + "0" * 32] * 51)],
    ids=["none", "not-hex", "upper-case", "too-many"],
)
async def test_bad_batched_proof_requests_are_refused(relay: AppUnderTest, query: str) -> None:
    async with relay.client("FR") as cf:
        status, answer, _ = await cf.request("GET", PATH + query)
    assert status == 400 and answer["error"] in ("invalid_field", "bad_id")


async def test_batched_proofs_need_a_signed_request(relay: AppUnderTest) -> None:
    async with relay.client("FR") as cf:
        status, _, _ = await cf.request("GET", f"{PATH}?msg_id={'0' * 32}", sign=False)
    assert status == 401

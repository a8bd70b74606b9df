"""The recipient's receipts and download confirmation in one request (``POST /v1/inbox/ack``
with ``receipts``): how the transport splits and reads it, the fallback for a relay without
it, and what the inbox keeps when the request fails."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from keys.encoding import format_time
from keys.errors import NotFound, PeerError, PocnetError, Rejected
from keys.host.command import Unreachable
from keys.identities import SigningKey
from node.forms import validate_form
from node.relayapi.transport import (
    HANDOVER_BYTES,
    HttpRelayTransport,
    handover_chunks,
    handover_outcomes,
)
from node.runtime import Node
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node
from tests.support.scripted_relay import ScriptedRelay, serving

KEY = SigningKey.generate()
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SMALL = b'{"payload":"p","sig":"s"}'


@pytest.mark.parametrize(
    ("ids", "receipts", "shape"),
    [
        (3, [SMALL] * 2, [(3, 2)]),
        (150, [], [(100, 0), (50, 0)]),
        (0, [SMALL] * 250, [(0, 100), (0, 100), (0, 50)]),
        (2, [b"x" * (HANDOVER_BYTES // 2 + 1)] * 3, [(0, 1), (0, 1), (2, 1)]),
        (1, [b"x" * (HANDOVER_BYTES + 1)], [(1, 1)]),
        (0, [], [(0, 0)]),
    ],
    ids=["one-request", "ids-only", "many-receipts", "by-size-ids-last", "one-too-big", "empty"],
)
def test_a_hand_over_is_split_so_every_receipt_precedes_its_ack(
    ids: int, receipts: list[bytes], shape: list[tuple[int, int]]
) -> None:
    chunks = handover_chunks([str(i) for i in range(ids)], receipts)
    assert [(len(i), len(r)) for i, r in chunks] == shape
    assert [x for i, _ in chunks for x in i] == [str(i) for i in range(ids)]
    assert [x for _, r in chunks for x in r] == receipts


def test_the_relays_answers_per_receipt_become_outcomes() -> None:
    raw = [
        {"status": 201},
        {"status": 200},
        {"status": 409, "error": "receipt_exists", "message": "x"},
        {"status": 400, "error": "rejected", "message": "rejected"},
        {"status": 404, "error": "not_found", "message": "no such message"},
    ]
    out = handover_outcomes(raw, 5)
    assert out[:2] == [True, False]
    assert isinstance(out[2], PeerError) and out[2].code == "receipt_exists"
    assert isinstance(out[3], Rejected) and isinstance(out[4], NotFound)
    for bad, n in [(raw, 4), ({"status": 201}, 1), ([{"status": "201"}], 1), ([{}], 1)]:
        with pytest.raises(PeerError):
            handover_outcomes(bad, n)


def transport(url: str) -> HttpRelayTransport:
    return HttpRelayTransport(url, party="FR", signing_key=KEY, clock=lambda: datetime.now(UTC))


async def test_one_request_carries_the_receipts_and_the_ids() -> None:
    scripted = ScriptedRelay(KEY, answer=(200, {"acked": 2, "unknown": 0, "receipts": []}))
    scripted.answer = (200, {"acked": 2, "unknown": 0, "receipts": [{"status": 201}]})
    async with serving(scripted) as url:
        t = transport(url)
        try:
            answer = await t.hand_over(["7", "8"], [SMALL])
        finally:
            await t.close()
    assert (answer.acked, answer.receipts) == (2, [True])
    [(method, path, body)] = scripted.seen
    assert (method, path) == ("POST", "/v1/inbox/ack")
    assert json.loads(body) == {"ids": ["7", "8"], "receipts": [json.loads(SMALL)]}


async def test_a_relay_without_it_gets_the_receipts_one_by_one_then_the_ack() -> None:
    scripted = ScriptedRelay(KEY)
    scripted.script = [
        (400, {"error": "bad_fields", "message": 'the body must be {"ids": [...]}'}),
        (201, {"stored": True}),
        (409, {"error": "receipt_exists", "message": "another"}),
        (200, {"acked": 1, "unknown": 0}),
    ]
    async with serving(scripted) as url:
        t = transport(url)
        try:
            answer = await t.hand_over(["7"], [SMALL, SMALL])
        finally:
            await t.close()
    assert scripted.paths == ["/v1/inbox/ack", "/v1/receipts", "/v1/receipts", "/v1/inbox/ack"]
    assert answer.acked == 1 and answer.receipts[0] is True
    assert isinstance(answer.receipts[1], PeerError)
    assert answer.receipts[1].code == "receipt_exists"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[FakeRelayNetwork, Node, Node]]:
    clock = FakeClock(T0)
    net = FakeRelayNetwork(clock)
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, log=log)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock, log=log)
    try:
        await fr.peers.refresh(fr.transport, clock())
        await de.peers.refresh(de.transport, clock())
        yield net, fr, de
    finally:
        await fr.close()
        await de.close()


async def _sent_to_de(fr: Node, now: datetime) -> str:
    msg = await fr.outbox.queue("DE", validate_form("ping", {}, now=now), now)
    assert await fr.outbox.submit(msg, now) == "accepted"
    return msg.msg_id


async def test_the_inbox_hands_over_in_one_call_and_the_sender_gets_both_receipts(
    pair: tuple[FakeRelayNetwork, Node, Node],
) -> None:
    net, fr, de = pair
    msg_id = await _sent_to_de(fr, T0)
    net.calls.clear()
    report = await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), T0)
    assert report.received == [msg_id] and report.acked == 1
    assert ("DE", "hand_over") in net.calls
    assert await de.store.pending_receipts(format_time(T0)) == []
    await fr.inbox.handle(await fr.transport.inbox(wait=0, limit=10), T0)
    assert {r.type for r in await fr.store.receipts_for(msg_id)} >= {"RETRIEVED", "DELIVERED"}


async def test_an_unanswered_hand_over_keeps_the_receipt_for_the_outbox(
    pair: tuple[FakeRelayNetwork, Node, Node],
) -> None:
    net, fr, de = pair
    msg_id = await _sent_to_de(fr, T0)
    items = await de.transport.inbox(wait=0, limit=10)
    net.down = True
    with pytest.raises(Unreachable):
        await de.inbox.handle(items, T0)
    [kept] = await de.store.pending_receipts("")
    assert (kept.msg_id, kept.type, kept.attempts) == (msg_id, "RETRIEVED", 1)
    net.down = False
    later = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)
    await de.outbox.post_receipts(later)  # what the daemon's outbox does
    assert await de.store.pending_receipts("") == []
    assert "RETRIEVED" in {json.loads(_payload(r))["type"] for r in net.envelopes[msg_id].receipts}


def _payload(wire: object) -> bytes:
    from keys.encoding import b64u_decode

    assert isinstance(wire, dict)
    return b64u_decode(wire["payload"])


def test_refusals_are_final_and_failures_of_the_relay_are_not() -> None:
    # The relay answers a refused receipt in its place; a 5xx fails the whole request.
    out = handover_outcomes([{"status": 403, "error": "forbidden", "message": "x"}], 1)
    assert isinstance(out[0], PocnetError) and out[0].http_status == 403


async def test_the_last_request_of_a_hand_over_can_long_poll() -> None:
    scripted = ScriptedRelay(KEY)
    item = {"id": "9", "type": "receipt", "msg_id": "a" * 32, "receipt": json.loads(SMALL)}
    scripted.answer = (200, {"acked": 1, "unknown": 0, "receipts": [], "items": [item]})
    async with serving(scripted) as url:
        t = transport(url)
        try:
            answer = await t.hand_over(["7"], [], wait=25, limit=10)
            assert answer.items is not None and [i.id for i in answer.items] == ["9"]
            scripted.answer = (200, {"acked": 1, "unknown": 0, "receipts": []})
            assert (await t.hand_over(["8"], [])).items is None  # none asked for
        finally:
            await t.close()
    assert json.loads(scripted.seen[0][2]) == {
        "ids": ["7"],
        "receipts": [],
        "wait": 25,
        "limit": 10,
    }
    assert set(json.loads(scripted.seen[1][2])) == {"ids", "receipts"}

"""node.relayapi.selection (a table of named cases) and node.relayapi.failover (scripted
relays): the node sticks to the relay that answers and moves on when one does not."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from keys.errors import Rejected
from keys.host.command import Unreachable
from node.relayapi.failover import FailoverTransport
from node.relayapi.selection import Health, cooling, failed, try_order
from node.relayapi.transport import SubmitResult

OK = Health()
BASE, CAP = 1.0, 30.0


@pytest.mark.parametrize(
    ("current", "health", "now", "expected"),
    [
        pytest.param(0, [OK, OK, OK], 100.0, (0, 1, 2), id="all-healthy-configured-order"),
        pytest.param(1, [OK, OK, OK], 100.0, (1, 0, 2), id="sticks-to-the-current"),
        pytest.param(0, [Health(1, 99.5), OK], 100.0, (1, 0), id="just-failed-goes-last"),
        pytest.param(0, [Health(1, 98.0), OK], 100.0, (0, 1), id="cooled-down-first-again"),
        pytest.param(0, [Health(3, 97.0), OK], 100.0, (1, 0), id="cooling-doubles-per-failure"),
        pytest.param(0, [Health(20, 75.0), OK], 100.0, (1, 0), id="cooling-capped-still-cool"),
        pytest.param(0, [Health(20, 65.0), OK], 100.0, (0, 1), id="cooling-capped-then-free"),
        pytest.param(
            2,
            [Health(1, 99.9), Health(1, 99.0), Health(1, 99.5)],
            100.0,
            (1, 2, 0),
            id="all-cooling-oldest-failure-first",
        ),
        pytest.param(0, [OK], 100.0, (0,), id="one-relay"),
    ],
)
def test_try_order(
    current: int, health: list[Health], now: float, expected: tuple[int, ...]
) -> None:
    order = try_order(current, health, now, base=BASE, cap=CAP)
    assert order == expected
    assert sorted(order) == list(range(len(health)))  # every relay, once


def test_failure_and_cooling() -> None:
    h = failed(failed(OK, 10.0), 11.0)
    assert h == Health(2, 11.0)
    assert cooling(h, 12.9, base=BASE, cap=CAP) and not cooling(h, 13.0, base=BASE, cap=CAP)


class Scripted:
    """A relay that answers, or raises what it is told to."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.error: Exception | None = None
        self.calls = 0

    async def submit(self, envelope: bytes) -> SubmitResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return SubmitResult(receipt={"by": self.name}, created=True)

    async def close(self) -> None:
        return None


def transport(*relays: Scripted, clock: list[float]) -> FailoverTransport:
    pairs: list[tuple[str, Any]] = [(f"http://{r.name}", r) for r in relays]
    return FailoverTransport(
        pairs, log=structlog.get_logger(), base=BASE, cap=CAP, clock=lambda: clock[0]
    )


async def test_moves_to_the_next_relay_in_the_same_call_and_sticks_to_it() -> None:
    a, b = Scripted("a"), Scripted("b")
    now = [100.0]
    t = transport(a, b, clock=now)
    assert (await t.submit(b"x")).receipt == {"by": "a"}
    a.error = Unreachable("the relay answered 503 (unavailable)")
    with structlog.testing.capture_logs() as logs:
        assert (await t.submit(b"x")).receipt == {"by": "b"}
    assert t.url == "http://b" and t.health[0].failures == 1
    assert [e["event"] for e in logs] == ["relay.failed_over", "relay.switched"]
    a.error = None  # a is back: the node stays with b while b answers
    now[0] += 1000
    assert (await t.submit(b"x")).receipt == {"by": "b"}
    assert a.calls == 2


async def test_every_relay_down_raises_unreachable_after_trying_each_once() -> None:
    a, b, c = Scripted("a"), Scripted("b"), Scripted("c")
    for r in (a, b, c):
        r.error = Unreachable("no answer")
    t = transport(a, b, c, clock=[0.0])
    with pytest.raises(Unreachable):
        await t.submit(b"x")
    assert (a.calls, b.calls, c.calls) == (1, 1, 1) and t.url == "http://a"


async def test_a_refusal_is_the_answer_and_is_not_sent_elsewhere() -> None:
    a, b = Scripted("a"), Scripted("b")
    a.error = Rejected("relay_rejected")
    t = transport(a, b, clock=[0.0])
    with pytest.raises(Rejected):
        await t.submit(b"x")
    assert b.calls == 0 and t.health[0] == OK


class EveryCall(Scripted):
    """A relay that records every call by name (the calls added after submit)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    def _answer(self, what: str, value: Any) -> Any:
        self.calls += 1
        self.seen.append(what)
        if self.error is not None:
            raise self.error
        return value

    async def hand_over(self, ids: Any, receipts: Any, *, wait: Any = None, limit: int = 1) -> Any:
        return self._answer("hand_over", (self.name, list(ids), list(receipts), wait))

    async def audit_messages(self, msg_ids: Any) -> Any:
        return self._answer("audit_messages", (self.name, list(msg_ids)))

    async def put_chunk(self, att_id: str, idx: int, blob: bytes, *, size: int, chunks: int) -> Any:
        return self._answer("put_chunk", (self.name, att_id, idx, size, chunks))

    async def attachment_status(self, att_id: str) -> Any:
        return self._answer("attachment_status", {"by": self.name, "id": att_id})

    async def get_chunk(self, att_id: str, idx: int, max_bytes: int) -> Any:
        return self._answer("get_chunk", (self.name, att_id, idx))


async def test_hand_over_proofs_and_attachments_fail_over_like_every_call() -> None:
    """The calls added for receipts hand-over, batched proofs and attachment chunks go
    through the same failover: any relay serves them, all reading one database."""
    a, b = EveryCall("a"), EveryCall("b")
    a.error = Unreachable("the relay answered 503 (unavailable)")
    t = transport(a, b, clock=[0.0])
    assert await t.hand_over(["m"], [b"r"], wait=5) == ("b", ["m"], [b"r"], 5)
    assert await t.audit_messages(["m"]) == ("b", ["m"])
    assert await t.put_chunk("f", 2, b"blob", size=9, chunks=3) == ("b", "f", 2, 9, 3)
    assert await t.attachment_status("f") == {"by": "b", "id": "f"}
    assert await t.get_chunk("f", 2, 100) == ("b", "f", 2)
    assert a.seen == ["hand_over"]  # tried once, then cooling: b is used from then on
    assert b.seen == ["hand_over", "audit_messages", "put_chunk", "attachment_status", "get_chunk"]

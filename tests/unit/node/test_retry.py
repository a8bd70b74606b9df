"""The outbox's retry decision (pure, capped per priority) and its sending order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.config import OutboxSettings
from node.exchange.retry import RetryPolicy, next_attempt, retry_delay, sending_order
from node.forms import validate_form
from tests.support.fake_relay import FakeClock, FakeRelayNetwork, fake_node

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(1.0, {"emergency": 5.0, "urgent": 30.0, "routine": 300.0})

# (name, priority, attempts, jitter, retry_after, expected delay in seconds)
CASES = [
    ("emergency first failure, no jitter", "emergency", 1, 0.0, None, 0.5),
    ("emergency first failure, full jitter", "emergency", 1, 1.0, None, 1.0),
    ("emergency third failure", "emergency", 3, 1.0, None, 4.0),
    ("emergency capped at 5 s", "emergency", 4, 1.0, None, 5.0),
    ("emergency attempt 9 still 5 s (the issue's 2 minutes)", "emergency", 9, 1.0, None, 5.0),
    ("emergency capped, no jitter", "emergency", 20, 0.0, None, 2.5),
    ("urgent sixth failure capped at 30 s", "urgent", 6, 1.0, None, 30.0),
    ("urgent fifth failure", "urgent", 5, 1.0, None, 16.0),
    ("routine ninth failure capped at 300 s", "routine", 9, 1.0, None, 256.0),
    ("routine tenth failure", "routine", 10, 1.0, None, 300.0),
    ("routine huge attempt count", "routine", 10_000, 1.0, None, 300.0),
    ("unknown priority gets the largest cap", "whatever", 12, 1.0, None, 300.0),
    ("zero attempts treated as the first", "urgent", 0, 1.0, None, 1.0),
    ("retry-after lengthens the delay", "routine", 1, 0.0, 42.0, 42.0),
    ("retry-after never beyond the emergency cap", "emergency", 1, 0.0, 600.0, 5.0),
    ("retry-after never beyond the urgent cap", "urgent", 1, 0.0, 600.0, 30.0),
    ("jitter out of range is clamped", "emergency", 1, 7.0, None, 1.0),
]


@pytest.mark.parametrize(
    ("priority", "attempts", "jitter", "retry_after", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_retry_delay(
    priority: str, attempts: int, jitter: float, retry_after: float | None, expected: float
) -> None:
    delay = retry_delay(priority, attempts, policy=POLICY, jitter=jitter, retry_after=retry_after)
    assert delay == pytest.approx(expected)
    when = next_attempt(
        priority, attempts, T0, policy=POLICY, jitter=jitter, retry_after=retry_after
    )
    assert when == T0 + timedelta(seconds=expected)


@given(
    priority=st.sampled_from(["emergency", "urgent", "routine"]),
    attempts=st.integers(min_value=0, max_value=10**6),
    jitter=st.floats(min_value=0, max_value=1),
    retry_after=st.none() | st.floats(min_value=0, max_value=10**6),
)
def test_the_cap_of_each_priority_always_holds(
    priority: str, attempts: int, jitter: float, retry_after: float | None
) -> None:
    delay = retry_delay(priority, attempts, policy=POLICY, jitter=jitter, retry_after=retry_after)
    assert 0 < delay <= POLICY.caps[priority]


def test_sending_order_is_emergency_then_urgent_then_routine_then_oldest() -> None:
    rows = [
        ("routine", "2025-01-01T00:00:00Z"),
        ("urgent", "2025-01-03T00:00:00Z"),
        ("emergency", "2025-01-04T00:00:00Z"),
        ("urgent", "2025-01-02T00:00:00Z"),
        ("emergency", "2025-01-05T00:00:00Z"),
    ]
    assert sorted(rows, key=lambda r: sending_order(*r)) == [
        ("emergency", "2025-01-04T00:00:00Z"),
        ("emergency", "2025-01-05T00:00:00Z"),
        ("urgent", "2025-01-02T00:00:00Z"),
        ("urgent", "2025-01-03T00:00:00Z"),
        ("routine", "2025-01-01T00:00:00Z"),
    ]


async def test_the_outbox_sends_by_priority_and_caps_retries_per_priority(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    net = FakeRelayNetwork(clock)
    settings = OutboxSettings(retry_base=1.0, retry_max=300.0, retry_max_emergency=5.0)
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock, outbox=settings)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    await fr.peers.refresh(fr.transport, clock())
    try:
        ids = {}
        for priority in ("routine", "urgent", "emergency"):
            form = validate_form("ping", {}, now=clock(), priority=priority)
            ids[priority] = (await fr.outbox.queue("DE", form, clock(), grace=timedelta(0))).msg_id
            clock.advance(seconds=1)
        queued = await fr.store.due_outgoing("")
        assert [m.priority for m in queued] == ["emergency", "urgent", "routine"]
        # Down for ten attempts: the emergency is never more than 5 s from its next try.
        net.down = True
        for _ in range(10):
            await fr.outbox.flush(clock(), everything=True)
        for priority, cap in (("emergency", 5.0), ("routine", 300.0)):
            msg = await fr.store.get_message(ids[priority])
            assert msg.state == "queued" and msg.next_attempt_at is not None
            delay = (msg.next_attempt_at - clock()).total_seconds()
            assert 0 < delay <= cap
        # The relay answers again: a woken flush sends everything that failed at once,
        # the emergency first.
        net.down = False
        assert (await fr.outbox.flush(clock())).accepted == []  # none due by its backoff
        report = await fr.outbox.flush(clock(), wake=True)
        assert set(report.accepted) == set(ids.values())
        assert report.accepted[0] == ids["emergency"]
    finally:
        await fr.close()
        await de.close()

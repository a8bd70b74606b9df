"""relay.tasks.base: rounds, wake-ups, failures logged and survived, a clean stop.

Every wait here is bounded (BOUND seconds); nothing sleeps for time to pass.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from relay.storage.notify import dispatch
from relay.tasks.base import BackgroundTask
from relay.tasks.deadlines import MAX_SLEEP_SECONDS, sleep_until

BOUND = 5.0


class Probe(BackgroundTask):
    """Counts its rounds; fails when told; sleeps ``pause`` between rounds."""

    name = "probe"
    failure_event = "probe.failed"
    retry_seconds = None  # after a failure, wait for a wake-up

    def __init__(self, pause: float | None = None, first_sleep: float | None = None) -> None:
        super().__init__()
        self.pause = pause
        self.first_sleep = first_sleep
        self.rounds = 0
        self.fail_next = False
        self.ran = asyncio.Event()
        self.hold: asyncio.Event | None = None

    async def round(self) -> float | None:
        self.rounds += 1
        self.ran.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("secret detail that must not be logged")
        return self.pause

    async def next_round(self) -> None:
        self.ran.clear()
        await asyncio.wait_for(self.ran.wait(), BOUND)


async def test_first_round_at_start_then_sleeps_until_woken() -> None:
    task = Probe(pause=None)
    task.start()
    try:
        await asyncio.wait_for(task.ran.wait(), BOUND)
        assert task.rounds == 1
        task.ran.clear()
        await asyncio.sleep(0)  # let it reach its sleep
        assert task.rounds == 1 and not task.ran.is_set()
        task.wake()
        await asyncio.wait_for(task.ran.wait(), BOUND)
        assert task.rounds == 2
    finally:
        await task.close()


async def test_a_round_returning_zero_runs_again_at_once() -> None:
    task = Probe(pause=0.0)
    task.start()
    try:
        for _ in range(3):
            await task.next_round()
        assert task.rounds >= 3
    finally:
        await task.close()


async def test_a_wake_during_a_round_is_kept() -> None:
    task = Probe(pause=None)
    task.hold = asyncio.Event()
    task.start()
    try:
        await asyncio.wait_for(task.ran.wait(), BOUND)  # round 1 is running, held
        task.wake()  # arrives during the round
        task.ran.clear()
        task.hold.set()
        await asyncio.wait_for(task.ran.wait(), BOUND)  # round 2 with no further wake
        assert task.rounds == 2
    finally:
        await task.close()


async def test_a_failed_round_is_logged_without_detail_and_the_task_goes_on() -> None:
    task = Probe(pause=None)
    task.fail_next = True
    with capture_logs() as logs:
        task.start()
        try:
            await asyncio.wait_for(task.ran.wait(), BOUND)
            for _ in range(100):  # bounded: the failure is logged before the next sleep
                if logs:
                    break
                await asyncio.sleep(0)
            assert task.running
            task.wake()
            await task.next_round()
            assert task.rounds == 2
        finally:
            await task.close()
    failures = [e for e in logs if e["event"] == "probe.failed"]
    assert len(failures) == 1
    assert failures[0]["error"] == "RuntimeError"
    assert failures[0]["log_level"] == "error"
    assert "secret" not in repr(logs)


async def test_first_sleep_delays_the_first_round_until_woken() -> None:
    task = Probe(pause=None, first_sleep=3600.0)
    task.start()
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert task.rounds == 0
        task.wake()
        await asyncio.wait_for(task.ran.wait(), BOUND)
        assert task.rounds == 1
    finally:
        await task.close()


async def test_close_stops_a_task_in_a_round_or_asleep_and_is_idempotent() -> None:
    asleep = Probe(pause=None)
    busy = Probe(pause=None)
    busy.hold = asyncio.Event()  # never set: close() cancels it mid-round
    for task in (asleep, busy):
        task.start()
        await asyncio.wait_for(task.ran.wait(), BOUND)
        await asyncio.wait_for(task.close(), BOUND)
        assert not task.running
        await task.close()


async def test_start_twice_is_refused() -> None:
    task = Probe()
    task.start()
    try:
        with pytest.raises(RuntimeError):
            task.start()
    finally:
        await task.close()


# -- the duties' own decisions -----------------------------------------------------------

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        pytest.param(None, None, id="no-deadline-sleeps-until-woken"),
        pytest.param(T0 + timedelta(seconds=90), 90.0, id="until-the-deadline"),
        pytest.param(T0, 0.0, id="due-now"),
        pytest.param(T0 - timedelta(hours=1), 0.0, id="overdue-never-negative"),
        pytest.param(T0 + timedelta(days=2), MAX_SLEEP_SECONDS, id="capped"),
    ],
)
def test_deadline_sleep(deadline: datetime | None, expected: float | None) -> None:
    assert sleep_until(deadline, T0) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param("inbox:DE", ("inbox", "DE"), id="inbox"),
        pytest.param("inbox:", None, id="inbox-without-party"),
        pytest.param("deadline:2025-03-01T12:00:00+00:00", ("deadline", T0), id="deadline"),
        pytest.param("deadline:2025-03-01T12:00:00", None, id="deadline-without-zone"),
        pytest.param("deadline:soon", None, id="deadline-not-a-time"),
        pytest.param("deadline:" + "9" * 100, None, id="deadline-too-long"),
        pytest.param("directory", ("directory", None), id="directory"),
        pytest.param("audit:42", ("audit", 42), id="audit-grown"),
        pytest.param("audit:-1", None, id="audit-not-a-size"),
        pytest.param("audit:" + "9" * 30, None, id="audit-too-long"),
        pytest.param("other:x", None, id="unknown-kind"),
        pytest.param("", None, id="empty"),
    ],
)
def test_listener_dispatch(payload: str, expected: tuple[str, object] | None) -> None:
    calls: list[tuple[str, object]] = []
    dispatch(
        payload,
        on_inbox=lambda party: calls.append(("inbox", party)),
        on_deadline=lambda when: calls.append(("deadline", when)),
        on_directory=lambda: calls.append(("directory", None)),
        on_audit=lambda size: calls.append(("audit", size)),
    )
    assert calls == ([] if expected is None else [expected])


async def test_close_right_after_a_wake_up_still_stops_the_task() -> None:
    # Python 3.11's asyncio.wait_for loses a cancellation that arrives together with the
    # awaited result; the task would then run on and close() wait for ever.
    task = Probe(pause=3600.0)
    task.start()
    try:
        await asyncio.wait_for(task.ran.wait(), BOUND)
        for _ in range(5):
            await asyncio.sleep(0)  # into its sleep
        task.wake()
        async with asyncio.timeout(BOUND):  # close() in this task: the same tick as wake()
            await task.close()
        assert not task.running
        assert task.rounds == 1
    finally:
        await task.close()

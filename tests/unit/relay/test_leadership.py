"""relay.tasks.leader: one process leads, its duties run only while it does, a lost lock
stops them and a follower takes over. A fake lock stands for PostgreSQL's advisory lock
(the real one is exercised by tests/integration/test_relay_workers.py).

Every wait is bounded (BOUND seconds); nothing sleeps for time to pass.
"""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from relay.tasks.base import BackgroundTask
from relay.tasks.leader import Leadership

BOUND = 5.0


class SharedLock:
    """One advisory lock that several sessions compete for."""

    def __init__(self) -> None:
        self.holder: FakeSession | None = None


class FakeSession:
    """A session on :class:`SharedLock`; ``down`` makes every call fail like a lost server."""

    def __init__(self, shared: SharedLock) -> None:
        self.shared = shared
        self.down = False
        self.attempts = 0
        self.tried = asyncio.Event()

    async def try_acquire(self) -> bool:
        self.attempts += 1
        self.tried.set()
        if self.down:
            raise ConnectionError("server gone")
        if self.shared.holder is None:
            self.shared.holder = self
        return self.shared.holder is self

    async def still_held(self) -> bool:
        self.tried.set()
        return not self.down and self.shared.holder is self

    def lose(self) -> None:
        """The session ends (the process was killed, the server restarted)."""
        if self.shared.holder is self:
            self.shared.holder = None
        self.down = True

    async def close(self) -> None:
        if self.shared.holder is self:
            self.shared.holder = None


class Duty(BackgroundTask):
    name = "duty"
    retry_seconds = None

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0
        self.ran = asyncio.Event()

    async def round(self) -> float | None:
        self.rounds += 1
        self.ran.set()
        return None


async def _until(condition: object, what: str) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_gated_duty_sleeps_until_its_gate_opens_and_is_woken() -> None:
    duty = Duty()
    is_open = False
    duty.gate = lambda: is_open
    duty.start()
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert duty.rounds == 0
        duty.wake()  # woken while closed: still nothing
        for _ in range(10):
            await asyncio.sleep(0)
        assert duty.rounds == 0
        is_open = True
        duty.wake()
        await asyncio.wait_for(duty.ran.wait(), BOUND)
        assert duty.rounds == 1
    finally:
        await duty.close()


async def test_one_leader_runs_the_duties_and_a_follower_takes_over_when_it_dies() -> None:
    shared = SharedLock()
    sessions = [FakeSession(shared), FakeSession(shared)]
    duties = [Duty(), Duty()]
    leaders = [Leadership(s, [d], every=0.05) for s, d in zip(sessions, duties, strict=True)]
    for duty in duties:
        duty.start()
    with capture_logs() as logs:
        leaders[0].start()
        await _until(lambda: leaders[0].leading, "first leader")
        leaders[1].start()
        await asyncio.wait_for(duties[0].ran.wait(), BOUND)
        await _until(lambda: sessions[1].attempts >= 2, "the follower to try twice")
        assert not leaders[1].leading and duties[1].rounds == 0
        sessions[0].lose()  # kill -9 of the leader: PostgreSQL releases its lock
        await _until(lambda: leaders[1].leading, "takeover")
        await asyncio.wait_for(duties[1].ran.wait(), BOUND)
        await _until(lambda: not leaders[0].leading, "the old leader to notice")
        before = duties[0].rounds
        duties[0].wake()
        for _ in range(10):
            await asyncio.sleep(0)
        assert duties[0].rounds == before  # deposed: its duty no longer runs
        for leader in leaders:
            await leader.close()
        for duty in duties:
            await duty.close()
    events = [e["event"] for e in logs]
    assert events.count("leader.elected") == 2 and "leader.lost" in events
    assert shared.holder is None  # close released it


async def test_a_leader_that_cannot_reach_the_database_stops_leading() -> None:
    shared = SharedLock()
    session = FakeSession(shared)
    duty = Duty()
    leader = Leadership(session, [duty], every=0.05)
    duty.start()
    leader.start()
    try:
        await _until(lambda: leader.leading, "elected")
        with capture_logs() as logs:
            session.lose()
            await _until(lambda: not leader.leading, "deposed")
            tried = session.attempts
            await _until(lambda: session.attempts >= tried + 3, "three more attempts")
            session.down = False  # the server is back: the lock is free, taken again
            await _until(lambda: leader.leading, "elected again")
        assert leader.elections == 2
        events = [e["event"] for e in logs]
        assert events.count("leader.unavailable") == 1, events  # once per outage
        assert events.count("leader.lost") == 1 and events[-1] == "leader.elected"
    finally:
        await leader.close()
        await duty.close()

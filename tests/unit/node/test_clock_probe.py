"""The clock against the relay's: the figure in seconds and the relay's signature window,
in ``node doctor`` and the daemon's ``relay.clock`` log line.

A table of named readings for the verdict; the ``/healthz`` answer parsed (its ``time``,
the ``Date`` header of an older relay, nonsense); a real in-process relay whose clock is
two months behind, then right; and the daemon logging the reading at start, after a
reconnection and when a request is refused for its time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from keys.host.command import Unreachable
from node.daemon.loop import Daemon
from node.exchange.outbox import Backoff
from node.relayapi.probe import ClockReading, probe_health, relay_clock
from node.relayapi.transport import ClockOff
from tests.integration.relaykit import AppUnderTest, database, start_app
from tests.support.fake_relay import FakeRelayNetwork, fake_node

FAST = Backoff(base=0.01, cap=0.05)
BOUND = 10.0  # seconds: every wait below ends by this


@pytest.mark.parametrize(
    ("name", "offset", "window", "within", "status", "words"),
    [
        ("right", 0.4, 300.0, True, "pass", "0.4 s behind the relay, within its signature"),
        ("a little ahead", -7.25, 300.0, True, "warn", "7.2 s ahead of the relay, within"),
        ("a minute and more", 90.0, 300.0, True, "fail", "90.0 s behind the relay, within"),
        ("outside a narrow window", 20.0, 10.0, False, "fail", "OUTSIDE its signature window"),
        ("at the window's edge", 300.0, 300.0, False, "fail", "OUTSIDE"),
        ("window unknown (older relay)", 2.0, None, None, "pass", "2.0 s behind the relay"),
        ("offset unknown", None, 300.0, None, "warn", "offset unknown"),
    ],
)
def test_a_reading_says_how_far_off_and_whether_the_relay_takes_it(
    name: str,
    offset: float | None,
    window: float | None,
    within: bool | None,
    status: str,
    words: str,
) -> None:
    reading = ClockReading(offset, window)
    assert reading.within_window is within, name
    assert reading.status == status, name
    assert words in reading.describe(), (name, reading.describe())
    as_json = reading.to_dict()
    assert as_json["within_window"] is within and as_json["status"] == status
    assert as_json["offset_seconds"] == (None if offset is None else round(offset, 3))


@pytest.mark.parametrize(
    ("name", "body", "date", "when", "window"),
    [
        ("time and window", b'{"status":"ok","time":1780000000.25,"signature_window_seconds":300}',
         None, datetime.fromtimestamp(1780000000.25, UTC), 300.0),
        ("an older relay: Date only", b'{"status":"ok"}', "Wed, 02 Dec 2026 08:00:00 GMT",
         datetime(2026, 12, 2, 8, 0, tzinfo=UTC), None),
        ("time wins over Date", b'{"time":1780000000}', "Wed, 02 Dec 2026 08:00:00 GMT",
         datetime.fromtimestamp(1780000000, UTC), None),
        ("not JSON", b"<html>", None, None, None),
        ("nonsense numbers", b'{"time":"soon","signature_window_seconds":-1}', None, None, None),
        ("not finite", b'{"time":1e999,"signature_window_seconds":true}', "garbage", None, None),
    ],
)  # fmt: skip
def test_the_relays_time_comes_from_healthz(
    name: str, body: bytes, date: str | None, when: datetime | None, window: float | None
) -> None:
    assert relay_clock(body, date) == (when, window), name


async def test_a_relay_two_months_behind_is_outside_the_window_then_right(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    async with database("sqlite", tmp_path) as url:
        relay: AppUnderTest = await start_app(aiohttp_server, url)  # its clock: 60 days ago
        now = lambda: datetime.now(UTC)  # noqa: E731 - this node's clock is right
        health = await probe_health(relay.url, clock=now, timeout=BOUND)
        assert health.status == 200 and health.window_s == 300.0
        assert health.offset_s is not None and health.offset_s < -59 * 86400
        assert health.clock.within_window is False and health.clock.status == "fail"
        relay.clock.now = datetime.now(UTC) + timedelta(seconds=3)  # 3 s ahead of us
        health = await probe_health(relay.url, clock=now, timeout=BOUND)
        assert health.offset_s is not None and 2.0 < health.offset_s < 4.0
        assert health.clock.within_window is True and health.clock.status == "pass"
        await relay.close()


async def test_the_daemon_logs_the_offset_at_start_after_an_outage_and_when_refused(
    tmp_path: Path,
) -> None:
    net = FakeRelayNetwork()
    log = structlog.get_logger()
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=lambda: datetime.now(UTC), log=log)
    readings = iter(
        [ClockReading(-420.0, 300.0), ClockReading(0.5, 300.0), ClockReading(301.5, 300.0)]
    )

    async def probe() -> ClockReading:
        try:
            return next(readings)
        except StopIteration:
            raise Unreachable("no more readings in this test") from None

    inbox = fr.transport.inbox
    refuse = asyncio.Event()

    async def inbox_refusing_once(**kw: Any) -> Any:
        if refuse.is_set():
            refuse.clear()
            raise ClockOff(301)  # the relay's 401 stale
        return await inbox(**kw)

    def clock_lines() -> list[Any]:
        return [e for e in logs if e["event"] == "relay.clock"]

    def refused_and_back() -> bool:
        if refuse.is_set() and "FR" in net.events:
            net.events["FR"].set()  # end the long poll in hand: the next one is refused
        return len(clock_lines()) >= 3

    fr.transport.inbox = inbox_refusing_once  # type: ignore[method-assign]
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(Daemon(fr, reconnect=FAST, clock_probe=probe).run(stop))
        try:
            await _until(lambda: len(clock_lines()) >= 1)
            refuse.set()
            await _until(refused_and_back)
        finally:
            stop.set()
            await asyncio.wait_for(task, BOUND)
    start, stale, back = clock_lines()[:3]
    assert (start["when"], start["log_level"], start["offset_seconds"]) == (
        "start",
        "warning",
        -420.0,
    )
    assert start["within_window"] is False and "OUTSIDE" in start["detail"]
    assert "NTP" in start["advice"]
    assert (stale["when"], stale["log_level"], stale["within_window"]) == (
        "refused_stale",
        "info",
        True,
    )
    assert (back["when"], back["log_level"], back["window_seconds"]) == (
        "reconnected",
        "warning",
        300.0,
    )
    assert back["within_window"] is False
    await fr.close()


async def _until(check: Any) -> None:
    deadline = asyncio.get_running_loop().time() + BOUND
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)

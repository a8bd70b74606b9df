"""The statistics page's inline SVG charts: right figures, escaped labels, nothing the
console's CSP forbids (no script, no style attribute), served on the page."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from node.console.charts import preservations, requests_by_month, time_bands
from node.reports.preservation import PreservationClock
from node.reports.stats import Observation
from node.runtime import Node
from tests.support.fake_relay import FakeClock
from tests.unit.node.test_console_app import client, clock, login, pair, send

__all__ = ["client", "clock", "pair"]  # fixtures shared with test_console_app


def obs(period: str, kind: str, direction: str = "received", ack: float | None = None,
        respond: float | None = None) -> Observation:  # fmt: skip
    return Observation(period, kind, "FR", direction, "routine", ack, respond)


def bars(svg: str) -> list[str]:
    """The tooltips of the drawn bars (series: value)."""
    return re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg)


def test_requests_by_month_stacks_kinds_and_leaves_replies_out() -> None:
    svg = requests_by_month(
        [
            obs("2026-01", "preservation_request"),
            obs("2026-01", "preservation_request"),
            obs("2026-02", "assistance_request"),
            obs("2026-02", "preservation_response"),
        ]
    )
    assert svg.startswith("<svg") and "2026-01" in svg and "2026-02" in svg
    assert sorted(bars(svg)) == ["assistance_request: 1", "preservation_request: 2"]
    assert "preservation_response" not in svg


def test_time_bands_count_each_direction() -> None:
    data = [
        obs("2026-01", "ping", "received", ack=30),
        obs("2026-01", "ping", "received", ack=400),
        obs("2026-01", "ping", "sent", ack=400),
        obs("2026-01", "ping", "sent"),
    ]
    svg = time_bands(data, "ack")
    assert "Time to acknowledge" in svg
    assert sorted(bars(svg)) == ["received: 1", "received: 1", "sent: 1"]
    assert bars(time_bands(data, "respond")) == []


def clock_of(ref: str, days: int | None, status: str = "preserved") -> PreservationClock:
    return PreservationClock(
        "c" * 32, "requested", "FR", "a" * 32, ref, "2026-01-01T00:00:00.000Z", status,
        "2026-04-01", days, None,
    )  # fmt: skip


def test_preservations_soonest_first_and_labels_escaped() -> None:
    svg = preservations(
        [clock_of("<script>x</script>", 40), clock_of("FR-1", 3), clock_of("FR-2", None)]
    )
    assert bars(svg) == ["days left: 3 d", "days left: 40 d"]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.index("FR-1") < svg.index("&lt;script&gt;")


async def test_the_statistics_page_shows_four_csp_safe_charts(
    pair: tuple[Node, Node], clock: FakeClock, client: TestClient
) -> None:
    fr, de = pair
    await send(fr, de, "preservation_request", clock, "urgent")
    await login(client)
    page = await (await client.get("/statistics")).text()
    charts = re.findall(r"<figure class=\"chart\"><svg .*?</svg>", page, re.S)
    assert len(charts) == 4
    assert "preservation_request: 1" in charts[0]
    assert all("style=" not in c and "<script" not in c for c in charts)

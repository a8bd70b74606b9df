"""``node status`` without an id: directory expiry, outbox by priority, unacknowledged
received requests (:mod:`node.cli.overview`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from node.cli.overview import overview, render
from node.forms import validate_form
from tests.support.fake_relay import emergency_sent

T0 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


async def test_the_node_at_a_glance(tmp_path: Path) -> None:
    async with emergency_sent(tmp_path, T0) as s:
        clock, net, fr, de, sent = s.clock, s.net, s.fr, s.de, s.sent
        net.down = True
        for priority in ("urgent", "routine", "routine"):
            ping = validate_form("ping", {}, now=T0, priority=priority)
            await fr.outbox.submit(await fr.outbox.queue("DE", ping, clock()), clock())
        net.down = False
        await de.inbox.handle(await de.transport.inbox(wait=0, limit=10), clock())

        view = await overview(fr, T0)
        assert view["outbox"] == {"emergency": 0, "urgent": 1, "routine": 2}
        assert view["directory"]["mode"] == "development" and "version" not in view["directory"]
        assert "directory: none (development mode)" in render(view)

        view = await overview(de, T0)
        [waiting] = view["unacknowledged"]
        assert (waiting["msg_id"], waiting["priority"], waiting["from"]) == (
            sent.msg_id,
            "emergency",
            "FR",
        )
        assert f"node ack {sent.msg_id[:8]}" in render(view)


def test_an_expiring_directory_is_a_line_of_its_own() -> None:
    view = {
        "party": "FR",
        "directory": {
            "mode": "directory",
            "unusable": None,
            "version": 7,
            "expires": "2026-01-16T00:00:00.000Z",
            "days_left": 5.9,
            "warning": 7,
        },
        "outbox": {"emergency": 0, "urgent": 0, "routine": 0},
        "unacknowledged": [],
    }
    text = render(view)
    assert "directory: version 7, expires 2026-01-16T00:00:00.000Z (5.9 days)" in text
    assert "EXPIRES WITHIN 7 DAY(S)" in text
    view["directory"] = {**view["directory"], "unusable": "directory_expired"}  # type: ignore[dict-item]
    assert "NOT USABLE (directory_expired)" in render(view)

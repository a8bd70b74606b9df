"""Statistics, percentiles and the preservation clock, with known answers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from keys.encoding import parse_time
from node.reports.preservation import expiring, preservation_clocks
from node.reports.stats import compute_stats, human_duration, percentile, to_csv, to_table
from node.storage.records import AccessRecord, Rejection, StoredMessage, StoredReceipt

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def msg(
    msg_id: str,
    direction: str,
    kind: str,
    created: str,
    *,
    counterpart: str = "DE",
    conv: str | None = None,
    reply_to: str | None = None,
    body: dict[str, Any] | None = None,
    priority: str = "routine",
    state: str = "accepted",
    acked: str | None = None,
    stored: str | None = None,
) -> StoredMessage:
    me, other = "FR", counterpart
    content = {
        "sender": me if direction == "out" else other,
        "recipient": other if direction == "out" else me,
        "body": body or {},
    }
    return StoredMessage(
        msg_id=msg_id.ljust(32, "0"),
        direction=direction,
        counterpart=counterpart,
        kind=kind,
        priority=priority,
        conversation_id=(conv or msg_id).ljust(32, "0"),
        in_reply_to=reply_to.ljust(32, "0") if reply_to else None,
        created_at=parse_time(created),
        expires_at=parse_time("2025-12-31T00:00:00.000Z"),
        reference=(body or {}).get("reference"),
        envelope=b"",
        envelope_sha256="0" * 64,
        message=json.dumps(content).encode(),
        state=state,
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        stored_at=parse_time(stored or created),
        acknowledged_at=parse_time(acked) if acked else None,
        alerted_at=None,
        ack_warned_at=None,
    )


def receipt(
    msg_id: str,
    type_: str,
    at: str,
    *,
    issuer: str = "DE",
    origin: str = "peer",
    reason: str | None = None,
) -> StoredReceipt:
    return StoredReceipt(
        id=0,
        sha256="x",
        msg_id=msg_id.ljust(32, "0"),
        type=type_,
        issuer=issuer,
        issued_at=parse_time(at),
        reason=reason,
        envelope_sha256="0" * 64,
        wire=b"",
        origin=origin,
        posted=True,
        attempts=0,
        next_attempt_at=None,
        stored_at=parse_time(at),
    )


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 90, None),
        ([7.0], 90, 7.0),
        ([1.0, 2.0], 90, 2.0),
        ([float(i) for i in range(1, 11)], 90, 9.0),
        ([float(i) for i in range(1, 11)], 50, 5.0),
        ([float(i) for i in range(10, 0, -1)], 100, 10.0),
        ([5.0, 1.0, 3.0], 0, 1.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def dataset() -> tuple[list[StoredMessage], list[StoredReceipt]]:
    messages = [
        msg(
            "a1",
            "out",
            "preservation_request",
            "2025-01-15T10:00:00.000Z",
            priority="urgent",
            body={"reference": "FR-1"},
        ),
        msg(
            "a2",
            "in",
            "preservation_response",
            "2025-01-15T11:00:00.000Z",
            conv="a1",
            reply_to="a1",
            body={"outcome": "preserved", "preserved_until": "2025-04-15"},
        ),
        msg("b1", "out", "assistance_request", "2025-02-01T08:00:00.000Z", counterpart="IT"),
        msg("c1", "out", "ping", "2025-02-02T08:00:00.000Z"),
        msg(
            "d1",
            "in",
            "emergency_disclosure_request",
            "2025-02-03T20:00:00.000Z",
            counterpart="BR",
            priority="emergency",
            acked="2025-02-03T20:02:00.000Z",
            stored="2025-02-03T20:00:00.000Z",
            state="responded",
        ),
        msg(
            "d2",
            "out",
            "emergency_determination",
            "2025-02-03T20:30:00.000Z",
            counterpart="BR",
            conv="d1",
            reply_to="d1",
            priority="emergency",
            body={"determination": "refused"},
        ),
        msg("e1", "in", "preservation_request", "2025-02-05T09:00:00.000Z", counterpart="BR"),
        msg(
            "e2",
            "out",
            "preservation_response",
            "2025-02-05T10:00:00.000Z",
            counterpart="BR",
            conv="e1",
            reply_to="e1",
            body={"outcome": "refused", "refusal_ground": "political_offence"},
        ),
    ]
    stored = [
        receipt("a1", "ACCEPTED", "2025-01-15T10:00:01.000Z", issuer="relay", origin="relay"),
        receipt("a1", "ACKNOWLEDGED", "2025-01-15T10:10:00.000Z"),
        receipt("b1", "ACKNOWLEDGED", "2025-02-01T08:01:00.000Z", issuer="IT"),
        receipt("b1", "ACKNOWLEDGED", "2025-02-01T09:00:00.000Z", issuer="IT"),  # later copy
        receipt("c1", "REJECTED", "2025-02-02T08:00:05.000Z", reason="unknown_key"),
    ]
    return messages, stored


def test_stats_known_answers() -> None:
    messages, stored = dataset()
    stats = compute_stats(
        messages,
        stored,
        clocks=preservation_clocks(messages, NOW),
        access=[
            AccessRecord(
                1,
                parse_time("2025-02-03T20:01:00.000Z"),
                "duty",
                "display",
                "d1".ljust(32, "0"),
                None,
            )
        ],
        rejections=[
            Rejection(
                1,
                "f" * 64,
                None,
                "XX",
                "outer_signature",
                "verification_failed",
                parse_time("2025-02-01T00:00:00.000Z"),
            )
        ],
        now=NOW,
    )
    # the ping c1 is left out of every figure
    assert stats["excluded"] == {"pings": 1}
    assert stats["sent"]["total"] == 4 and stats["received"]["total"] == 3
    assert stats["sent"]["by_kind"] == {
        "assistance_request": 1,
        "emergency_determination": 1,
        "preservation_request": 1,
        "preservation_response": 1,
    }
    assert stats["sent"]["by_counterpart"] == {"BR": 2, "DE": 1, "IT": 1}
    assert stats["sent"]["by_month"] == {"2025-01": 1, "2025-02": 3}
    assert stats["received"]["by_priority"] == {"emergency": 1, "routine": 2}
    # acknowledged: a1 after 600 s, b1 after 60 s (the first ACKNOWLEDGED counts)
    assert stats["time_to_acknowledge"]["sent"] == {"count": 2, "median_s": 330.0, "p90_s": 600.0}
    assert stats["time_to_acknowledge"]["received"] == {
        "count": 1,
        "median_s": 120.0,
        "p90_s": 120.0,
    }
    # responded: a1 answered after 3600 s; we answered d1 after 1800 s and e1 after 3600 s
    assert stats["time_to_respond"]["sent"] == {"count": 1, "median_s": 3600.0, "p90_s": 3600.0}
    assert stats["time_to_respond"]["received"] == {"count": 2, "median_s": 2700.0, "p90_s": 3600.0}
    assert stats["unacknowledged"] == {"sent": 0, "received": 1}
    assert stats["preservation_outcomes"] == {"in:preserved": 1, "out:refused": 1}
    assert stats["refusals_by_ground"] == {"political_offence": 1}
    assert stats["emergency_determinations"] == {"out:refused": 1}
    assert stats["rejected"] == {
        "by_us": {"verification_failed": 1},
        "by_recipients": {"unknown_key": 1},
    }
    assert stats["access_records"] == {"display": 1}
    [open_one] = stats["open_preservations"]
    assert (
        open_one["role"],
        open_one["status"],
        open_one["preserved_until"],
        open_one["days_left"],
    ) == (
        "requested",
        "preserved",
        "2025-04-15",
        36,
    )


@pytest.mark.parametrize(
    ("since", "until", "sent", "received"),
    [
        (None, None, 4, 3),
        ("2025-02-02", None, 2, 2),
        (None, "2025-02-01", 2, 1),
        ("2025-02-03", "2025-02-03", 1, 1),  # both bounds included
        ("2025-02-06", None, 0, 0),
    ],
)
def test_stats_period_by_creation_date(
    since: str | None, until: str | None, sent: int, received: int
) -> None:
    messages, stored = dataset()
    stats = compute_stats(messages, stored, since=since, until=until, now=NOW)
    assert (stats["sent"]["total"], stats["received"]["total"]) == (sent, received)
    assert (stats["since"], stats["until"]) == (since, until)


def test_stats_groups_by_month_kind_counterpart_and_direction() -> None:
    messages, stored = dataset()
    groups = compute_stats(messages, stored, now=NOW)["groups"]
    keys = [(g["period"], g["kind"], g["counterpart"], g["direction"]) for g in groups]
    assert ("2025-02", "ping", "DE", "sent") not in keys
    [a1] = [g for g in groups if g["kind"] == "preservation_request" and g["direction"] == "sent"]
    assert (a1["period"], a1["counterpart"], a1["count"], a1["by_priority"]) == (
        "2025-01",
        "DE",
        1,
        {"urgent": 1},
    )
    assert a1["time_to_acknowledge"] == {"count": 1, "median_s": 600.0, "p90_s": 600.0}
    assert a1["time_to_respond"] == {"count": 1, "median_s": 3600.0, "p90_s": 3600.0}
    assert sum(g["count"] for g in groups) == 7


def test_stats_tidy_csv() -> None:
    messages, stored = dataset()
    stats = compute_stats(messages, stored, clocks=preservation_clocks(messages, NOW), now=NOW)
    rows = list(csv.reader(io.StringIO(to_csv(stats))))
    assert rows[0] == ["period", "kind", "counterpart", "metric", "value"]
    assert all(len(r) == 5 for r in rows)
    assert ["2025-01", "preservation_request", "DE", "sent", "1"] in rows
    assert ["2025-01", "preservation_request", "DE", "sent_urgent", "1"] in rows
    assert ["2025-01", "preservation_request", "DE", "sent_ack_median_s", "600.0"] in rows
    assert ["2025-01", "preservation_request", "DE", "sent_respond_p90_s", "3600.0"] in rows
    assert ["2025-02", "emergency_disclosure_request", "BR", "received_ack_p90_s", "120.0"] in rows
    whole = "start/2025-03-10"
    assert [whole, "preservation_response", "all", "refused_political_offence", "1"] in rows
    assert [whole, "all", "all", "open_preservations", "1"] in rows
    assert [whole, "ping", "all", "excluded", "1"] in rows
    assert not any(r[1] == "ping" and r[3] == "sent" for r in rows)
    # the counts in the tidy rows add up to the totals
    sent = sum(int(r[4]) for r in rows[1:] if r[3] == "sent")
    assert sent == stats["sent"]["total"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.0, "0 s"),
        (1.5, "1.5 s"),
        (45.0, "45 s"),
        (60.0, "1 min"),
        (330.0, "5 min 30 s"),
        (3600.0, "1 h 00 min"),
        (7500.0, "2 h 05 min"),
        (86400.0 * 3 + 4 * 3600, "3 d 4 h"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_stats_table_in_human_units() -> None:
    messages, stored = dataset()
    stats = compute_stats(messages, stored, clocks=preservation_clocks(messages, NOW), now=NOW)
    table = to_table(stats)
    assert "median 5 min 30 s   p90 10 min" in table
    assert "pings left out: 1" in table
    assert "requested DE     preserved" in table
    json.dumps(stats)  # serialisable as is


# -- preservation clock -------------------------------------------------------------------


def conversation(*later: StoredMessage, direction: str = "out") -> list[StoredMessage]:
    return [
        msg(
            "p1",
            direction,
            "preservation_request",
            "2025-01-10T10:00:00.000Z",
            body={"reference": "R"},
        ),
        *later,
    ]


def reply(
    msg_id: str, kind: str, day: str, body: dict[str, Any], direction: str = "in"
) -> StoredMessage:
    return msg(
        msg_id, direction, kind, f"2025-{day}T10:00:00.000Z", conv="p1", reply_to="p1", body=body
    )


PRESERVED = {"outcome": "preserved", "preserved_until": "2025-03-20"}
CLOCK_CASES = [
    ("awaiting", [], "awaiting_response", None, None),
    (
        "preserved",
        [reply("p2", "preservation_response", "01-11", PRESERVED)],
        "preserved",
        "2025-03-20",
        10,
    ),
    (
        "refused",
        [reply("p2", "preservation_response", "01-11", {"outcome": "refused"})],
        "refused",
        None,
        None,
    ),
    (
        "extension_asked",
        [
            reply("p2", "preservation_response", "01-11", PRESERVED),
            reply("p3", "preservation_extension", "03-01", {}, direction="out"),
        ],
        "extension_requested",
        "2025-03-20",
        10,
    ),
    (
        "extended",
        [
            reply("p2", "preservation_response", "01-11", PRESERVED),
            reply("p3", "preservation_extension", "03-01", {}, direction="out"),
            reply(
                "p4",
                "preservation_response",
                "03-02",
                {"outcome": "preserved", "preserved_until": "2025-05-20"},
            ),
        ],
        "preserved",
        "2025-05-20",
        71,
    ),
    (
        "mla_submitted",
        [
            reply("p2", "preservation_response", "01-11", PRESERVED),
            reply(
                "p3", "mla_submitted_notice", "02-11", {"mla_reference": "MLA-1"}, direction="out"
            ),
        ],
        "mla_submitted",
        "2025-03-20",
        10,
    ),
    (
        "released",
        [
            reply("p2", "preservation_response", "01-11", PRESERVED),
            reply("p3", "preservation_release", "02-11", {}, direction="out"),
        ],
        "released",
        "2025-03-20",
        10,
    ),
    (
        "expired",
        [
            reply(
                "p2",
                "preservation_response",
                "01-11",
                {"outcome": "preserved", "preserved_until": "2025-03-09"},
            )
        ],
        "expired",
        "2025-03-09",
        -1,
    ),
]


@pytest.mark.parametrize(
    ("name", "later", "status", "until", "days"), CLOCK_CASES, ids=[c[0] for c in CLOCK_CASES]
)
def test_preservation_clock(
    name: str, later: list[StoredMessage], status: str, until: str | None, days: int | None
) -> None:
    [clock] = preservation_clocks(conversation(*later), NOW)
    assert (clock.status, clock.preserved_until, clock.days_left) == (status, until, days)
    assert clock.role == "requested" and clock.reference == "R"


def test_clock_role_when_we_execute_it() -> None:
    incoming = conversation(
        reply("p2", "preservation_response", "01-11", PRESERVED, direction="out"), direction="in"
    )
    [clock] = preservation_clocks(incoming, NOW)
    assert clock.role == "executed" and clock.status == "preserved"


@pytest.mark.parametrize(("warn_days", "warned"), [(9, False), (10, True), (30, True)])
def test_expiring_within_the_warning_period(warn_days: int, warned: bool) -> None:
    clocks = preservation_clocks(
        conversation(reply("p2", "preservation_response", "01-11", PRESERVED)), NOW
    )
    assert bool(expiring(clocks, warn_days)) is warned


def test_mla_submitted_is_not_warned_about() -> None:
    clocks = preservation_clocks(
        conversation(
            reply("p2", "preservation_response", "01-11", PRESERVED),
            reply("p3", "mla_submitted_notice", "02-11", {}, direction="out"),
        ),
        NOW,
    )
    assert expiring(clocks, 30) == []

"""The repeat decisions of alerts (:mod:`node.exchange.escalation`): tables of named cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node.exchange.escalation import directory_stage, reminder_id, unreachable_id

T0 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
M = timedelta(minutes=1)

REMINDERS = [
    ("just received", T0, 5, None),
    ("one second short of the first", T0 + 5 * M - timedelta(seconds=1), 5, None),
    ("first reminder", T0 + 5 * M, 5, "reminder:m:1"),
    ("still the first", T0 + 9 * M, 5, "reminder:m:1"),
    ("second", T0 + 10 * M, 5, "reminder:m:2"),
    ("after a long stop: only the latest", T0 + 61 * M, 5, "reminder:m:12"),
    ("urgent schedule", T0 + 30 * M, 30, "reminder:m:1"),
    ("zero interval: never", T0 + 60 * M, 0, None),
]


@pytest.mark.parametrize(
    ("now", "every", "expected"), [c[1:] for c in REMINDERS], ids=[c[0] for c in REMINDERS]
)
def test_reminder_id(now: datetime, every: int, expected: str | None) -> None:
    assert reminder_id("m", T0, every * M, now) == expected


S = timedelta(seconds=1)
OUTAGES = [
    ("before the threshold", T0 + 119 * S, None),
    ("at the threshold", T0 + 120 * S, 1),
    ("still the first", T0 + 1019 * S, 1),
    ("repeated", T0 + 1020 * S, 2),
    ("third", T0 + 1920 * S, 3),
]


@pytest.mark.parametrize(("now", "k"), [c[1:] for c in OUTAGES], ids=[c[0] for c in OUTAGES])
def test_unreachable_id(now: datetime, k: int | None) -> None:
    found = unreachable_id(T0, now, after=120 * S, repeat=900 * S)
    assert (found is None) if k is None else (found is not None and found.endswith(f":{k}"))


def test_unreachable_ids_are_stable_per_outage() -> None:
    a = unreachable_id(T0, T0 + 200 * S, after=120 * S, repeat=900 * S)
    b = unreachable_id(T0, T0 + 300 * S, after=120 * S, repeat=900 * S)
    c = unreachable_id(T0 + S, T0 + 300 * S, after=120 * S, repeat=900 * S)
    assert a == b and a != c


D = timedelta(days=1)
STAGES = [
    ("months left", T0 + 90 * D, None),
    ("31 days", T0 + 31 * D, None),
    ("30 days", T0 + 30 * D, 30),
    ("8 days", T0 + 8 * D, 30),
    ("7 days", T0 + 7 * D, 7),
    ("one day", T0 + D, 1),
    ("an hour", T0 + timedelta(hours=1), 1),
    ("expired", T0 - timedelta(hours=1), None),
]


@pytest.mark.parametrize(("expires", "stage"), [c[1:] for c in STAGES], ids=[c[0] for c in STAGES])
def test_directory_stage(expires: datetime, stage: int | None) -> None:
    assert directory_stage(expires, T0) == stage

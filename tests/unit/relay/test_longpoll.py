"""relay.core.longpoll: how many items, how long a poll waits, and when it answers."""

from __future__ import annotations

import pytest

from relay.core.longpoll import item_limit, poll_deadline, wait_or_answer


@pytest.mark.parametrize(
    ("requested", "most", "expected"),
    [
        pytest.param(10, 100, 10, id="as-asked"),
        pytest.param(500, 100, 100, id="capped"),
        pytest.param(0, 100, 1, id="zero-means-one"),
        pytest.param(-5, 100, 1, id="negative-means-one"),
        pytest.param(100, 100, 100, id="at-the-cap"),
    ],
)
def test_item_limit(requested: int, most: int, expected: int) -> None:
    assert item_limit(requested, most) == expected


@pytest.mark.parametrize(
    ("now", "wait", "most", "expected"),
    [
        pytest.param(1000.0, 25.0, 30.0, 1025.0, id="as-asked"),
        pytest.param(1000.0, 90.0, 30.0, 1030.0, id="capped"),
        pytest.param(1000.0, 0.0, 30.0, 1000.0, id="no-wait"),
        pytest.param(1000.0, -3.0, 30.0, 1000.0, id="negative-is-no-wait"),
    ],
)
def test_poll_deadline(now: float, wait: float, most: float, expected: float) -> None:
    assert poll_deadline(now, wait, most) == expected


@pytest.mark.parametrize(
    ("has_items", "deadline", "now", "closing", "expected"),
    [
        pytest.param(True, 130.0, 100.0, False, None, id="items-answer-at-once"),
        pytest.param(False, 130.0, 100.0, False, 30.0, id="empty-waits-the-rest"),
        pytest.param(False, 130.0, 129.5, False, 0.5, id="empty-waits-what-is-left"),
        pytest.param(False, 130.0, 130.0, False, None, id="deadline-reached"),
        pytest.param(False, 130.0, 131.0, False, None, id="deadline-passed"),
        pytest.param(False, 130.0, 100.0, True, None, id="closing-answers-empty"),
        pytest.param(True, 130.0, 200.0, True, None, id="items-after-deadline-still-served"),
    ],
)
def test_wait_or_answer(
    has_items: bool, deadline: float, now: float, closing: bool, expected: float | None
) -> None:
    got = wait_or_answer(has_items=has_items, deadline=deadline, now=now, closing=closing)
    assert got == expected

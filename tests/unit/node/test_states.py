"""The node's message state machines: every legal and every illegal pair, by name."""

from __future__ import annotations

from itertools import product

import pytest

from keys.states import IllegalTransition
from node.storage.states import (
    INBOX,
    OUTBOX,
    InboxState,
    OutboxState,
    inbox_transition,
    outbox_transition,
)

# The whole tables, written out independently of node.storage.states.
OUTBOX_LEGAL = {
    ("queued", "queued"),  # a transient failure: one more attempt, later
    ("queued", "accepted"),  # the relay's verified ACCEPTED is committed
    ("queued", "failed"),  # a final refusal
}
INBOX_LEGAL = {
    ("new", "acknowledged"),  # the officer acknowledged it
    ("acknowledged", "responded"),  # a reply to it was accepted
}
OUTBOX_ALL = [(a.value, b.value) for a, b in product(OutboxState, OutboxState)]
INBOX_ALL = [(a.value, b.value) for a, b in product(InboxState, InboxState)]


def _id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}->{pair[1]}"


def test_the_states_are_the_documented_ones() -> None:
    assert [s.value for s in OutboxState] == ["queued", "accepted", "failed"]
    assert [s.value for s in InboxState] == ["new", "acknowledged", "responded"]
    assert OUTBOX.initial is OutboxState.QUEUED
    assert INBOX.initial is InboxState.NEW
    assert len(OUTBOX_ALL) == len(INBOX_ALL) == 9


@pytest.mark.parametrize(("current", "target"), sorted(OUTBOX_LEGAL), ids=_id)
def test_outbox_legal(current: str, target: str) -> None:
    assert outbox_transition(current, target) == target


@pytest.mark.parametrize(("current", "target"), sorted(set(OUTBOX_ALL) - OUTBOX_LEGAL), ids=_id)
def test_outbox_illegal(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition):
        outbox_transition(current, target)


@pytest.mark.parametrize(("current", "target"), sorted(INBOX_LEGAL), ids=_id)
def test_inbox_legal(current: str, target: str) -> None:
    assert inbox_transition(current, target) == target


@pytest.mark.parametrize(("current", "target"), sorted(set(INBOX_ALL) - INBOX_LEGAL), ids=_id)
def test_inbox_illegal(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition):
        inbox_transition(current, target)


@pytest.mark.parametrize(
    ("value", "machine"),
    [
        pytest.param("new", "outbox", id="inbox-state-in-outbox"),
        pytest.param("queued", "inbox", id="outbox-state-in-inbox"),
        pytest.param("replied", "inbox", id="display-only-word"),
    ],
)
def test_a_state_of_another_machine_is_refused(value: str, machine: str) -> None:
    step = outbox_transition if machine == "outbox" else inbox_transition
    with pytest.raises(IllegalTransition):
        step(value, value)


def test_sql_guards_come_from_the_tables() -> None:
    assert OUTBOX.sources("accepted") == (OutboxState.QUEUED,)
    assert OUTBOX.sources("failed") == (OutboxState.QUEUED,)
    assert INBOX.sources("acknowledged") == (InboxState.NEW,)
    assert INBOX.sources("responded") == (InboxState.ACKNOWLEDGED,)

"""The node's message state machines: every legal and every illegal pair, by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from keys import receipts
from keys.encoding import format_time
from keys.identities import SigningKey
from keys.states import IllegalTransition
from node.storage.states import (
    INBOX,
    OUTBOX,
    InboxState,
    OutboxState,
    inbox_transition,
    outbox_transition,
)
from node.storage.store import Store

# The whole tables, written out independently of node.storage.states.
OUTBOX_LEGAL = {
    ("queued", "queued"),  # a transient failure: one more attempt, later
    ("queued", "accepted"),  # the relay's verified ACCEPTED is committed
    ("queued", "failed"),  # a final refusal
    ("failed", "queued"),  # an officer sends it again (node retry, node flush --failed)
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


# -- the store applies only what the tables allow ----------------------------------------

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STAMP = format_time(T0)
KEY = SigningKey.generate()


def _row(msg_id: str, direction: str, state: str) -> dict[str, Any]:
    return {
        "msg_id": msg_id,
        "direction": direction,
        "counterpart": "DE",
        "kind": "ping",
        "priority": "urgent",
        "conversation_id": msg_id,
        "in_reply_to": None,
        "created_at": STAMP,
        "expires_at": STAMP,
        "reference": None,
        "envelope": b"{}",
        "envelope_sha256": "a" * 64,
        "message": b"{}",
        "state": state,
        "attempts": 0,
        "next_attempt_at": None,
        "stored_at": STAMP,
    }


def _ack(msg_id: str) -> receipts.SignedReceipt:
    return receipts.issue_at(
        T0, KEY, type="ACKNOWLEDGED", msg_id=msg_id, envelope_sha256="a" * 64, issuer="FR"
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "node.sqlite")
    yield s
    await s.close()


async def test_a_final_outgoing_state_is_never_overwritten(store: Store) -> None:
    ids = {state: f"{i:032x}" for i, state in enumerate(OutboxState, start=1)}
    for state, msg_id in ids.items():
        await store.add_message(_row(msg_id, "out", state))
    for msg_id in ids.values():
        await store.mark_failed(msg_id, "refused")
    got = {s: (await store.get_message(m)).state for s, m in ids.items()}
    assert got == {"queued": "failed", "accepted": "accepted", "failed": "failed"}
    await store.mark_retry(ids["accepted"], attempts=3, next_at=STAMP, error="x")
    assert (await store.get_message(ids["accepted"])).attempts == 0


async def test_incoming_moves_only_new_acknowledged_responded(store: Store) -> None:
    msg_id = "f" * 32
    await store.add_message(_row(msg_id, "in", "new"))
    assert not await store.mark_responded(msg_id)  # not acknowledged yet
    assert (await store.get_message(msg_id)).state == "new"
    assert await store.acknowledge(msg_id, _ack(msg_id), STAMP)
    assert (await store.get_message(msg_id)).state == "acknowledged"
    assert await store.mark_responded(msg_id)
    assert (await store.get_message(msg_id)).state == "responded"
    assert not await store.mark_responded(msg_id)  # a second reply changes nothing
    assert not await store.acknowledge(msg_id, _ack(msg_id), STAMP)
    assert (await store.get_message(msg_id)).state == "responded"


async def test_an_outgoing_message_is_never_marked_responded(store: Store) -> None:
    msg_id = "e" * 32
    await store.add_message(_row(msg_id, "out", "accepted"))
    assert not await store.mark_responded(msg_id)
    assert (await store.get_message(msg_id)).state == "accepted"

"""The relay's envelope state machine: every legal and every illegal pair, by name."""

from __future__ import annotations

from itertools import product

import pytest

from keys.states import IllegalTransition
from relay.storage.states import ENVELOPE, EnvelopeState, envelope_transition

# The whole table, written out independently of relay.storage.states.
LEGAL = {
    ("pending", "delivered"),  # the recipient acknowledged the download
    ("pending", "expired"),  # the lifetime ended first
}
ALL = [(a.value, b.value) for a, b in product(EnvelopeState, EnvelopeState)]


def test_the_states_are_the_documented_ones() -> None:
    assert [s.value for s in EnvelopeState] == ["pending", "delivered", "expired"]
    assert ENVELOPE.initial is EnvelopeState.PENDING


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL), ids="{0[0]}->{0[1]}".format)
def test_legal(current: str, target: str) -> None:
    assert envelope_transition(current, target) == target


@pytest.mark.parametrize(
    ("current", "target"), sorted(set(ALL) - LEGAL), ids="{0[0]}->{0[1]}".format
)
def test_illegal(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition):
        envelope_transition(current, target)


def test_every_pair_is_covered() -> None:
    assert len(ALL) == 9
    assert set(ALL) >= LEGAL


def test_final_states_and_guards() -> None:
    assert ENVELOPE.final("delivered") and ENVELOPE.final("expired")
    assert ENVELOPE.sources("delivered") == (EnvelopeState.PENDING,)
    with pytest.raises(IllegalTransition):
        ENVELOPE.sources("pending")


async def test_finish_refuses_a_target_that_cannot_follow_pending() -> None:
    # The store checks the transition before it writes anything: tx is never touched.
    from relay.storage.store import Store

    store = Store.__new__(Store)
    with pytest.raises(IllegalTransition):
        await store.finish(None, "m", EnvelopeState.PENDING, None)  # type: ignore[arg-type]

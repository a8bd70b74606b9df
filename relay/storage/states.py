"""The relay's envelope states and their transitions (STYLE.md rule 14).

An envelope is stored ``pending`` when accepted. It leaves that state once, for good:
``delivered`` when its recipient acknowledges the download (the relay issues DELIVERED),
or ``expired`` when its lifetime ends first (the relay issues EXPIRED). A pending envelope
that passes its priority's deadline gets an OVERDUE receipt but stays ``pending``: overdue
is a notice, not a state. Retention purges the stored bytes of a final envelope; its state
stays.

This module sits in :mod:`relay.storage` so that both the store (its SQL) and the service
(:mod:`relay.core`) may import it.
"""

from __future__ import annotations

from enum import StrEnum

from keys.states import Machine


class EnvelopeState(StrEnum):
    """The values of ``envelopes.state``."""

    PENDING = "pending"
    DELIVERED = "delivered"
    EXPIRED = "expired"


ENVELOPE: Machine[EnvelopeState] = Machine(
    name="envelope",
    states=EnvelopeState,
    initial=EnvelopeState.PENDING,
    table={
        EnvelopeState.PENDING: frozenset({EnvelopeState.DELIVERED, EnvelopeState.EXPIRED}),
    },
)


def envelope_transition(current: EnvelopeState | str, target: EnvelopeState | str) -> EnvelopeState:
    """Apply one transition of an envelope's state; refuse an illegal one.

    Raises:
        keys.states.IllegalTransition: the table does not allow it (a bug in the relay).
    """
    return ENVELOPE.step(current, target)


__all__ = ["ENVELOPE", "EnvelopeState", "envelope_transition"]

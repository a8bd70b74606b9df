"""The node's message states and their transitions (STYLE.md rule 14).

``messages.state`` holds one of two machines, chosen by ``direction``:

- an outgoing message (:data:`OUTBOX`) is stored ``queued`` once sealed; it stays
  ``queued`` through transient failures (each retry is a ``queued`` to ``queued`` step that
  counts the attempt), becomes ``accepted`` when the relay's verified ACCEPTED receipt is
  committed, or ``failed`` on a final refusal. Both are final: later receipts (DELIVERED,
  ACKNOWLEDGED, ...) are rows of ``receipts``, not states.
- an incoming message (:data:`INBOX`) is stored ``new`` when opened and verified, becomes
  ``acknowledged`` when the officer acknowledges it (an ACKNOWLEDGED receipt is queued) and
  ``responded`` once a reply to it is accepted; a response always acknowledges first.

This module sits in :mod:`node.storage` so that the store (its SQL), the exchange and the
commands may all import it.
"""

from __future__ import annotations

from enum import StrEnum

from keys.states import Machine


class OutboxState(StrEnum):
    """The values of ``messages.state`` for ``direction = 'out'``."""

    QUEUED = "queued"
    ACCEPTED = "accepted"
    FAILED = "failed"


class InboxState(StrEnum):
    """The values of ``messages.state`` for ``direction = 'in'``."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESPONDED = "responded"


OUTBOX: Machine[OutboxState] = Machine(
    name="outbox",
    states=OutboxState,
    initial=OutboxState.QUEUED,
    table={
        OutboxState.QUEUED: frozenset(
            {OutboxState.QUEUED, OutboxState.ACCEPTED, OutboxState.FAILED}
        ),
        # only by a person: 'node retry ID' or 'node flush --failed' sends it again
        OutboxState.FAILED: frozenset({OutboxState.QUEUED}),
    },
)

INBOX: Machine[InboxState] = Machine(
    name="inbox",
    states=InboxState,
    initial=InboxState.NEW,
    table={
        InboxState.NEW: frozenset({InboxState.ACKNOWLEDGED}),
        InboxState.ACKNOWLEDGED: frozenset({InboxState.RESPONDED}),
    },
)


class AttachmentState(StrEnum):
    """The values of ``attachment_files.state``: a file still moving (uploading before its
    message is accepted, or downloading and being checked), complete (accepted by the relay
    with every chunk, or downloaded and verified and saved), or refused (REJECTED)."""

    PENDING = "pending"
    COMPLETE = "complete"
    REJECTED = "rejected"


ATTACHMENT: Machine[AttachmentState] = Machine(
    name="attachment",
    states=AttachmentState,
    initial=AttachmentState.PENDING,
    table={
        AttachmentState.PENDING: frozenset(
            {AttachmentState.PENDING, AttachmentState.COMPLETE, AttachmentState.REJECTED}
        ),
    },
)

# Received messages still waiting for the officer (``node inbox --open``).
OPEN_INCOMING = (InboxState.NEW, InboxState.ACKNOWLEDGED)
# Sent messages the recipient may still have to acknowledge.
LIVE_OUTGOING = (OutboxState.QUEUED, OutboxState.ACCEPTED)


def outbox_transition(current: OutboxState | str, target: OutboxState | str) -> OutboxState:
    """Apply one transition of an outgoing message; refuse an illegal one.

    Raises:
        keys.states.IllegalTransition: the table does not allow it (a bug in the node).
    """
    return OUTBOX.step(current, target)


def inbox_transition(current: InboxState | str, target: InboxState | str) -> InboxState:
    """Apply one transition of an incoming message; refuse an illegal one.

    Raises:
        keys.states.IllegalTransition: the table does not allow it (a bug in the node).
    """
    return INBOX.step(current, target)


__all__ = [
    "ATTACHMENT",
    "INBOX",
    "LIVE_OUTGOING",
    "OPEN_INCOMING",
    "OUTBOX",
    "AttachmentState",
    "InboxState",
    "OutboxState",
    "inbox_transition",
    "outbox_transition",
]

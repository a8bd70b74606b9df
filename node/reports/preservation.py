"""The preservation clock (Convention Art. 29(7)), computed from the stored conversations.

A preservation lasts not less than 60 days; once the MLA request is received, the data
stay preserved pending a decision on it. For every conversation that starts with a
``preservation_request`` this module works out, from the messages in it:

- ``role``: ``requested`` (we asked another Party) or ``executed`` (we preserve for one);
- ``status``: ``awaiting_response``, ``preserved``, ``extension_requested``,
  ``mla_submitted`` (kept pending the MLA decision), ``released``, ``withdrawn``,
  ``refused``, ``no_data`` or ``expired``;
- ``preserved_until`` (the latest date confirmed by a ``preservation_response``) and the
  days left.

Pure functions of the messages and ``now``; no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from keys.encoding import format_time
from node.storage.records import StoredMessage

OPEN_STATUSES = ("awaiting_response", "preserved", "extension_requested", "mla_submitted")
TICKING = ("preserved", "extension_requested")
PRESERVATION_KINDS = (
    "preservation_request",
    "preservation_response",
    "preservation_extension",
    "mla_submitted_notice",
    "preservation_release",
    "withdrawal",
)


@dataclass(frozen=True)
class PreservationClock:
    """Where one preservation stands."""

    conversation_id: str
    role: str
    counterpart: str
    request_msg_id: str
    reference: str | None
    requested_at: str
    status: str
    preserved_until: str | None
    days_left: int | None
    mla_reference: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def _clock(conversation: list[StoredMessage], today: date) -> PreservationClock | None:
    ordered = sorted(conversation, key=lambda m: m.created_at)
    request = next((m for m in ordered if m.kind == "preservation_request"), None)
    if request is None:
        return None
    status = "awaiting_response"
    until: str | None = None
    mla: str | None = None
    for msg in ordered:
        if msg.created_at < request.created_at or msg.msg_id == request.msg_id:
            continue
        body = msg.body
        if msg.kind == "preservation_response":
            outcome = body.get("outcome")
            if outcome in ("preserved", "partially_preserved"):
                until = body.get("preserved_until") or until
                status = "mla_submitted" if status == "mla_submitted" else "preserved"
            elif outcome in ("refused", "no_data"):
                status = str(outcome)
        elif msg.kind == "preservation_extension" and status == "preserved":
            status = "extension_requested"
        elif msg.kind == "mla_submitted_notice":
            status, mla = "mla_submitted", body.get("mla_reference")
        elif msg.kind == "preservation_release":
            status = "released"
        elif msg.kind == "withdrawal":
            status = "withdrawn"
    days_left = (date.fromisoformat(until) - today).days if until else None
    if status in TICKING and days_left is not None and days_left < 0:
        status = "expired"
    return PreservationClock(
        conversation_id=request.conversation_id,
        role="requested" if request.direction == "out" else "executed",
        counterpart=request.counterpart,
        request_msg_id=request.msg_id,
        reference=request.reference,
        requested_at=format_time(request.created_at),
        status=status,
        preserved_until=until,
        days_left=days_left,
        mla_reference=mla,
    )


def preservation_clocks(
    messages: Iterable[StoredMessage], now: datetime
) -> list[PreservationClock]:
    """One clock per conversation that holds a preservation request, soonest expiry first."""
    by_conversation: dict[str, list[StoredMessage]] = defaultdict(list)
    for msg in messages:
        by_conversation[msg.conversation_id].append(msg)
    today = now.date()
    clocks = [c for conv in by_conversation.values() if (c := _clock(conv, today)) is not None]
    return sorted(clocks, key=lambda c: (c.preserved_until or "9999", c.requested_at))


def expiring(clocks: Iterable[PreservationClock], warn_days: int) -> list[PreservationClock]:
    """Preservations still running that end within ``warn_days`` (or have just ended)."""
    return [
        c
        for c in clocks
        if (c.status in TICKING and c.days_left is not None and c.days_left <= warn_days)
        or c.status == "expired"
    ]

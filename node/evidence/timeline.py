"""The timeline of a message: every receipt and reply with its time and issuer, every
signature checked again when the timeline is built.

Pure: it takes the stored rows and a key lookup by party and time
(:meth:`node.trust.peers.PeerKeys.key_at`), and re-verifies each signature with the key that was
valid when it was made: the envelope's at its ``created_at``, a receipt's at its
``issued_at``. So a key rotated since (a party's, or the relay's) leaves older signatures
valid, while a signature made with a key outside its window, or after its party was
revoked, shows as ``no key valid then``. A receipt whose ``envelope_sha256`` differs from
the envelope this node holds is flagged: the envelope the other side saw is not the one we
sent (altered on the way). With ``audit`` (what :mod:`node.audit.auditor` proved), each receipt
that came through the relay says where the relay's audit log holds it, and alarms about
the message (or the whole log) are shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from keys.encoding import format_time
from keys.envelope import Envelope
from keys.errors import PocnetError, Rejected
from node.storage.records import StoredMessage, StoredReceipt
from node.trust.keyhistory import UNKNOWN_ISSUER, KeyAt, verify_receipt_at

_ORDER = {
    "sent": 0,
    "received": 0,
    "ACCEPTED": 1,
    "DELIVERED": 2,
    "RETRIEVED": 3,
    "REJECTED": 3,
    "ACKNOWLEDGED": 4,
    "OVERDUE": 5,
    "EXPIRED": 6,
    "reply": 7,
}


@dataclass(frozen=True)
class TimelineEntry:
    """One event: when, what, by whom, and whether its signature holds."""

    at: str
    event: str
    issuer: str
    signature: str
    detail: dict[str, Any] = field(default_factory=dict)
    audit_log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timeline:
    """A message and what happened to it."""

    msg_id: str
    direction: str
    kind: str
    counterpart: str
    priority: str
    state: str
    entries: tuple[TimelineEntry, ...]
    audit_alarms: tuple[dict[str, Any], ...] = ()

    @property
    def all_signatures_valid(self) -> bool:
        return all(e.signature in ("valid", "n/a") for e in self.entries)

    @property
    def altered(self) -> bool:
        return any(e.detail.get("digest") == "differs" for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "direction": self.direction,
            "kind": self.kind,
            "counterpart": self.counterpart,
            "priority": self.priority,
            "state": self.state,
            "all_signatures_valid": self.all_signatures_valid,
            "envelope_altered_in_transit": self.altered,
            "entries": [e.to_dict() for e in self.entries],
            "audit_alarms": list(self.audit_alarms),
        }


def _failed(e: Rejected) -> str:
    """What a timeline says of a signature that could not be checked or did not verify."""
    if e.reason in UNKNOWN_ISSUER:
        return "unknown key"
    if e.reason in ("receipt_signature", "receipt_malformed", "outer_signature"):
        return "INVALID"
    return "no key valid then"  # sender_inactive, relay_key_unknown: outside every window


def _check_envelope(msg: StoredMessage, key_at: KeyAt) -> str:
    try:
        envelope = Envelope.parse(msg.envelope)
        header = envelope.header
        envelope.verify_outer(key_at(header.sender, header.created))
    except Rejected as e:
        return _failed(e)
    except PocnetError:
        return "INVALID"
    return "valid"


def _receipt_entry(
    r: StoredReceipt, msg: StoredMessage, key_at: KeyAt, audit: Mapping[str, str] | None
) -> TimelineEntry:
    try:
        verify_receipt_at(r.wire, key_at)
        signature = "valid"
    except Rejected as e:
        signature = _failed(e)
    detail: dict[str, Any] = {
        "digest": "matches" if r.envelope_sha256 == msg.envelope_sha256 else "differs"
    }
    if r.reason:
        detail["reason"] = r.reason
    if r.origin == "self":
        detail["posted_to_relay"] = r.posted
    logged = None
    if audit is not None and r.origin != "self":
        logged = audit.get(r.sha256, "not proven yet")
    return TimelineEntry(format_time(r.issued_at), r.type, r.issuer, signature, detail, logged)


def build_timeline(
    msg: StoredMessage,
    stored_receipts: list[StoredReceipt],
    replies: list[StoredMessage],
    key_at: KeyAt,
    audit: Mapping[str, str] | None = None,
    alarms: Sequence[Mapping[str, Any]] = (),
) -> Timeline:
    """The timeline of ``msg`` from its receipts and the replies to it.

    ``key_at(party, at)`` gives the key of a signature made at ``at`` (raising
    :class:`keys.errors.Rejected` when there is none). ``audit`` maps receipt digests to
    where the relay's log holds them ("leaf N", or "ALARM ..."); ``alarms`` are the audit
    alarms to show with it.
    """
    sender = msg.sender
    first = TimelineEntry(
        format_time(msg.created_at),
        "sent" if msg.direction == "out" else "received",
        sender,
        _check_envelope(msg, key_at),
        {"stored_at": format_time(msg.stored_at)} if msg.direction == "in" else {},
    )
    entries = [first]
    entries += [_receipt_entry(r, msg, key_at, audit) for r in stored_receipts]
    for reply in replies:
        entries.append(
            TimelineEntry(
                format_time(reply.created_at),
                "reply",
                reply.sender,
                _check_envelope(reply, key_at),
                {"msg_id": reply.msg_id, "kind": reply.kind, "state": reply.state},
            )
        )
    entries.sort(key=lambda e: (e.at, _ORDER.get(e.event, 9)))
    return Timeline(
        msg_id=msg.msg_id,
        direction=msg.direction,
        kind=msg.kind,
        counterpart=msg.counterpart,
        priority=msg.priority,
        state=msg.state,
        entries=tuple(entries),
        audit_alarms=tuple(dict(a) for a in alarms),
    )


def render_text(t: Timeline) -> str:
    """The timeline as lines for a terminal."""
    arrow = "to" if t.direction == "out" else "from"
    lines = [f"{t.kind} {arrow} {t.counterpart} ({t.priority}), {t.msg_id}, state {t.state}"]
    for e in t.entries:
        parts = [f"{k} {v}" for k, v in e.detail.items()]
        if e.audit_log is not None:
            parts.append(f"audit log: {e.audit_log}")
        extra = ", ".join(parts)
        lines.append(
            f"  {e.at}  {e.event:<12} by {e.issuer:<8} signature {e.signature}"
            + (f"  ({extra})" if extra else "")
        )
    if t.altered:
        lines.append(
            "  WARNING: a receipt names a different envelope digest: the envelope was altered"
        )
    if not t.all_signatures_valid:
        lines.append("  WARNING: a signature does not verify with the key valid when it was made")
    for a in t.audit_alarms:
        lines.append(
            f"  AUDIT ALARM {a['at']}: {a['kind']} ({a['reason']})"
            + (f" about {a['receipt']}" if a.get("receipt") else " in the relay's log")
            + ": run 'node audit status'"
        )
    return "\n".join(lines)

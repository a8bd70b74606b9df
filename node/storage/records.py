"""Frozen views of the node's stored rows, as the rest of the node sees them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class StoredMessage:
    """A message this node sent (``direction == "out"``) or received (``"in"``)."""

    msg_id: str
    direction: str
    counterpart: str
    kind: str
    priority: str
    conversation_id: str
    in_reply_to: str | None
    created_at: str
    expires_at: str
    reference: str | None
    envelope: bytes
    envelope_sha256: str
    message: bytes
    state: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    stored_at: str
    acknowledged_at: str | None
    alerted_at: str | None
    ack_warned_at: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredMessage:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def content(self) -> dict[str, Any]:
        """The inner message (verified when it was stored) as a dict."""
        value: dict[str, Any] = json.loads(self.message)
        return value

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.content["body"]
        return body

    @property
    def sender(self) -> str:
        return str(self.content["sender"])

    @property
    def recipient(self) -> str:
        return str(self.content["recipient"])

    def summary(self) -> dict[str, Any]:
        """What lists show: metadata, no content beyond the case reference."""
        return {
            "msg_id": self.msg_id,
            "direction": self.direction,
            "counterpart": self.counterpart,
            "kind": self.kind,
            "priority": self.priority,
            "reference": self.reference,
            "created_at": self.created_at,
            "state": self.state,
            "conversation_id": self.conversation_id,
            "in_reply_to": self.in_reply_to,
        }


@dataclass(frozen=True)
class StoredReceipt:
    """A receipt: received about our message (``origin`` relay/peer) or issued by us."""

    id: int
    sha256: str
    msg_id: str
    type: str
    issuer: str
    issued_at: str
    reason: str | None
    envelope_sha256: str
    wire: bytes
    origin: str
    posted: bool
    attempts: int
    next_attempt_at: str | None
    stored_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredReceipt:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class AccessRecord:
    """One line of the append-only access log (Protocol Art. 14(8))."""

    id: int
    at: str
    os_user: str
    action: str
    msg_id: str
    detail: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AccessRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Rejection:
    """An envelope that could not be opened."""

    id: int
    envelope_sha256: str
    msg_id: str | None
    sender: str | None
    reason: str
    sent_reason: str | None
    received_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rejection:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

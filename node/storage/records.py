"""Frozen views of the node's stored rows, as the rest of the node sees them.

Times are :class:`datetime` (UTC) here; the tables keep them as RFC 3339 strings
(``keys.encoding.format_time``), converted at this edge by ``from_row`` on the way in and
by ``summary``/``to_dict`` on the way out, so what the commands print is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import Field, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from keys.encoding import format_time, parse_time

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_TIME_TYPES = ("datetime", "datetime | None")
R = TypeVar("R", bound="DataclassInstance")


def _from_row(cls: type[R], row: Mapping[str, Any]) -> R:
    """``cls`` from a table row: each ``datetime`` field parsed from its stored string."""
    values = {}
    for f in fields(cls):
        value = row[f.name]
        values[f.name] = parse_time(value, f.name) if _is_time(f) and value is not None else value
    return cls(**values)


def _is_time(f: Field[Any]) -> bool:
    return f.type in _TIME_TYPES


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
    created_at: datetime
    expires_at: datetime
    reference: str | None
    envelope: bytes
    envelope_sha256: str
    message: bytes
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    stored_at: datetime
    acknowledged_at: datetime | None
    alerted_at: datetime | None
    ack_warned_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredMessage:
        return _from_row(cls, row)

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
            "created_at": format_time(self.created_at),
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
    issued_at: datetime
    reason: str | None
    envelope_sha256: str
    wire: bytes
    origin: str
    posted: bool
    attempts: int
    next_attempt_at: datetime | None
    stored_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredReceipt:
        return _from_row(cls, row)


@dataclass(frozen=True)
class AccessRecord:
    """One line of the append-only access log (Protocol Art. 14(8))."""

    id: int
    at: datetime
    os_user: str
    action: str
    msg_id: str
    detail: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AccessRecord:
        return _from_row(cls, row)

    def to_dict(self) -> dict[str, Any]:
        """The record as ``node access-log --json`` shows it (``at`` as stored)."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"at": format_time(self.at)}


@dataclass(frozen=True)
class Rejection:
    """An envelope that could not be opened."""

    id: int
    envelope_sha256: str
    msg_id: str | None
    sender: str | None
    reason: str
    sent_reason: str | None
    received_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rejection:
        return _from_row(cls, row)

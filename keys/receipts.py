"""Receipts: signed statements of what happened to a message (DESIGN.md section 5).

Wire form: ``{"payload": b64u(canonical statement), "sig": b64u(Ed25519 signature)}`` where
the signature covers ``PAE(TYPE_RECEIPT, payload bytes)``. Verification checks the signature
over the exact bytes received before parsing them, and returns only the verified statement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys.encoding import (
    b64u_decode,
    b64u_encode,
    canonical,
    format_time,
    loads_strict,
    pae,
    parse_time,
)
from keys.envelope import is_version, validate_id
from keys.errors import DecodeError, Rejected, ValidationError
from keys.identities import RELAY_ID, SigningKey, VerifyKey, validate_party_id

TYPE_RECEIPT = "application/vnd.pocnet.receipt+json;v=1"
RELAY_TYPES = frozenset({"ACCEPTED", "DELIVERED", "OVERDUE", "EXPIRED"})
NODE_TYPES = frozenset({"RETRIEVED", "ACKNOWLEDGED", "REJECTED"})
RECEIPT_TYPES = RELAY_TYPES | NODE_TYPES
REQUIRED = ("v", "type", "msg_id", "envelope_sha256", "issuer", "issued_at")
OPTIONAL = ("reason", "leaf_index")
MAX_RECEIPT_BYTES = 4096
_REASON_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Receipt:
    """One receipt statement. Validates itself on construction.

    ``REJECTED`` needs a ``reason`` code (lower-case, no free text); relay receipts are
    issued by ``relay``, node receipts by a party. Only relay receipts carry a
    ``leaf_index``: a node signs before the relay logs its receipt, so a leaf it names is a
    claim it cannot know to be true.
    """

    type: str
    msg_id: str
    envelope_sha256: str
    issuer: str
    issued_at: str
    reason: str | None = None
    leaf_index: int | None = None
    v: int = 1

    def __post_init__(self) -> None:
        if not is_version(self.v, 1):
            raise ValidationError("unknown receipt version", code="bad_version")
        if not isinstance(self.type, str) or self.type not in RECEIPT_TYPES:
            raise ValidationError(f"unknown receipt type {str(self.type)[:20]!r}")
        validate_id(self.msg_id, "msg_id")
        if not isinstance(self.envelope_sha256, str) or not _SHA256_RE.match(self.envelope_sha256):
            raise ValidationError("envelope_sha256 must be 64 lower-case hex digits")
        if self.type in RELAY_TYPES:
            if self.issuer != RELAY_ID:
                raise ValidationError(f"{self.type} is issued by the relay only")
        else:
            validate_party_id(self.issuer)
        parse_time(self.issued_at, "issued_at")
        if self.reason is not None and (
            not isinstance(self.reason, str) or not _REASON_RE.match(self.reason)
        ):
            raise ValidationError("reason must be a lower-case code")
        if self.type == "REJECTED" and self.reason is None:
            raise ValidationError("a REJECTED receipt needs a reason code")
        if self.leaf_index is not None and (
            type(self.leaf_index) is not int or self.leaf_index < 0
        ):
            raise ValidationError("leaf_index must be a non-negative integer")
        if self.leaf_index is not None and self.type not in RELAY_TYPES:
            raise ValidationError(f"a {self.type} receipt carries no leaf_index")

    @property
    def issued(self) -> datetime:
        return parse_time(self.issued_at)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in REQUIRED}
        for name in OPTIONAL:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Receipt:
        extra = set(obj) - set(REQUIRED) - set(OPTIONAL)
        missing = [name for name in REQUIRED if name not in obj]
        if extra or missing:
            raise ValidationError(
                f"receipt: missing {missing or 'nothing'}, unexpected {sorted(extra) or 'nothing'}",
                code="bad_fields",
            )
        return cls(**dict(obj))


@dataclass(frozen=True, repr=False)
class SignedReceipt:
    """A receipt with its exact signed bytes. Its repr shows the statement, not the
    signature value."""

    receipt: Receipt
    payload: bytes
    signature: bytes

    def __repr__(self) -> str:
        return f"SignedReceipt({self.receipt!r})"

    def to_wire(self) -> dict[str, str]:
        return {"payload": b64u_encode(self.payload), "sig": b64u_encode(self.signature)}

    def to_bytes(self) -> bytes:
        return canonical(self.to_wire())

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the canonical wire bytes (what the audit log records)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()


def issue_at(
    now: datetime,
    signing_key: SigningKey,
    *,
    type: str,
    msg_id: str,
    envelope_sha256: str,
    issuer: str,
    reason: str | None = None,
    leaf_index: int | None = None,
) -> SignedReceipt:
    """Create and sign a receipt issued at ``now``.

    Raises:
        ValidationError: a field is invalid.
    """
    receipt = Receipt(
        type=type,
        msg_id=msg_id,
        envelope_sha256=envelope_sha256,
        issuer=issuer,
        issued_at=format_time(now),
        reason=reason,
        leaf_index=leaf_index,
    )
    payload = canonical(receipt.to_dict())
    return SignedReceipt(receipt, payload, signing_key.sign(pae(TYPE_RECEIPT, payload)))


Wire = bytes | Mapping[str, Any]
"""A receipt as received: its JSON bytes, or the JSON object ``{payload, sig}`` they hold."""


def parse_wire(data: Wire) -> tuple[bytes, bytes]:
    """Split a receipt's wire form into (payload bytes, signature), unverified.

    Raises:
        DecodeError, ValidationError: malformed.
    """
    obj = (
        loads_strict(data, max_bytes=MAX_RECEIPT_BYTES, max_depth=2)
        if isinstance(data, bytes | bytearray)
        else data
    )
    if set(obj) != {"payload", "sig"}:
        raise ValidationError("a receipt has exactly payload and sig", code="bad_fields")
    payload = b64u_decode(obj["payload"], max_bytes=MAX_RECEIPT_BYTES)
    signature = b64u_decode(obj["sig"], max_bytes=64)
    if len(signature) != 64:
        raise ValidationError("sig must be 64 bytes", code="bad_signature")
    return payload, signature


def peek_issuer(data: Wire) -> str:
    """The claimed issuer of an unverified receipt, to look its key up.

    Raises:
        DecodeError, ValidationError: malformed.
    """
    payload, _ = parse_wire(data)
    issuer = loads_strict(payload, max_bytes=MAX_RECEIPT_BYTES, max_depth=1).get("issuer")
    if not isinstance(issuer, str):
        raise ValidationError("receipt has no issuer")
    return issuer


def verify(data: Wire, key: VerifyKey) -> SignedReceipt:
    """Verify a receipt's signature with ``key``, then parse it.

    Raises:
        Rejected: ``receipt_signature`` (bad signature) or ``receipt_malformed``.
    """
    try:
        payload, signature = parse_wire(data)
    except ValidationError as e:
        raise Rejected("receipt_malformed") from e
    if not key.verify(signature, pae(TYPE_RECEIPT, payload)):
        raise Rejected("receipt_signature")
    try:
        receipt = Receipt.from_dict(loads_strict(payload, max_bytes=MAX_RECEIPT_BYTES, max_depth=1))
        if canonical(receipt.to_dict()) != payload:
            raise DecodeError("receipt payload is not canonical")
    except ValidationError as e:
        raise Rejected("receipt_malformed") from e
    return SignedReceipt(receipt, payload, signature)

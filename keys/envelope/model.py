"""Envelope v1 wire models: Header, Attachment, Message, Envelope and their validation.

The layers and the opening order are described in :mod:`keys.envelope`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from keys.encoding import (
    b64u_decode,
    b64u_encode,
    canonical,
    loads_strict,
    pae,
    parse_time,
)
from keys.envelope.attachments import Attachment, AttachmentRef, refs_from_list
from keys.errors import DecodeError, Rejected, ValidationError
from keys.identities import VerifyKey, validate_party_id
from keys.limits import DEFAULT_LIMITS, ProtocolLimits
from keys.suites import get_suite

VERSION = 1
TYPE_MESSAGE = "application/vnd.pocnet.message+json;v=1"
TYPE_ENVELOPE = "application/vnd.pocnet.envelope+json;v=1"
PRIORITIES = ("routine", "urgent", "emergency")
HEADER_FIELDS = (
    "v",
    "msg_id",
    "sender",
    "recipient",
    "created_at",
    "expires_at",
    "priority",
    "suite",
    "enc_key_id",
    "size",
)
MESSAGE_FIELDS = (
    "v",
    "msg_id",
    "conversation_id",
    "in_reply_to",
    "kind",
    "sender",
    "recipient",
    "created_at",
    "priority",
    "language",
    "body",
    "attachments",
)
SHARED_FIELDS = ("v", "msg_id", "sender", "recipient", "created_at", "priority")
_ID_RE = re.compile(r"^[0-9a-f]{32}\Z")
_KIND_RE = re.compile(r"^[a-z][a-z_]{0,47}\Z")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}\Z")
_KEY_ID_RE = re.compile(r"^[a-z0-9-]{1,24}:[0-9a-f]{32}\Z")
SIGNATURE_LEN = 64


def is_version(value: Any, version: int = VERSION) -> bool:
    """True if ``value`` is the integer ``version`` (not ``true``, not ``1.0``)."""
    return type(value) is int and value == version


def new_id(rand: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A random 128-bit id as 32 lower-case hex digits."""
    return rand(16).hex()


def validate_id(value: Any, field_name: str) -> str:
    """Return ``value`` if it is a 128-bit hex id, else raise ValidationError."""
    if isinstance(value, str) and _ID_RE.match(value):
        return value
    raise ValidationError(f"{field_name} must be 32 lower-case hex digits", code="bad_id")


def _exact_fields(obj: Mapping[str, Any], fields: tuple[str, ...], what: str) -> None:
    keys = set(obj)
    missing = [f for f in fields if f not in keys]
    extra = sorted(keys - set(fields))
    if missing or extra:
        raise ValidationError(
            f"{what}: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}",
            code="bad_fields",
        )


def _str(obj: Mapping[str, Any], name: str, limit: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValidationError(f"{name} must be a string of 1 to {limit} characters")
    return value


@dataclass(frozen=True)
class Header:
    """The routing header: all the relay may see of a message."""

    msg_id: str
    sender: str
    recipient: str
    created_at: str
    expires_at: str
    priority: str
    suite: str
    enc_key_id: str
    size: int
    v: int = VERSION
    attachments: tuple[AttachmentRef, ...] = ()

    def __post_init__(self) -> None:
        if not is_version(self.v):
            raise ValidationError(f"unknown envelope version {self.v!r}", code="bad_version")
        if len({a.id for a in self.attachments}) != len(self.attachments):
            raise ValidationError("header attachments repeat an id", code="duplicate_attachment")
        validate_id(self.msg_id, "msg_id")
        validate_party_id(self.sender)
        validate_party_id(self.recipient)
        created = parse_time(self.created_at, "created_at")
        expires = parse_time(self.expires_at, "expires_at")
        if expires <= created:
            raise ValidationError("expires_at must be after created_at", code="bad_time")
        if self.priority not in PRIORITIES:
            raise ValidationError(f"priority must be one of {', '.join(PRIORITIES)}")
        get_suite(self.suite)
        if not isinstance(self.enc_key_id, str) or not _KEY_ID_RE.match(self.enc_key_id):
            raise ValidationError("enc_key_id is not a key id", code="bad_key_id")
        if type(self.size) is not int or self.size < 0:
            raise ValidationError("size must be a non-negative integer")

    @cached_property
    def created(self) -> datetime:
        return parse_time(self.created_at)

    @cached_property
    def expires(self) -> datetime:
        return parse_time(self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        """The header's members; ``attachments`` only when the message has some."""
        out: dict[str, Any] = {name: getattr(self, name) for name in HEADER_FIELDS}
        if self.attachments:
            out["attachments"] = [a.to_dict() for a in self.attachments]
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], limits: ProtocolLimits = DEFAULT_LIMITS) -> Header:
        """Validate a decoded header.

        Raises:
            ValidationError: a field is missing, extra or invalid.
        """
        if not is_version(obj.get("v")):
            raise ValidationError(f"unknown envelope version {obj.get('v')!r}", code="bad_version")
        refs: tuple[AttachmentRef, ...] = ()
        if "attachments" in obj:
            refs = refs_from_list(obj["attachments"], limits.max_attachments)
            obj = {k: v for k, v in obj.items() if k != "attachments"}
        _exact_fields(obj, HEADER_FIELDS, "header")
        return cls(attachments=refs, **{name: obj[name] for name in HEADER_FIELDS})


@dataclass(frozen=True, repr=False)
class Message:
    """The inner message: what the sender wrote and signed.

    Its repr names the message but never shows the body or the attachments: a repr ends up
    in logs and tracebacks, and the body is the plaintext.
    """

    msg_id: str
    conversation_id: str
    in_reply_to: str | None
    kind: str
    sender: str
    recipient: str
    created_at: str
    priority: str
    language: str
    body: Mapping[str, Any]
    attachments: tuple[Attachment, ...] = ()
    v: int = VERSION

    def __post_init__(self) -> None:
        if not is_version(self.v):
            raise ValidationError(f"unknown message version {self.v!r}", code="bad_version")
        validate_id(self.msg_id, "msg_id")
        validate_id(self.conversation_id, "conversation_id")
        if self.in_reply_to is not None:
            validate_id(self.in_reply_to, "in_reply_to")
        if not isinstance(self.kind, str) or not _KIND_RE.match(self.kind):
            raise ValidationError("kind must be lower-case letters and underscores")
        validate_party_id(self.sender)
        validate_party_id(self.recipient)
        parse_time(self.created_at, "created_at")
        if self.priority not in PRIORITIES:
            raise ValidationError(f"priority must be one of {', '.join(PRIORITIES)}")
        if not isinstance(self.language, str) or not _LANG_RE.match(self.language):
            raise ValidationError("language must be a BCP 47 tag such as en or fr")
        if not isinstance(self.body, Mapping):
            raise ValidationError("body must be a JSON object")

    def __repr__(self) -> str:
        return (
            f"Message(msg_id={self.msg_id!r}, kind={self.kind!r}, sender={self.sender!r}, "
            f"recipient={self.recipient!r}, created_at={self.created_at!r}, "
            f"attachments={len(self.attachments)})"
        )

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in MESSAGE_FIELDS}
        out["body"] = dict(self.body)
        out["attachments"] = [a.to_dict() for a in self.attachments]
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], limits: ProtocolLimits = DEFAULT_LIMITS) -> Message:
        """Validate a decoded inner message.

        Raises:
            ValidationError: a field is missing, extra or invalid.
        """
        if not is_version(obj.get("v")):
            raise ValidationError("unknown message version", code="bad_version")
        _exact_fields(obj, MESSAGE_FIELDS, "message")
        raw_att = obj["attachments"]
        if not isinstance(raw_att, list) or len(raw_att) > limits.max_attachments:
            raise ValidationError(f"attachments must be a list of at most {limits.max_attachments}")
        atts = []
        for item in raw_att:
            if not isinstance(item, dict):
                raise ValidationError("attachment must be an object")
            atts.append(Attachment.from_dict(item))
        if len({a.id for a in atts}) != len(atts):
            raise ValidationError("attachments repeat an id", code="duplicate_attachment")
        fields = {name: obj[name] for name in MESSAGE_FIELDS if name != "attachments"}
        return cls(attachments=tuple(atts), **fields)


@dataclass(frozen=True, repr=False)
class Envelope:
    """A sealed message as the relay stores and forwards it.

    Its repr shows the routing header only (no ciphertext, no signature value).
    """

    header: Header
    header_bytes: bytes
    ciphertext: bytes
    signature: bytes

    def __repr__(self) -> str:
        return f"Envelope({self.header!r})"

    def to_wire(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "header": b64u_encode(self.header_bytes),
            "ciphertext": b64u_encode(self.ciphertext),
            "sig": b64u_encode(self.signature),
        }

    def to_bytes(self) -> bytes:
        """The envelope's canonical wire bytes: RFC 8785 of :meth:`to_wire`."""
        return self._wire_bytes

    @cached_property
    def _wire_bytes(self) -> bytes:
        # Written out rather than run through the general canonicaliser (which is slow on
        # long strings): the members in sorted order, base64url values that need no
        # escaping, and the integer version are exactly what RFC 8785 produces.
        # tests/unit/keys/test_envelope.py checks the equality.
        return b'{"ciphertext":"%s","header":"%s","sig":"%s","v":%d}' % (
            b64u_encode(self.ciphertext).encode("ascii"),
            b64u_encode(self.header_bytes).encode("ascii"),
            b64u_encode(self.signature).encode("ascii"),
            VERSION,
        )

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the canonical wire bytes: the digest receipts name."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def signed_bytes(self) -> bytes:
        """What the outer signature covers."""
        return outer_signed_bytes(self.header_bytes, self.ciphertext)

    def verify_outer(self, key: VerifyKey) -> None:
        """Check the sender's outer signature.

        Raises:
            Rejected: reason ``outer_signature``.
        """
        if not key.verify(self.signature, self.signed_bytes()):
            raise Rejected("outer_signature")

    @classmethod
    def parse(
        cls, data: bytes | Mapping[str, Any], limits: ProtocolLimits = DEFAULT_LIMITS
    ) -> Envelope:
        """Parse and validate an envelope's wire form (no signature check).

        Raises:
            TooLarge: beyond ``limits.max_envelope_bytes``.
            DecodeError, ValidationError: malformed or invalid.
        """
        if isinstance(data, bytes | bytearray):
            obj: Mapping[str, Any] = loads_strict(
                bytes(data), max_bytes=limits.max_envelope_bytes, max_depth=limits.max_depth
            )
        else:
            obj = data
        if not is_version(obj.get("v")):
            raise ValidationError(f"unknown envelope version {obj.get('v')!r}", code="bad_version")
        _exact_fields(obj, ("v", "header", "ciphertext", "sig"), "envelope")
        header_max = header_max_bytes(limits)
        header_bytes = b64u_decode(obj["header"], max_bytes=header_max)
        ciphertext = b64u_decode(obj["ciphertext"], max_bytes=limits.max_envelope_bytes)
        signature = b64u_decode(obj["sig"], max_bytes=SIGNATURE_LEN)
        if len(signature) != SIGNATURE_LEN:
            raise ValidationError("sig must be 64 bytes", code="bad_signature")
        hobj = loads_strict(header_bytes, max_bytes=header_max, max_depth=3)
        for name, value in hobj.items():
            if isinstance(value, str) and len(value) > limits.max_field_chars:
                raise ValidationError(f"header field {name} is too long", code="field_too_long")
        header = Header.from_dict(hobj, limits)
        if canonical(header.to_dict()) != header_bytes:
            raise DecodeError("header is not in canonical form", code="not_canonical")
        if header.size != len(ciphertext):
            raise ValidationError("header size does not match the ciphertext", code="bad_size")
        return cls(header, header_bytes, ciphertext, signature)


def header_max_bytes(limits: ProtocolLimits = DEFAULT_LIMITS) -> int:
    """The longest routing header accepted: the fields, and one reference per attachment."""
    return 16 * limits.max_field_chars + 160 * limits.max_attachments


def outer_signed_bytes(header_bytes: bytes, ciphertext: bytes) -> bytes:
    """PAE of the canonical ``{"ciphertext_sha256", "header"}`` statement."""
    # RFC 8785 of {"ciphertext_sha256": hex, "header": base64url}, written out: the members
    # in sorted order, values that need no escaping (test_envelope.py checks the equality).
    statement = b'{"ciphertext_sha256":"%s","header":"%s"}' % (
        hashlib.sha256(ciphertext).hexdigest().encode("ascii"),
        b64u_encode(header_bytes).encode("ascii"),
    )
    return pae(TYPE_ENVELOPE, statement)

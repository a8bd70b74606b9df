"""Envelope v1: seal and open a signed, end-to-end encrypted message.

Layers (docs/protocol.md gives the bytes):

1. the inner message, canonical JSON, signed by the sender (Ed25519 over PAE with
   :data:`TYPE_MESSAGE`); sender and recipient are inside what is signed;
2. the plaintext ``signature (64 bytes) || message bytes`` is encrypted with HPKE to the
   recipient's encryption key, with the header's canonical bytes as ``info``;
3. the routing header, visible to the relay, and the outer signature by the sender over PAE
   with :data:`TYPE_ENVELOPE` of ``{"ciphertext_sha256": ..., "header": ...}``.

Opening checks run in a fixed order; each failure raises :class:`keys.errors.Rejected`
whose ``reason`` names the check (for the operator), and whose text says only "rejected"
(for the peer). Order: version, sizes, recipient is me, sender known and active at
``created_at``, outer signature, decryption key known, decryption, inner signature, inner
message well-formed, inner fields equal to the header's, ``msg_id`` not seen before,
clock skew and expiry.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from keys.encoding import (
    b64u_decode,
    b64u_encode,
    canonical,
    check_depth,
    format_time,
    has_controls,
    loads_strict,
    pae,
    parse_time,
)
from keys.errors import DecodeError, PocnetError, Rejected, TooLarge, ValidationError
from keys.identities import (
    EncryptionPrivateKey,
    EncryptionPublicKey,
    SigningKey,
    VerifyKey,
    validate_party_id,
)
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
ATTACHMENT_FIELDS = ("name", "media_type", "size", "sha256")
_ID_RE = re.compile(r"^[0-9a-f]{32}\Z")
_KIND_RE = re.compile(r"^[a-z][a-z_]{0,47}\Z")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}\Z")
_KEY_ID_RE = re.compile(r"^[a-z0-9-]{1,24}:[0-9a-f]{32}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_MEDIA_RE = re.compile(r"^[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,64}\Z")
SIGNATURE_LEN = 64


def is_version(value: Any, version: int = VERSION) -> bool:
    """True if ``value`` is the integer ``version`` (not ``true``, not ``1.0``)."""
    return type(value) is int and value == version


def new_id(rand: Callable[[int], bytes] = os.urandom) -> str:
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

    def __post_init__(self) -> None:
        if not is_version(self.v):
            raise ValidationError(f"unknown envelope version {self.v!r}", code="bad_version")
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

    @property
    def created(self) -> datetime:
        return parse_time(self.created_at)

    @property
    def expires(self) -> datetime:
        return parse_time(self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HEADER_FIELDS}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Header:
        """Validate a decoded header.

        Raises:
            ValidationError: a field is missing, extra or invalid.
        """
        if not is_version(obj.get("v")):
            raise ValidationError(f"unknown envelope version {obj.get('v')!r}", code="bad_version")
        _exact_fields(obj, HEADER_FIELDS, "header")
        return cls(**{name: obj[name] for name in HEADER_FIELDS})


@dataclass(frozen=True)
class Attachment:
    """Descriptor of a file that travels separately; only its digest is signed here."""

    name: str
    media_type: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not 0 < len(self.name) <= 255
            or "/" in self.name
            or "\\" in self.name
            or self.name in (".", "..")
            or has_controls(self.name)
        ):
            raise ValidationError(
                "attachment name must be 1 to 255 characters: a file name, without '/' or "
                "'\\', not '.' or '..', and without control characters"
            )
        if not isinstance(self.media_type, str) or not _MEDIA_RE.match(self.media_type):
            raise ValidationError("attachment media_type is not a media type")
        if type(self.size) is not int or self.size < 0:
            raise ValidationError("attachment size must be a non-negative integer")
        if not isinstance(self.sha256, str) or not _SHA256_RE.match(self.sha256):
            raise ValidationError("attachment sha256 must be 64 lower-case hex digits")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ATTACHMENT_FIELDS}


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
            _exact_fields(item, ATTACHMENT_FIELDS, "attachment")
            atts.append(Attachment(**item))
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
        # tests/unit/test_envelope.py checks the equality.
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
        header_bytes = b64u_decode(obj["header"], max_bytes=16 * limits.max_field_chars)
        ciphertext = b64u_decode(obj["ciphertext"], max_bytes=limits.max_envelope_bytes)
        signature = b64u_decode(obj["sig"], max_bytes=SIGNATURE_LEN)
        if len(signature) != SIGNATURE_LEN:
            raise ValidationError("sig must be 64 bytes", code="bad_signature")
        hobj = loads_strict(header_bytes, max_bytes=16 * limits.max_field_chars, max_depth=2)
        for name, value in hobj.items():
            if isinstance(value, str) and len(value) > limits.max_field_chars:
                raise ValidationError(f"header field {name} is too long", code="field_too_long")
        header = Header.from_dict(hobj)
        if canonical(header.to_dict()) != header_bytes:
            raise DecodeError("header is not in canonical form", code="not_canonical")
        if header.size != len(ciphertext):
            raise ValidationError("header size does not match the ciphertext", code="bad_size")
        return cls(header, header_bytes, ciphertext, signature)


def outer_signed_bytes(header_bytes: bytes, ciphertext: bytes) -> bytes:
    """PAE of the canonical ``{"ciphertext_sha256", "header"}`` statement."""
    statement = canonical(
        {
            "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
            "header": b64u_encode(header_bytes),
        }
    )
    return pae(TYPE_ENVELOPE, statement)


@dataclass(frozen=True)
class Sealed:
    """The result of :func:`seal`: the envelope and the message it carries."""

    envelope: Envelope
    message: Message


def seal(
    *,
    signing_key: SigningKey,
    recipient_key: EncryptionPublicKey,
    sender: str,
    recipient: str,
    kind: str,
    body: Mapping[str, Any],
    priority: str = "routine",
    language: str = "en",
    conversation_id: str | None = None,
    in_reply_to: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    ttl: timedelta = timedelta(days=30),
    limits: ProtocolLimits = DEFAULT_LIMITS,
) -> Sealed:
    """Seal a message now, with fresh random ids. See :func:`seal_at`."""
    return seal_at(
        datetime.now().astimezone(),
        signing_key=signing_key,
        recipient_key=recipient_key,
        sender=sender,
        recipient=recipient,
        kind=kind,
        body=body,
        priority=priority,
        language=language,
        conversation_id=conversation_id,
        in_reply_to=in_reply_to,
        attachments=attachments,
        ttl=ttl,
        limits=limits,
    )


def seal_at(
    now: datetime,
    *,
    signing_key: SigningKey,
    recipient_key: EncryptionPublicKey,
    sender: str,
    recipient: str,
    kind: str,
    body: Mapping[str, Any],
    priority: str = "routine",
    language: str = "en",
    conversation_id: str | None = None,
    in_reply_to: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    ttl: timedelta = timedelta(days=30),
    limits: ProtocolLimits = DEFAULT_LIMITS,
    msg_id: str | None = None,
    rand: Callable[[int], bytes] = os.urandom,
) -> Sealed:
    """Sign, encrypt and sign again; deterministic but for HPKE's own randomness.

    Args:
        now: the creation time written into the message and header.
        msg_id: a fixed id (for vectors); otherwise one is drawn from ``rand``.
        rand: source of random bytes for ids.

    Raises:
        ValidationError: a field is invalid.
        TooLarge: the message exceeds ``limits.max_message_bytes``.
    """
    if ttl <= timedelta(0) or ttl > limits.max_lifetime:
        raise ValidationError(f"ttl must be positive and at most {limits.max_lifetime}")
    mid = msg_id or new_id(rand)
    created_at = format_time(now)
    message = Message(
        msg_id=mid,
        conversation_id=conversation_id or mid,
        in_reply_to=in_reply_to,
        kind=kind,
        sender=sender,
        recipient=recipient,
        created_at=created_at,
        priority=priority,
        language=language,
        body=body,
        attachments=attachments,
    )
    message_dict = message.to_dict()
    message_bytes = canonical(message_dict)
    if len(message_bytes) > limits.max_message_bytes:
        raise TooLarge(
            f"message of {len(message_bytes)} bytes exceeds the limit of {limits.max_message_bytes}"
        )
    check_depth(message_dict, limits.max_depth)
    inner_sig = signing_key.sign(pae(TYPE_MESSAGE, message_bytes))
    plaintext = inner_sig + message_bytes
    suite = get_suite(recipient_key.suite)
    header = Header(
        msg_id=mid,
        sender=sender,
        recipient=recipient,
        created_at=created_at,
        expires_at=format_time(now + ttl),
        priority=priority,
        suite=suite.name,
        enc_key_id=recipient_key.key_id,
        size=len(plaintext) + suite.overhead,
    )
    header_bytes = canonical(header.to_dict())
    try:
        ciphertext = suite.encrypt_key(plaintext, recipient_key.hpke_key(), header_bytes)
    except ValueError as e:  # a small-order X25519 key, an ML-KEM key out of range
        raise ValidationError(
            f"the recipient's encryption key {recipient_key.key_id} is not usable",
            code="bad_key",
        ) from e
    if len(ciphertext) != header.size:  # pragma: no cover - a suite constant is wrong
        raise PocnetError("HPKE overhead differs from the suite's declared overhead")
    signature = signing_key.sign(outer_signed_bytes(header_bytes, ciphertext))
    return Sealed(Envelope(header, header_bytes, ciphertext, signature), message)


class SenderKeys(Protocol):
    """Where the opener finds a sender's signing key (the directory, or a fixed map)."""

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        """The party's signing key valid at ``at``.

        Raises:
            Rejected: ``unknown_sender`` or ``sender_inactive``.
        """
        ...


@dataclass(frozen=True)
class StaticSenderKeys:
    """A fixed map of party id to signing key: for tests and bundle folders."""

    keys: Mapping[str, VerifyKey] = field(default_factory=dict)

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        key = self.keys.get(party)
        if key is None:
            raise Rejected("unknown_sender")
        return key


def open_envelope(
    envelope: Envelope | bytes,
    *,
    me: str,
    sender_keys: SenderKeys,
    decryption_keys: Mapping[str, EncryptionPrivateKey],
    seen: Callable[[str], bool] = lambda _msg_id: False,
    limits: ProtocolLimits = DEFAULT_LIMITS,
) -> Message:
    """Open an envelope now. See :func:`open_at`."""
    return open_at(
        datetime.now().astimezone(),
        envelope,
        me=me,
        sender_keys=sender_keys,
        decryption_keys=decryption_keys,
        seen=seen,
        limits=limits,
    )


def open_at(
    now: datetime,
    envelope: Envelope | bytes,
    *,
    me: str,
    sender_keys: SenderKeys,
    decryption_keys: Mapping[str, EncryptionPrivateKey],
    seen: Callable[[str], bool] = lambda _msg_id: False,
    limits: ProtocolLimits = DEFAULT_LIMITS,
) -> Message:
    """Verify and decrypt an envelope addressed to ``me``; return only verified data.

    Args:
        now: the time to judge expiry and clock skew against.
        me: the opener's party id.
        sender_keys: where to find the sender's signing key.
        decryption_keys: the opener's private encryption keys by key id (current and
            previous ones still in their overlap window).
        seen: returns True for a ``msg_id`` already received (replay).

    Raises:
        Rejected: any check failed; ``reason`` names which.
    """
    if isinstance(envelope, bytes | bytearray):
        try:
            envelope = Envelope.parse(bytes(envelope), limits)
        except TooLarge as e:
            raise Rejected("too_large") from e
        except ValidationError as e:
            reason = "version" if e.code == "bad_version" else "malformed"
            raise Rejected(reason) from e
    header = envelope.header
    if header.size > limits.max_envelope_bytes:
        raise Rejected("too_large")
    if header.recipient != me:
        raise Rejected("wrong_recipient")
    created = header.created
    sender_key = sender_keys.verify_key_for(header.sender, created)
    envelope.verify_outer(sender_key)
    private = decryption_keys.get(header.enc_key_id)
    if private is None or private.suite != header.suite:
        raise Rejected("unknown_enc_key")
    plaintext = get_suite(header.suite).decrypt_key(
        envelope.ciphertext, private.hpke_key(), envelope.header_bytes
    )
    if len(plaintext) < SIGNATURE_LEN:
        raise Rejected("inner_malformed")
    inner_sig, message_bytes = plaintext[:SIGNATURE_LEN], plaintext[SIGNATURE_LEN:]
    if not sender_key.verify(inner_sig, pae(TYPE_MESSAGE, message_bytes)):
        raise Rejected("inner_signature")
    try:
        obj = loads_strict(
            message_bytes, max_bytes=limits.max_message_bytes, max_depth=limits.max_depth
        )
        message = Message.from_dict(obj, limits)
        if canonical(message.to_dict()) != message_bytes:
            raise DecodeError("inner message is not canonical")
    except ValidationError as e:
        raise Rejected("inner_malformed") from e
    hdr = header.to_dict()
    msg = message.to_dict()
    if any(hdr[name] != msg[name] for name in SHARED_FIELDS):
        raise Rejected("header_mismatch")
    if message.recipient != me:  # implied by the two checks above; kept explicit
        raise Rejected("wrong_recipient")
    if seen(message.msg_id):
        raise Rejected("replay")
    check_times(header, now, limits)
    return message


def check_times(header: Header, now: datetime, limits: ProtocolLimits = DEFAULT_LIMITS) -> None:
    """Clock skew, expiry and lifetime of a header, judged at ``now``.

    Raises:
        Rejected: ``future``, ``expired`` or ``lifetime``.
    """
    created = header.created
    if created - now > limits.clock_skew:
        raise Rejected("future")
    if header.expires <= now:
        raise Rejected("expired")
    if header.expires - created > limits.max_lifetime:
        raise Rejected("lifetime")

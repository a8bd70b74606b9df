"""Envelope v1 sealing: sign, encrypt and wrap a message (:func:`seal`, :func:`seal_at`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keys.encoding import canonical, check_depth, format_time, pae
from keys.envelope.model import (
    TYPE_MESSAGE,
    Attachment,
    Envelope,
    Header,
    Message,
    new_id,
    outer_signed_bytes,
)
from keys.errors import PocnetError, TooLarge, ValidationError
from keys.identities import EncryptionPublicKey, SigningKey
from keys.limits import DEFAULT_LIMITS, ProtocolLimits
from keys.suites import get_suite


@dataclass(frozen=True)
class Sealed:
    """The result of :func:`seal`: the envelope, the message it carries and the sender's
    inner signature over that message (kept for evidence with content)."""

    envelope: Envelope
    message: Message
    signature: bytes


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
    rand: Callable[[int], bytes] = secrets.token_bytes,
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
    return Sealed(Envelope(header, header_bytes, ciphertext, signature), message, inner_sig)

"""Envelope v1 opening: the ordered checks of :func:`open_envelope` and :func:`check_times`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from keys.encoding import canonical, loads_strict, pae
from keys.envelope.model import (
    SHARED_FIELDS,
    SIGNATURE_LEN,
    TYPE_MESSAGE,
    Envelope,
    Header,
    Message,
)
from keys.errors import DecodeError, Rejected, TooLarge, ValidationError
from keys.identities import EncryptionPrivateKey, VerifyKey
from keys.limits import DEFAULT_LIMITS, ProtocolLimits
from keys.suites import get_suite


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
    return open_signed_at(
        now,
        envelope,
        me=me,
        sender_keys=sender_keys,
        decryption_keys=decryption_keys,
        seen=seen,
        limits=limits,
    ).message


@dataclass(frozen=True)
class Opened:
    """An opened envelope's message and the sender's inner signature over its bytes."""

    message: Message
    signature: bytes


def open_signed_at(
    now: datetime,
    envelope: Envelope | bytes,
    *,
    me: str,
    sender_keys: SenderKeys,
    decryption_keys: Mapping[str, EncryptionPrivateKey],
    seen: Callable[[str], bool] = lambda _msg_id: False,
    limits: ProtocolLimits = DEFAULT_LIMITS,
) -> Opened:
    """:func:`open_at`, keeping the inner signature (a node stores it for evidence).

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
    message = verify_inner(header, inner_sig, message_bytes, sender_key, limits)
    if message.recipient != me:  # implied by the checks above; kept explicit
        raise Rejected("wrong_recipient")
    if seen(message.msg_id):
        raise Rejected("replay")
    check_times(header, now, limits)
    return Opened(message, inner_sig)


def verify_inner(
    header: Header,
    signature: bytes,
    message_bytes: bytes,
    sender_key: VerifyKey,
    limits: ProtocolLimits = DEFAULT_LIMITS,
) -> Message:
    """Check an inner message against its envelope's header; return it parsed.

    Used when opening and by an evidence verifier holding the decrypted message: the
    sender's signature over the exact bytes first, then a strict, canonical parse, then
    every field the header shares equal to the header's.

    Raises:
        Rejected: ``inner_signature``, ``inner_malformed`` or ``header_mismatch``.
    """
    if len(signature) != SIGNATURE_LEN or not sender_key.verify(
        signature, pae(TYPE_MESSAGE, message_bytes)
    ):
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

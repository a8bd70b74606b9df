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

from keys.envelope.model import (
    ATTACHMENT_FIELDS,
    HEADER_FIELDS,
    MESSAGE_FIELDS,
    PRIORITIES,
    SHARED_FIELDS,
    SIGNATURE_LEN,
    TYPE_ENVELOPE,
    TYPE_MESSAGE,
    VERSION,
    Attachment,
    Envelope,
    Header,
    Message,
    is_version,
    new_id,
    outer_signed_bytes,
    validate_id,
)
from keys.envelope.open import (
    Opened,
    SenderKeys,
    StaticSenderKeys,
    check_times,
    open_at,
    open_envelope,
    open_signed_at,
    verify_inner,
)
from keys.envelope.seal import Sealed, seal, seal_at

__all__ = [
    "ATTACHMENT_FIELDS",
    "HEADER_FIELDS",
    "MESSAGE_FIELDS",
    "PRIORITIES",
    "SHARED_FIELDS",
    "SIGNATURE_LEN",
    "TYPE_ENVELOPE",
    "TYPE_MESSAGE",
    "VERSION",
    "Attachment",
    "Envelope",
    "Header",
    "Message",
    "Opened",
    "Sealed",
    "SenderKeys",
    "StaticSenderKeys",
    "check_times",
    "is_version",
    "new_id",
    "open_at",
    "open_envelope",
    "open_signed_at",
    "outer_signed_bytes",
    "seal",
    "seal_at",
    "validate_id",
    "verify_inner",
]

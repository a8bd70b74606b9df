"""Protocol limits: one frozen dataclass with a name and a default for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ProtocolLimits:
    """Limits applied when parsing and opening envelopes and receipts.

    Attributes:
        max_envelope_bytes: largest envelope on the wire (JSON, base64url included).
        max_message_bytes: largest inner message (canonical JSON) a sender may seal.
        max_depth: deepest JSON nesting accepted anywhere.
        max_field_chars: longest string accepted in a header or receipt field.
        clock_skew: how far in the future ``created_at`` may be.
        max_lifetime: longest ``expires_at - created_at`` accepted.
        max_attachments: most attachment descriptors in one message.
    """

    max_envelope_bytes: int = 2 * 1024 * 1024
    max_message_bytes: int = 1024 * 1024
    max_depth: int = 16
    max_field_chars: int = 256
    clock_skew: timedelta = timedelta(minutes=5)
    max_lifetime: timedelta = timedelta(days=90)
    max_attachments: int = 32


DEFAULT_LIMITS = ProtocolLimits()

"""Attachment manifest entries for tests: valid, fixed, with no real file behind them."""

from __future__ import annotations

import hashlib

from keys.envelope import Attachment
from keys.envelope.attachments import MIN_CHUNK_SIZE, chunk_count


def sample_attachment(
    name: str = "log.txt",
    size: int = 12,
    *,
    media_type: str = "text/plain",
    chunk_size: int = MIN_CHUNK_SIZE,
    label: str = "sample",
) -> Attachment:
    """A well-formed entry whose id, key and digests derive from ``label``."""
    seed = hashlib.sha512(f"pocnet test attachment: {label}".encode()).digest()
    return Attachment(
        id=seed[:16].hex(),
        name=name,
        media_type=media_type,
        size=size,
        sha256=hashlib.sha256(seed + b"plain").hexdigest(),
        key=seed[32:64],
        chunk_size=chunk_size,
        chunks=chunk_count(size, chunk_size),
        digest=hashlib.sha256(seed + b"chunks").hexdigest(),
    )

"""Sealed attachments: the inner manifest entry, the outer reference, and their sizes.

A file attached to a message travels beside the envelope as a list of encrypted chunks
(:mod:`keys.envelope.stream` makes and opens them). Two descriptions of it exist:

- :class:`Attachment`, inside the signed and encrypted message: the file's name, media
  type, size and SHA-256, the per-file key, the chunk size and count, and the chunk-list
  digest. Only the recipient reads it.
- :class:`AttachmentRef`, in the routing header the relay sees (and the sender's outer
  signature covers): an opaque id, the ciphertext size, the chunk count and the chunk-list
  digest. Never a name, a media type or a key.

The chunk-list digest is SHA-256 over a domain tag followed by the SHA-256 of each
encrypted chunk in order (:func:`chunk_list_digest`), so a relay that hashes each chunk as
it arrives can check the whole set without reading it again. docs/protocol.md gives the
bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keys.encoding import b64u_decode, b64u_encode, has_controls
from keys.errors import Rejected, ValidationError

ATTACHMENT_FIELDS = (
    "id",
    "name",
    "media_type",
    "size",
    "sha256",
    "key",
    "chunk_size",
    "chunks",
    "digest",
)
REF_FIELDS = ("id", "size", "chunks", "digest")
KEY_BYTES = 32
STREAM_HEADER_BYTES = 24
"""The secretstream header, sent in front of chunk 0."""
CHUNK_OVERHEAD = 17
"""Per chunk: the encrypted tag byte and the 16-byte Poly1305 tag."""
DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 1 << 10
MAX_CHUNK_SIZE = 1 << 22
MAX_CHUNK_BLOB = MAX_CHUNK_SIZE + CHUNK_OVERHEAD + STREAM_HEADER_BYTES
"""The largest encrypted chunk any valid attachment holds (what a relay may accept)."""
MAX_FILE_SIZE = 1 << 40
DIGEST_DOMAIN = b"pocnet-attachment-chunks-v1\x00"
_ID_RE = re.compile(r"^[0-9a-f]{32}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_MEDIA_RE = re.compile(r"^[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,64}\Z")


def chunk_count(size: int, chunk_size: int) -> int:
    """How many chunks a file of ``size`` bytes takes (an empty file still has one)."""
    return max(1, -(-size // chunk_size))


def plain_chunk_len(size: int, chunk_size: int, index: int) -> int:
    """Plaintext length of chunk ``index``: full but for the last one."""
    last = chunk_count(size, chunk_size) - 1
    return chunk_size if index < last else size - last * chunk_size


def blob_len(size: int, chunk_size: int, index: int) -> int:
    """Length of encrypted chunk ``index`` as stored and sent."""
    extra = STREAM_HEADER_BYTES if index == 0 else 0
    return plain_chunk_len(size, chunk_size, index) + CHUNK_OVERHEAD + extra


def blob_offset(chunk_size: int, index: int) -> int:
    """Where encrypted chunk ``index`` starts when the chunks are stored end to end."""
    return (STREAM_HEADER_BYTES if index else 0) + index * (chunk_size + CHUNK_OVERHEAD)


def ciphertext_size(size: int, chunk_size: int) -> int:
    """Total length of all encrypted chunks of a file of ``size`` bytes."""
    return size + STREAM_HEADER_BYTES + CHUNK_OVERHEAD * chunk_count(size, chunk_size)


def chunk_list_digest(chunk_hashes: Iterable[bytes]) -> str:
    """Hex SHA-256 of the domain tag and each encrypted chunk's 32-byte SHA-256, in order."""
    h = hashlib.sha256(DIGEST_DOMAIN)
    for one in chunk_hashes:
        if len(one) != 32:
            raise ValueError("a chunk hash is 32 bytes")
        h.update(one)
    return h.hexdigest()


def _id(value: Any) -> str:
    if isinstance(value, str) and _ID_RE.match(value):
        return value
    raise ValidationError("attachment id must be 32 lower-case hex digits", code="bad_id")


def _count(value: Any, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(f"attachment {name} must be an integer from {low} to {high}")
    return value


def _sha(value: Any, name: str) -> str:
    if isinstance(value, str) and _SHA256_RE.match(value):
        return value
    raise ValidationError(f"attachment {name} must be 64 lower-case hex digits")


def _exact(obj: Mapping[str, Any], fields: tuple[str, ...], what: str) -> None:
    if not isinstance(obj, Mapping):
        raise ValidationError(f"{what} must be an object")
    missing = [f for f in fields if f not in obj]
    extra = sorted(set(obj) - set(fields))
    if missing or extra:
        raise ValidationError(
            f"{what}: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}",
            code="bad_fields",
        )


@dataclass(frozen=True)
class AttachmentRef:
    """What the relay sees of one attachment: id, ciphertext size, chunks, chunk-list digest."""

    id: str
    size: int
    chunks: int
    digest: str

    def __post_init__(self) -> None:
        _id(self.id)
        _count(self.chunks, "chunks", 1, MAX_FILE_SIZE // MIN_CHUNK_SIZE + 1)
        _count(self.size, "size", STREAM_HEADER_BYTES + CHUNK_OVERHEAD * self.chunks, 2**53)
        _sha(self.digest, "digest")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REF_FIELDS}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> AttachmentRef:
        """Validate a decoded reference.

        Raises:
            ValidationError: a field is missing, extra or invalid.
        """
        _exact(obj, REF_FIELDS, "attachment reference")
        return cls(**{name: obj[name] for name in REF_FIELDS})


@dataclass(frozen=True, repr=False)
class Attachment:
    """One sealed file as the signed message describes it; the key opens its chunks.

    Its repr shows the id and size only: never the name (it may say what the case is
    about) nor the key.
    """

    id: str
    name: str
    media_type: str
    size: int
    sha256: str
    key: bytes
    chunk_size: int
    chunks: int
    digest: str

    def __post_init__(self) -> None:
        _id(self.id)
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
        _count(self.size, "size", 0, MAX_FILE_SIZE)
        _sha(self.sha256, "sha256")
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise ValidationError(f"attachment key must be {KEY_BYTES} bytes")
        _count(self.chunk_size, "chunk_size", MIN_CHUNK_SIZE, MAX_CHUNK_SIZE)
        if self.chunk_size & (self.chunk_size - 1):
            raise ValidationError("attachment chunk_size must be a power of two")
        if self.chunks != chunk_count(self.size, self.chunk_size):
            raise ValidationError("attachment chunks does not match its size and chunk_size")
        _sha(self.digest, "digest")

    def __repr__(self) -> str:
        return f"Attachment(id={self.id!r}, size={self.size}, chunks={self.chunks})"

    @property
    def ciphertext_size(self) -> int:
        return ciphertext_size(self.size, self.chunk_size)

    def ref(self) -> AttachmentRef:
        """The reference the routing header lists for this file."""
        return AttachmentRef(self.id, self.ciphertext_size, self.chunks, self.digest)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in ATTACHMENT_FIELDS}
        out["key"] = b64u_encode(self.key)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Attachment:
        """Validate a decoded manifest entry.

        Raises:
            ValidationError: a field is missing, extra or invalid.
        """
        _exact(obj, ATTACHMENT_FIELDS, "attachment")
        fields = {name: obj[name] for name in ATTACHMENT_FIELDS}
        fields["key"] = b64u_decode(obj["key"], max_bytes=KEY_BYTES)
        return cls(**fields)


def refs_from_list(raw: Any, limit: int) -> tuple[AttachmentRef, ...]:
    """Validate the header's ``attachments`` list: objects, distinct ids, at most ``limit``.

    Raises:
        ValidationError: not a non-empty list, too long, a bad entry or a repeated id.
    """
    if not isinstance(raw, list) or not 0 < len(raw) <= limit:
        raise ValidationError(f"header attachments must be a list of 1 to {limit} entries")
    refs = tuple(AttachmentRef.from_dict(item) for item in raw)
    if len({r.id for r in refs}) != len(refs):
        raise ValidationError("header attachments repeat an id", code="duplicate_attachment")
    return refs


def check_refs(inner: Sequence[Attachment], outer: Sequence[AttachmentRef]) -> None:
    """The header's references must be exactly the manifest's, in the same order.

    Raises:
        Rejected: ``attachments_mismatch``.
    """
    if tuple(a.ref() for a in inner) != tuple(outer):
        raise Rejected("attachments_mismatch")

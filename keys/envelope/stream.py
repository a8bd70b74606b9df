"""Attachment chunks: encrypt and open a file chunk by chunk, in constant memory.

Each file has its own random 32-byte key and one libsodium secretstream
(XChaCha20-Poly1305, through PyNaCl). Chunk ``i`` of the plaintext (``chunk_size`` bytes,
the last one shorter or empty) is pushed with the additional data :func:`chunk_ad`
(a domain tag, the attachment id and ``i``), tagged ``TAG_FINAL`` when it is the last and
``TAG_MESSAGE`` otherwise; chunk 0 is preceded by the 24-byte stream header. So a chunk
flipped, dropped, reordered, repeated, taken from another file or from another message, or
added after the final one fails to open (ADR 0016 says why secretstream).

:class:`ChunkSealer` and :class:`ChunkOpener` hold one stream each and see one chunk at
a time; :func:`seal_file` reads a file object with two chunks in memory at most. Both
count the plaintext's SHA-256 and the chunk-list digest as they go. Failures of a
received stream raise :class:`keys.errors.Rejected` whose ``reason`` names the attack.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Callable, Iterator
from typing import Protocol

from nacl import bindings as _ss
from nacl.exceptions import CryptoError

from keys.envelope.attachments import (
    DEFAULT_CHUNK_SIZE,
    DIGEST_DOMAIN,
    KEY_BYTES,
    MAX_FILE_SIZE,
    STREAM_HEADER_BYTES,
    Attachment,
    blob_len,
)
from keys.errors import Rejected, TooLarge, ValidationError

AD_DOMAIN = b"pocnet-attachment-chunk-v1\x00"
_TAG_MESSAGE = _ss.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = _ss.crypto_secretstream_xchacha20poly1305_TAG_FINAL


class Readable(Protocol):
    """A binary file object opened for reading."""

    def read(self, size: int = -1, /) -> bytes: ...


def chunk_ad(attachment_id: str, index: int) -> bytes:
    """Additional data of chunk ``index``: domain tag, the 16-byte id, index as u64 BE."""
    return AD_DOMAIN + bytes.fromhex(attachment_id) + struct.pack(">Q", index)


class ChunkSealer:
    """Encrypt one file's chunks in order; :meth:`push` returns each chunk to store.

    Args:
        attachment_id: the file's opaque id (32 hex digits).
        key: the file's 32-byte key.
    """

    def __init__(self, attachment_id: str, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValidationError(f"an attachment key is {KEY_BYTES} bytes")
        self._id = attachment_id
        self._state = _ss.crypto_secretstream_xchacha20poly1305_state()
        self._header: bytes | None = _ss.crypto_secretstream_xchacha20poly1305_init_push(
            self._state, key
        )
        self.index = 0
        self.size = 0
        self.finished = False
        self._plain = hashlib.sha256()
        self._digest = hashlib.sha256(DIGEST_DOMAIN)

    def push(self, chunk: bytes, *, final: bool) -> bytes:
        """Encrypt the next plaintext chunk (``final`` for the last one)."""
        if self.finished:
            raise ValidationError("the stream is finished; no chunk may follow the final one")
        tag = _TAG_FINAL if final else _TAG_MESSAGE
        blob = _ss.crypto_secretstream_xchacha20poly1305_push(
            self._state, chunk, chunk_ad(self._id, self.index), tag
        )
        if self._header is not None:
            blob = self._header + blob
            self._header = None
        self._plain.update(chunk)
        self._digest.update(hashlib.sha256(blob).digest())
        self.size += len(chunk)
        self.index += 1
        self.finished = final
        return blob

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the plaintext pushed so far."""
        return self._plain.hexdigest()

    @property
    def digest(self) -> str:
        """The chunk-list digest of the chunks returned so far."""
        return self._digest.hexdigest()


def read_full(reader: Readable, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at the end of the file (short reads joined)."""
    first = reader.read(size)
    if len(first) == size or not first:
        return first
    parts = [first]
    got = len(first)
    while got < size:
        more = reader.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def seal_file(
    reader: Readable,
    write_chunk: Callable[[int, bytes], None],
    *,
    name: str,
    media_type: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_size: int = MAX_FILE_SIZE,
    rand: Callable[[int], bytes] = secrets.token_bytes,
) -> Attachment:
    """Encrypt a file into chunks handed to ``write_chunk(index, blob)``; return its entry.

    Memory holds two plaintext chunks at most (the one being sealed and the one read
    ahead to know whether it is the last). The key and the id are drawn from ``rand``;
    the secretstream header comes from libsodium's own random source.

    Raises:
        TooLarge: the file grows beyond ``max_size``.
        ValidationError: ``name`` or ``media_type`` is not valid.
    """
    key = rand(KEY_BYTES)
    attachment_id = rand(16).hex()
    sealer = ChunkSealer(attachment_id, key)
    current = read_full(reader, chunk_size)
    while True:
        following = read_full(reader, chunk_size) if len(current) == chunk_size else b""
        final = not following
        if sealer.size + len(current) > max_size:
            raise TooLarge(f"the file is larger than the limit of {max_size} bytes")
        write_chunk(sealer.index, sealer.push(current, final=final))
        if final:
            break
        current = following
    return Attachment(
        id=attachment_id,
        name=name,
        media_type=media_type,
        size=sealer.size,
        sha256=sealer.sha256,
        key=key,
        chunk_size=chunk_size,
        chunks=sealer.index,
        digest=sealer.digest,
    )


class ChunkOpener:
    """Open one attachment's chunks in order against its signed manifest entry.

    Call :meth:`pull` for chunk 0, 1, ... and :meth:`finish` after the last. Every
    plaintext returned is authentic for its position; only :meth:`finish` says the file
    is complete and equal to what was signed.
    """

    def __init__(self, attachment: Attachment) -> None:
        self.attachment = attachment
        self.index = 0
        self.finished = False
        self._state = _ss.crypto_secretstream_xchacha20poly1305_state()
        self._plain = hashlib.sha256()
        self._digest = hashlib.sha256(DIGEST_DOMAIN)

    def pull(self, index: int, blob: bytes) -> bytes:
        """Check and decrypt chunk ``index``; return its plaintext.

        Raises:
            Rejected: ``attachment_extra`` (beyond the count or after the final chunk),
                ``attachment_order`` (not the next index), ``attachment_chunk_size``,
                ``attachment_chunk`` (does not open: flipped, reordered, swapped, wrong key),
                ``attachment_truncated`` (the last chunk is not final) or
                ``attachment_final_early`` (a final chunk before the last).
        """
        att = self.attachment
        if self.finished or index >= att.chunks:
            raise Rejected("attachment_extra")
        if index != self.index:
            raise Rejected("attachment_order")
        if len(blob) != blob_len(att.size, att.chunk_size, index):
            raise Rejected("attachment_chunk_size")
        body = blob
        if index == 0:
            _ss.crypto_secretstream_xchacha20poly1305_init_pull(
                self._state, blob[:STREAM_HEADER_BYTES], att.key
            )
            body = blob[STREAM_HEADER_BYTES:]
        try:
            plain, tag = _ss.crypto_secretstream_xchacha20poly1305_pull(
                self._state, body, chunk_ad(att.id, index)
            )
        except CryptoError as e:
            self.finished = True
            raise Rejected("attachment_chunk") from e
        last = index == att.chunks - 1
        if last and tag != _TAG_FINAL:
            raise Rejected("attachment_truncated")
        if not last and tag != _TAG_MESSAGE:
            raise Rejected("attachment_final_early")
        self._plain.update(plain)
        self._digest.update(hashlib.sha256(blob).digest())
        self.index += 1
        self.finished = last
        return plain

    def finish(self) -> None:
        """Every chunk was opened and the file is the one signed.

        Raises:
            Rejected: ``attachment_truncated`` (chunks missing), ``attachment_digest``
                or ``attachment_sha256``.
        """
        if not self.finished:
            raise Rejected("attachment_truncated")
        if not secrets.compare_digest(self._digest.hexdigest(), self.attachment.digest):
            raise Rejected("attachment_digest")
        if not secrets.compare_digest(self._plain.hexdigest(), self.attachment.sha256):
            raise Rejected("attachment_sha256")


def open_chunks(attachment: Attachment, blobs: Iterator[bytes]) -> Iterator[bytes]:
    """Yield the plaintext of each chunk of ``blobs`` in order, then check the whole file.

    A consumer must not treat what it received as the file until the iterator ends
    without an error.

    Raises:
        Rejected: as :meth:`ChunkOpener.pull` and :meth:`ChunkOpener.finish`.
    """
    opener = ChunkOpener(attachment)
    for index, blob in enumerate(blobs):
        yield opener.pull(index, blob)
    opener.finish()

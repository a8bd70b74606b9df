"""Sealed attachments at the relay: chunk uploads, the check at submit, downloads, purges.

A sender uploads each encrypted chunk (``PUT /v1/attachments/{id}/chunks/{n}``, the
request signed and its ``Content-Digest`` the chunk's SHA-256) before it submits the
envelope whose header lists the file (docs/protocol.md section 18). The relay stores the
chunk as an opaque blob and its hash; it never sees a name or a key. The decisions are pure
functions of values (:func:`check_upload`, :func:`check_complete`), tested by tables; the
class around them only fetches and stores, in the writer's transaction so that quota and
completeness are judged on what is committed.

Limits (``relay.toml`` ``[limits]``): the declared size of one file
(``attachment_max_file_bytes``) and of a message's files together
(``attachment_max_message_bytes``), and the bytes a party may keep stored
(``attachment_quota_bytes``), are refused with 413 at the first chunk of a file, before
its bytes are stored, and again at submit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keys.envelope import AttachmentRef, Header
from keys.envelope.attachments import CHUNK_OVERHEAD, STREAM_HEADER_BYTES, chunk_list_digest
from keys.errors import Conflict, NotFound, TooLarge, ValidationError
from relay.config import RelayConfig
from relay.monitoring.logging import get_logger
from relay.storage.attachments import AcceptedFile, AttachmentStore, ChunkInfo
from relay.storage.writer import Tx, Writer

log = get_logger("relay.core.attachments")


@dataclass(frozen=True)
class Upload:
    """One chunk upload as the request states it: the file's encrypted size and chunk count
    (signed query parameters) and this chunk."""

    caller: str
    att_id: str
    idx: int
    file_size: int
    file_chunks: int
    body_len: int
    sha256: bytes


@dataclass(frozen=True)
class Limits:
    max_file: int
    max_message: int
    quota: int

    @classmethod
    def of(cls, config: RelayConfig) -> Limits:
        return cls(
            config.attachment_max_file_bytes,
            config.attachment_max_message_bytes,
            config.attachment_quota_bytes,
        )


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def check_upload(up: Upload, existing: Sequence[ChunkInfo], usage: int, limits: Limits) -> bool:
    """Whether to store ``up`` (True) or answer that it is stored already (False).

    Args:
        existing: the chunks of this id already stored, by anyone.
        usage: the bytes the caller has stored, all files together.

    Raises:
        ValidationError: the index, sizes or count do not fit together.
        TooLarge: the file is over the per-file limit, or storing it would pass the
            caller's quota (both judged on the declared size, at the first chunk).
        Conflict: the id is another party's (``attachment_id_taken``), the chunk is stored
            with other bytes (``chunk_differs``), or the file was already accepted with
            other chunks (``attachment_accepted``).
    """
    if up.file_size > limits.max_file:
        raise TooLarge(
            f"this attachment is {_mib(up.file_size)}; this relay accepts attachments of at "
            f"most {_mib(limits.max_file)} (attachment_max_file_bytes)",
            code="attachment_too_large",
        )
    if up.file_chunks < 1 or STREAM_HEADER_BYTES + CHUNK_OVERHEAD * up.file_chunks > up.file_size:
        raise ValidationError("chunks and size do not fit a sealed attachment", code="bad_chunks")
    if not 0 <= up.idx < up.file_chunks:
        raise ValidationError(
            f"chunk index {up.idx} is outside 0..{up.file_chunks - 1}", code="bad_chunk_index"
        )
    if any(c.sender != up.caller for c in existing):
        raise Conflict("this attachment id is in use; draw another", code="attachment_id_taken")
    same = next((c for c in existing if c.idx == up.idx), None)
    if same is not None:
        if same.sha256 == up.sha256:
            return False
        raise Conflict(
            f"chunk {up.idx} of this attachment is stored with other bytes", code="chunk_differs"
        )
    if any(c.msg_id is not None for c in existing):
        raise Conflict("this attachment belongs to an accepted message", code="attachment_accepted")
    stored = sum(c.size for c in existing)
    if stored + up.body_len > up.file_size:
        raise ValidationError("the chunks exceed the attachment's declared size", code="bad_chunks")
    if usage - stored + up.file_size > limits.quota:
        raise TooLarge(
            f"storing this attachment ({_mib(up.file_size)}) would bring your attachments at "
            f"the relay to {_mib(usage - stored + up.file_size)}, over your quota of "
            f"{_mib(limits.quota)}: wait until delivered messages are purged, or ask the "
            "relay's operator (attachment_quota_bytes)",
            code="attachment_quota",
        )
    return True


def check_message(refs: Sequence[AttachmentRef], limits: Limits) -> None:
    """The files of one envelope together, before anything is read.

    Raises:
        TooLarge: a file or their total is over its limit.
    """
    total = sum(r.size for r in refs)
    if total > limits.max_message or any(r.size > limits.max_file for r in refs):
        raise TooLarge(
            f"this message's attachments total {_mib(total)}; this relay accepts at most "
            f"{_mib(limits.max_message)} per message and {_mib(limits.max_file)} per file",
            code="attachment_too_large",
        )


def check_complete(
    ref: AttachmentRef, sender: str, msg_id: str, chunks: Sequence[ChunkInfo]
) -> None:
    """Every chunk of ``ref`` is stored, by ``sender``, and they are what the header says.

    Raises:
        Conflict: chunks missing (``attachment_incomplete``) or claimed by another message
            (``attachment_accepted``).
        ValidationError: the stored chunks' total size or chunk-list digest differs from
            the header's (``attachment_mismatch``).
    """
    mine = [c for c in chunks if c.sender == sender]
    if [c.idx for c in mine] != list(range(ref.chunks)) or len(mine) != len(chunks):
        raise Conflict(
            f"attachment {ref.id}: {len(mine)} of {ref.chunks} chunks are uploaded; upload "
            f"the rest (GET /v1/attachments/{ref.id} lists those present) and submit again",
            code="attachment_incomplete",
        )
    if any(c.msg_id not in (None, msg_id) for c in mine):
        raise Conflict(
            f"attachment {ref.id} belongs to another message", code="attachment_accepted"
        )
    size = sum(c.size for c in mine)
    digest = chunk_list_digest(c.sha256 for c in mine)
    if size != ref.size or digest != ref.digest:
        raise ValidationError(
            f"attachment {ref.id}: the uploaded chunks are not the ones the header lists "
            "(size or digest differs)",
            code="attachment_mismatch",
        )


def present_ranges(indices: Sequence[int]) -> list[list[int]]:
    """Sorted chunk indices as ``[first, last]`` runs: ``[0, 1, 2, 5]`` -> ``[[0, 2], [5, 5]]``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


class AttachmentService:
    """Upload, status, download and purge of attachment chunks."""

    def __init__(self, *, store: AttachmentStore, writer: Writer, config: RelayConfig) -> None:
        self.store = store
        self.writer = writer
        self.config = config
        self.limits = Limits.of(config)

    async def put_chunk(self, up: Upload, body: bytes, now: datetime) -> bool:
        """Store a chunk; True if stored now, False if the same bytes were there already.
        ``up.sha256`` must be the body's (the request's verified ``Content-Digest``).

        Raises:
            as :func:`check_upload`.
        """

        async def op(tx: Tx) -> bool:
            existing = await self.store.chunks_in_tx(tx, up.att_id)
            usage = await self.store.usage(tx, up.caller)
            if not check_upload(up, existing, usage, self.limits):
                return False
            await self.store.put_chunk(
                tx,
                att_id=up.att_id,
                idx=up.idx,
                sender=up.caller,
                sha256=up.sha256,
                data=body,
                now=now,
            )
            return True

        created = await self.writer.run(op)
        if created and (up.idx == 0 or up.idx == up.file_chunks - 1):
            log.info(
                "attachment.chunk_stored",
                sender=up.caller,
                att_id=up.att_id,
                idx=up.idx,
                chunks=up.file_chunks,
            )
        return created

    async def status(self, caller: str, att_id: str) -> dict[str, Any]:
        """Which chunks of ``att_id`` are stored, for their sender or the file's recipient.

        Raises:
            NotFound: the chunks are another party's and the caller is not the recipient.
        """
        chunks = await self.store.chunks_of(att_id)
        accepted = await self.store.accepted_file(att_id)
        owner = chunks[0].sender if chunks else (accepted.sender if accepted else caller)
        if caller != owner and (accepted is None or accepted.recipient != caller):
            raise NotFound("no such attachment")
        return {
            "id": att_id,
            "present": present_ranges([c.idx for c in chunks]),
            "bytes": sum(c.size for c in chunks),
            "msg_id": accepted.msg_id if accepted else None,
        }

    async def chunk(self, caller: str, att_id: str, idx: int) -> bytes:
        """Chunk ``idx`` of an accepted attachment, for its recipient only.

        Raises:
            NotFound: not accepted, not the caller's, or purged.
        """
        accepted = await self.store.accepted_file(att_id)
        if accepted is None or accepted.recipient != caller or not 0 <= idx < accepted.chunks:
            raise NotFound("no such attachment chunk")
        data = await self.store.chunk_data(att_id, idx)
        if data is None:
            raise NotFound("this attachment's chunks were purged", code="purged")
        return data

    async def claim(self, tx: Tx, header: Header) -> None:
        """At submit, in the submit's transaction: refuse unless every listed chunk is
        stored and matches, then tie the files to the message (before any write of it).

        Raises:
            TooLarge, Conflict, ValidationError: as :func:`check_message` and
                :func:`check_complete`.
        """
        refs = header.attachments
        check_message(refs, self.limits)
        for ref in refs:
            chunks = await self.store.chunks_in_tx(tx, ref.id)
            check_complete(ref, header.sender, header.msg_id, chunks)
        for ref in refs:
            self.store.add_file(
                tx,
                AcceptedFile(
                    ref.id,
                    header.msg_id,
                    header.sender,
                    header.recipient,
                    ref.size,
                    ref.chunks,
                    ref.digest,
                ),
            )
        await self.store.claim(tx, [r.id for r in refs], header.msg_id)

    async def purge(self, tx: Tx, msg_id: str) -> int:
        """Delete the chunks of ``msg_id`` with its envelope bytes (retention)."""
        return await self.store.delete_for(tx, msg_id)

    async def purge_unclaimed(self, tx: Tx, now: datetime) -> int:
        """Delete chunks that no envelope claimed within ``attachment_pending_seconds``."""
        before = now - timedelta(seconds=self.config.attachment_pending_seconds)
        return await self.store.delete_unclaimed(tx, before)

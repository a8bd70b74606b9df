"""Sealed attachments at the node: seal files to a spool and upload them.

Sending (``node send --attach FILE``): :func:`seal_files` encrypts each file once, chunk by
chunk, into ``<data>/attachments/out/<id>.sealed`` (0600; the chunks end to end) and returns
the manifest entries that go into the signed message. Before each submission of the
envelope the outbox calls :meth:`Uploader.upload`, which asks the relay which chunks it
holds (``GET /v1/attachments/{id}``) and sends only the others, a few chunks in memory at a
time: a node killed mid-upload continues where the relay's answer says it stopped. Once
the relay's ``ACCEPTED`` is held, the spool files are deleted.

Receiving: :mod:`node.exchange.downloads` (the daemon), with the spool folders, the
bounded window of requests (:func:`in_order`) and the relay client's interface defined here.
Progress lines carry ids and counts only, never a name or a byte of content.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar, cast

from keys.encoding import format_time, loads_strict
from keys.envelope import Attachment, Message
from keys.envelope.attachments import DEFAULT_CHUNK_SIZE, MAX_FILE_SIZE, blob_len, blob_offset
from keys.envelope.stream import seal_file
from keys.errors import InvalidFile, PocnetError
from node.logs import Logger
from node.storage.states import AttachmentState
from node.storage.store import Store

PROGRESS_EVERY = 64  # chunks between two progress log lines (and progress records)


IN_FLIGHT = 4  # chunk requests in flight per file: memory stays a few chunks, whatever the size
T = TypeVar("T")


async def in_order(
    jobs: Iterator[Callable[[], Awaitable[T]]], width: int = IN_FLIGHT
) -> AsyncIterator[T]:
    """Run ``jobs`` with at most ``width`` in flight; yield their results in order. The
    first failure cancels the rest and is raised."""
    running: deque[asyncio.Task[T]] = deque()
    try:
        while True:
            while len(running) < width:
                job = next(jobs, None)
                if job is None:
                    break
                running.append(asyncio.ensure_future(job()))
            if not running:
                return
            yield await running.popleft()
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def put_job(
    put: Callable[[int], Awaitable[None]],
) -> Callable[[int], Callable[[], Awaitable[None]]]:
    """``i`` -> a job that uploads chunk ``i`` (reading it when the job starts)."""
    return lambda i: lambda: put(i)


class AttachmentTransport(Protocol):
    """What the attachment code needs of the relay client (HttpRelayTransport has it)."""

    async def put_chunk(
        self, att_id: str, idx: int, blob: bytes, *, size: int, chunks: int
    ) -> bool: ...

    async def attachment_status(self, att_id: str) -> dict[str, Any]: ...

    async def get_chunk(self, att_id: str, idx: int, max_bytes: int) -> bytes: ...


@dataclass(frozen=True)
class AttachmentDirs:
    """Where attachments live under the node's data folder."""

    root: Path

    @classmethod
    def under(cls, data_dir: Path) -> AttachmentDirs:
        return cls(data_dir / "attachments")

    def sealed_out(self, att_id: str) -> Path:
        return self.root / "out" / f"{att_id}.sealed"

    def sealed_in(self, att_id: str) -> Path:
        return self.root / "in" / f"{att_id}.sealed"

    def saved(self, msg_id: str, att_id: str) -> Path:
        return self.root / "files" / msg_id / att_id


def private_file(path: Path, mode: str) -> IO[bytes]:
    """Open ``path`` for binary writing, created 0600 (its folder 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return cast(IO[bytes], os.fdopen(fd, mode))


def media_type_of(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed.lower() if guessed and guessed.isascii() else "application/octet-stream"


def seal_files(
    paths: Sequence[Path],
    dirs: AttachmentDirs,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_size: int = MAX_FILE_SIZE,
) -> tuple[Attachment, ...]:
    """Encrypt each file into the spool; return their manifest entries, in order.

    Raises:
        InvalidFile: a file cannot be read, or is larger than ``max_size``.
    """
    out: list[Attachment] = []
    for path in paths:
        tmp = dirs.root / "out" / f".sealing-{os.getpid()}-{len(out)}"
        try:
            with open(path, "rb") as src, private_file(tmp, "wb") as dst:
                att = seal_file(
                    src,
                    lambda _i, blob, dst=dst: dst.write(blob),  # type: ignore[misc]
                    name=path.name,
                    media_type=media_type_of(path),
                    chunk_size=chunk_size,
                    max_size=max_size,
                )
                dst.flush()
                os.fsync(dst.fileno())
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise InvalidFile(f"cannot read the attachment {path}: {e.strerror}") from e
        except PocnetError as e:
            tmp.unlink(missing_ok=True)
            raise InvalidFile(f"cannot attach {path}: {e.message}", code=e.code) from e
        tmp.replace(dirs.sealed_out(att.id))
        out.append(att)
    return tuple(out)


def attachment_rows(message: Message, direction: str, now: str) -> list[dict[str, Any]]:
    """The ``attachment_files`` rows of a message's attachments."""
    return [
        {
            "att_id": a.id,
            "msg_id": message.msg_id,
            "direction": direction,
            "name": a.name,
            "media_type": a.media_type,
            "size": a.size,
            "chunks": a.chunks,
            "updated_at": now,
        }
        for a in message.attachments
    ]


def has_attachments(message_bytes: bytes) -> bool:
    """Whether a stored message lists attachments."""
    return b'"attachments":[{' in message_bytes and bool(message_of(message_bytes).attachments)


def message_of(stored_message: bytes) -> Message:
    """The signed message a node stored (already verified)."""
    return Message.from_dict(loads_strict(stored_message, max_bytes=2 * 1024 * 1024))


def _present(status: dict[str, Any]) -> set[int]:
    runs = status.get("present")
    out: set[int] = set()
    if isinstance(runs, list):
        for run in runs:
            if isinstance(run, list) and len(run) == 2 and all(type(x) is int for x in run):
                out.update(range(run[0], run[1] + 1))
    return out


@dataclass
class Uploader:
    """Sends the spooled chunks of a message's attachments the relay does not hold."""

    transport: AttachmentTransport
    store: Store
    dirs: AttachmentDirs
    log: Logger

    async def upload(self, message: Message, now: datetime) -> None:
        """Upload every missing chunk of every attachment of ``message``.

        Raises:
            PocnetError: the relay refused or did not answer (the outbox retries or fails).
            InvalidFile: a spool file is gone (the message cannot be sent as sealed).
        """
        for att in message.attachments:
            await self._one(message.msg_id, att, now)

    async def _one(self, msg_id: str, att: Attachment, now: datetime) -> None:
        present = _present(await self.transport.attachment_status(att.id))
        if len(present) >= att.chunks:
            return
        path = self.dirs.sealed_out(att.id)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below, across awaits
        except OSError as e:
            raise InvalidFile(
                f"the sealed attachment {att.id} of message {msg_id} is missing from "
                f"{path.parent}: send the request again",
                code="attachment_spool_missing",
            ) from e
        with src:
            sent = len(present)
            self.log.info(
                "attachment.upload_started",
                msg_id=msg_id,
                att_id=att.id,
                have=sent,
                chunks=att.chunks,
            )
            missing = (i for i in range(att.chunks) if i not in present)

            async def put(i: int) -> None:
                src.seek(blob_offset(att.chunk_size, i))
                blob = src.read(blob_len(att.size, att.chunk_size, i))
                await self.transport.put_chunk(
                    att.id, i, blob, size=att.ciphertext_size, chunks=att.chunks
                )

            async for _ in in_order(map(put_job(put), missing)):
                sent += 1
                if sent % PROGRESS_EVERY == 0:
                    await self.store.attachment_progress(att.id, sent, format_time(now))
                    self.log.info(
                        "attachment.upload_progress", att_id=att.id, done=sent, chunks=att.chunks
                    )
        await self.store.attachment_progress(att.id, att.chunks, format_time(now))
        self.log.info("attachment.uploaded", msg_id=msg_id, att_id=att.id, chunks=att.chunks)

    async def accepted(self, message: Message, now: datetime) -> None:
        """The relay accepted the message: its files are complete; drop the spool."""
        for att in message.attachments:
            await self.store.finish_attachment(att.id, AttachmentState.COMPLETE, format_time(now))
            self.dirs.sealed_out(att.id).unlink(missing_ok=True)


def uploader_for(transport: Any, store: Store, data_dir: Path, log: Logger) -> Uploader | None:
    """The outbox's uploader, when the relay client can upload chunks."""
    if not hasattr(transport, "put_chunk"):
        return None
    return Uploader(
        cast(AttachmentTransport, transport), store, AttachmentDirs.under(data_dir), log
    )

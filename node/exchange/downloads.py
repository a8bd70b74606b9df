"""Downloading, verifying and saving the attachments of received messages (the daemon).

Each pending file of a received message is downloaded chunk by chunk into
``<data>/attachments/in/<id>.sealed`` (resumed from that file's length after a restart: a
chunk cut short by a kill is dropped), then opened in order with the key from the signed
message (:class:`keys.envelope.stream.ChunkOpener`) into
``<data>/attachments/files/<msg_id>/<id>`` (0600). A chunk that does not open, a missing or
extra one, or a file whose digest differs makes the message ``REJECTED`` (reason
``attachment_failed``; the precise reason goes to the log and the node's record), and
nothing of the file is kept. The spool and the store's progress are the only state.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from keys import receipts
from keys.encoding import format_time
from keys.envelope import Attachment
from keys.envelope.attachments import blob_len, blob_offset
from keys.envelope.stream import ChunkOpener
from keys.errors import NotFound, Rejected
from keys.keystore import Keystore
from node.exchange.attachments import (
    PROGRESS_EVERY,
    AttachmentDirs,
    AttachmentTransport,
    in_order,
    message_of,
    private_file,
)
from node.logs import Logger
from node.storage.attachmentstore import AttachmentRecord
from node.storage.states import AttachmentState
from node.storage.store import Store

SENT_REASON = "attachment_failed"  # what the sender learns: crypto failures look the same


@dataclass
class Downloader:
    """Downloads, verifies and saves the attachments of received messages (the daemon)."""

    transport: AttachmentTransport
    store: Store
    keystore: Keystore
    dirs: AttachmentDirs
    log: Logger

    async def run_once(self, now: datetime) -> int:
        """Work through the pending received files; how many were finished (either way).

        Raises:
            PocnetError: the relay did not answer (the rest waits for the next round).
        """
        finished = 0
        for record in await self.store.pending_attachments("in"):
            if await self.fetch(record, now):
                finished += 1
        return finished

    async def fetch(self, record: AttachmentRecord, now: datetime) -> bool:
        """Download and verify one file; True once it is complete or refused."""
        stored = await self.store.get_message(record.msg_id)
        message = message_of(stored.message)
        att = next(a for a in message.attachments if a.id == record.att_id)
        sealed = self.dirs.sealed_in(att.id)
        try:
            await self._download(message.msg_id, att, sealed, now)
        except NotFound:
            return await self._refuse(stored, att, "attachment_missing", now)
        except Rejected as e:
            return await self._refuse(stored, att, e.reason, now)
        try:
            self._verify(message.msg_id, att, sealed)
        except Rejected as e:
            return await self._refuse(stored, att, e.reason, now)
        sealed.unlink(missing_ok=True)
        await self.store.finish_attachment(att.id, AttachmentState.COMPLETE, format_time(now))
        self.log.info("attachment.verified", msg_id=message.msg_id, att_id=att.id, size=att.size)
        return True

    def _whole_chunks(self, att: Attachment, have: int) -> int:
        """How many whole chunks a spool file of ``have`` bytes holds."""
        count = 0
        while count < att.chunks and blob_offset(att.chunk_size, count + 1) <= have:
            count += 1
        return count

    async def _download(self, msg_id: str, att: Attachment, sealed: Path, now: datetime) -> None:
        have = sealed.stat().st_size if sealed.exists() else 0
        start = self._whole_chunks(att, have)
        if have != blob_offset(att.chunk_size, start):  # a chunk cut short by a kill
            with open(sealed, "r+b") as f:
                f.truncate(blob_offset(att.chunk_size, start))
        if start == att.chunks:
            return
        self.log.info(
            "attachment.download_started",
            msg_id=msg_id,
            att_id=att.id,
            have=start,
            chunks=att.chunks,
        )

        def fetch(i: int) -> Callable[[], Awaitable[bytes]]:
            return lambda: self.transport.get_chunk(
                att.id, i, blob_len(att.size, att.chunk_size, i)
            )

        with private_file(sealed, "ab") as out:
            i = start - 1
            async for blob in in_order(map(fetch, range(start, att.chunks))):
                i += 1
                if len(blob) != blob_len(att.size, att.chunk_size, i):
                    raise Rejected("attachment_chunk_size")
                out.write(blob)
                if (i + 1) % PROGRESS_EVERY == 0:
                    out.flush()
                    await self.store.attachment_progress(att.id, i + 1, format_time(now))
                    self.log.info(
                        "attachment.download_progress", att_id=att.id, done=i + 1, chunks=att.chunks
                    )
            out.flush()
            os.fsync(out.fileno())

    def _verify(self, msg_id: str, att: Attachment, sealed: Path) -> None:
        """Open the spooled chunks in order into the saved file; remove it if refused."""
        target = self.dirs.saved(msg_id, att.id)
        tmp = target.with_name(f".{att.id}.part")
        opener = ChunkOpener(att)
        try:
            with open(sealed, "rb") as src, private_file(tmp, "wb") as dst:
                for i in range(att.chunks):
                    dst.write(opener.pull(i, src.read(blob_len(att.size, att.chunk_size, i))))
                if src.read(1):
                    raise Rejected("attachment_extra")
                opener.finish()
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(target)

    async def _refuse(self, stored: Any, att: Attachment, reason: str, now: datetime) -> bool:
        """The message is REJECTED: the file is not the sender's."""
        stamp = format_time(now)
        signed = receipts.issue_at(
            now,
            self.keystore.signing_key,
            type="REJECTED",
            msg_id=stored.msg_id,
            envelope_sha256=stored.envelope_sha256,
            issuer=self.keystore.party,
            reason=SENT_REASON if reason != "attachment_missing" else reason,
        )
        done = await self.store.finish_attachment(
            att.id, AttachmentState.REJECTED, stamp, reason=reason, receipt=signed
        )
        with contextlib.suppress(OSError):
            self.dirs.sealed_in(att.id).unlink(missing_ok=True)
        self.log.warning(
            "attachment.rejected",
            msg_id=stored.msg_id,
            att_id=att.id,
            sender=stored.counterpart,
            reason=reason,
        )
        return done


def downloader_for(node: Any) -> Downloader | None:
    """The daemon's downloader for a node whose relay client can fetch chunks."""
    transport = node.transport
    if not hasattr(transport, "get_chunk"):
        return None
    dirs = AttachmentDirs.under(node.config.data_dir)
    return Downloader(
        cast(AttachmentTransport, transport), node.store, node.keystore, dirs, node.log
    )

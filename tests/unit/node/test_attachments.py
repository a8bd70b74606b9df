"""The node's attachment code without a relay: sealing to the spool, resumed uploads,
resumed downloads, every refusal turned into a REJECTED, and the attachment states."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import canonical, format_time
from keys.envelope import Attachment, Message
from keys.envelope.attachments import blob_len, blob_offset
from keys.envelope.stream import seal_file
from keys.errors import InvalidFile, NotFound
from keys.host.command import Unreachable as Unavailable
from keys.identities import SigningKey
from keys.states import IllegalTransition
from node.exchange.attachments import (
    AttachmentDirs,
    Uploader,
    attachment_rows,
    media_type_of,
    seal_files,
)
from node.exchange.downloads import Downloader
from node.exchange.outbox import message_row
from node.storage.states import ATTACHMENT, AttachmentState, InboxState
from node.storage.store import Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CHUNK = 1024
DATA = bytes(i % 249 for i in range(5 * CHUNK + 10))


class Relay:
    """A relay's attachment side in memory; fails (503) after ``fail_after`` calls."""

    def __init__(self) -> None:
        self.chunks: dict[tuple[str, int], bytes] = {}
        self.fail_after: int | None = None
        self.calls = 0
        self.gone: set[str] = set()

    def _count(self) -> None:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise Unavailable("down")

    async def put_chunk(
        self, att_id: str, idx: int, blob: bytes, *, size: int, chunks: int
    ) -> bool:
        self._count()
        new = (att_id, idx) not in self.chunks
        self.chunks[(att_id, idx)] = blob
        return new

    async def attachment_status(self, att_id: str) -> dict[str, Any]:
        idx = sorted(i for a, i in self.chunks if a == att_id)
        return {"id": att_id, "present": [[i, i] for i in idx], "bytes": 0, "msg_id": None}

    async def get_chunk(self, att_id: str, idx: int, max_bytes: int) -> bytes:
        self._count()
        if att_id in self.gone:
            raise NotFound("purged", code="purged")
        return self.chunks[(att_id, idx)]


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append((event, kw))

    warning = info


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "node.db")
    yield s
    await s.close()


def sealed(data: bytes = DATA, name: str = "log.txt") -> tuple[Attachment, list[bytes]]:
    blobs: list[bytes] = []
    att = seal_file(
        io.BytesIO(data),
        lambda _i, b: blobs.append(b),
        name=name,
        media_type="text/plain",
        chunk_size=CHUNK,
    )
    return att, blobs


def message(*atts: Attachment, msg_id: str = "ab" * 16, sender: str = "FR") -> Message:
    return Message(
        msg_id=msg_id,
        conversation_id=msg_id,
        in_reply_to=None,
        kind="ping",
        sender=sender,
        recipient="DE",
        created_at=format_time(T0),
        priority="routine",
        language="en",
        body={},
        attachments=atts,
    )


async def store_incoming(store: Store, msg: Message) -> None:
    row = message_row(
        direction="in",
        counterpart=msg.sender,
        envelope_bytes=b"{}",
        envelope_sha256="0" * 64,
        message=msg,
        message_bytes=canonical(msg.to_dict()),
        expires_at=format_time(T0),
        state=InboxState.NEW,
        now=format_time(T0),
    )
    await store.add_message(row)
    await store.add_attachments(attachment_rows(msg, "in", format_time(T0)))


def test_attachment_states_table() -> None:
    legal = {("pending", "pending"), ("pending", "complete"), ("pending", "rejected")}
    for a, b in product(AttachmentState, AttachmentState):
        if (a.value, b.value) in legal:
            assert ATTACHMENT.step(a, b) == b
        else:
            with pytest.raises(IllegalTransition):
                ATTACHMENT.step(a, b)


def test_seal_files_writes_a_private_spool(tmp_path: Path) -> None:
    src = tmp_path / "report.pdf"
    src.write_bytes(DATA)
    dirs = AttachmentDirs(tmp_path / "att")
    (att,) = seal_files([src], dirs, chunk_size=CHUNK)
    spool = dirs.sealed_out(att.id)
    assert spool.stat().st_mode & 0o777 == 0o600 and spool.stat().st_size == att.ciphertext_size
    assert att.name == "report.pdf" and att.media_type == "application/pdf"
    assert media_type_of(Path("x.unknownext")) == "application/octet-stream"
    assert not list((dirs.root / "out").glob(".sealing-*"))
    with pytest.raises(InvalidFile):
        seal_files([tmp_path / "missing"], dirs)
    with pytest.raises(InvalidFile):
        seal_files([src], dirs, chunk_size=CHUNK, max_size=10)


async def test_an_interrupted_upload_resumes_with_the_missing_chunks_only(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(DATA)
    dirs = AttachmentDirs(tmp_path / "att")
    (att,) = seal_files([src], dirs, chunk_size=CHUNK)
    relay, log = Relay(), Log()
    up = Uploader(relay, store, dirs, log)  # type: ignore[arg-type]
    relay.fail_after = 2
    with pytest.raises(Unavailable):
        await up.upload(message(att), T0)
    assert len(relay.chunks) == 2
    relay.fail_after, relay.calls = None, 0
    await up.upload(message(att), T0)
    assert relay.calls == att.chunks - 2  # only what was missing
    spool = dirs.sealed_out(att.id).read_bytes()
    assert b"".join(relay.chunks[(att.id, i)] for i in range(att.chunks)) == spool
    relay.calls = 0
    await up.upload(message(att), T0)  # everything there: nothing sent
    assert relay.calls == 0
    dirs.sealed_out(att.id).unlink()
    with pytest.raises(InvalidFile):
        await up.upload(message(sealed()[0]), T0)


class _Keys:
    """The part of a keystore the downloader uses: the party and its signing key."""

    party = "DE"
    signing_key = SigningKey(bytes(range(32)))


def _downloader(store: Store, relay: Relay, tmp_path: Path) -> tuple[Downloader, Log]:
    log = Log()
    dirs = AttachmentDirs(tmp_path / "att")
    return Downloader(relay, store, _Keys(), dirs, log), log  # type: ignore[arg-type]


async def test_an_interrupted_download_resumes_and_the_file_is_verified(
    store: Store, tmp_path: Path
) -> None:
    att, blobs = sealed()
    relay = Relay()
    relay.chunks = {(att.id, i): b for i, b in enumerate(blobs)}
    await store_incoming(store, message(att))
    down, log = _downloader(store, relay, tmp_path)
    relay.fail_after = 3
    with pytest.raises(Unavailable):
        await down.run_once(T0)
    spool = down.dirs.sealed_in(att.id)
    assert spool.stat().st_size == blob_offset(CHUNK, 3)
    with open(spool, "ab") as f:  # a chunk cut short by a kill
        f.write(blobs[3][:100])
    relay.fail_after, relay.calls = None, 0
    assert await down.run_once(T0) == 1
    assert relay.calls == att.chunks - 3
    assert any(e == "attachment.download_started" and kw["have"] == 3 for e, kw in log.lines)
    saved = down.dirs.saved(message(att).msg_id, att.id)
    assert saved.read_bytes() == DATA and saved.stat().st_mode & 0o777 == 0o600
    assert not spool.exists()
    (rec,) = await store.attachments_of(message(att).msg_id)
    assert rec.state == "complete"
    assert await store.pending_receipts("") == []


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("flip", "attachment_chunk"),
        ("swap", "attachment_chunk"),
        ("foreign", "attachment_chunk"),
        ("short", "attachment_chunk_size"),
        ("purged", "attachment_missing"),
    ],
)
async def test_every_chunk_attack_rejects_the_request(
    store: Store, tmp_path: Path, attack: str, reason: str
) -> None:
    att, blobs = sealed()
    _other, other_blobs = sealed()
    if attack == "flip":
        blobs[2] = blobs[2][:50] + bytes([blobs[2][50] ^ 1]) + blobs[2][51:]
    elif attack == "swap":
        blobs[1], blobs[2] = blobs[2], blobs[1]
    elif attack == "foreign":
        blobs[3] = other_blobs[3]
    elif attack == "short":
        blobs[4] = blobs[4][:-1]
    relay = Relay()
    relay.chunks = {(att.id, i): b for i, b in enumerate(blobs)}
    if attack == "purged":
        relay.gone.add(att.id)
    await store_incoming(store, message(att))
    down, log = _downloader(store, relay, tmp_path)
    assert await down.run_once(T0) == 1
    (rec,) = await store.attachments_of(message(att).msg_id)
    assert rec.state == "rejected" and rec.reason == reason
    (pending,) = await store.pending_receipts("")
    assert pending.type == "REJECTED" and pending.reason in (
        "attachment_failed",
        "attachment_missing",
    )
    assert not down.dirs.saved(message(att).msg_id, att.id).exists()
    assert not down.dirs.sealed_in(att.id).exists()
    assert (
        "attachment.rejected",
        {"msg_id": rec.msg_id, "att_id": att.id, "sender": "FR", "reason": reason},
    ) in log.lines
    assert await down.run_once(T0) == 0  # refused once, not again
    assert blob_len(att.size, CHUNK, 0) == len(sealed()[1][0])

"""The relay's attachment decisions (relay/core/attachments.py), as tables of named cases."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from keys.envelope import AttachmentRef
from keys.envelope.attachments import chunk_list_digest
from keys.errors import Conflict, PocnetError, TooLarge, ValidationError
from relay.core.attachments import (
    Limits,
    Upload,
    check_complete,
    check_message,
    check_upload,
    present_ranges,
)
from relay.storage.attachments import ChunkInfo

ID = "ab" * 16
LIMITS = Limits(max_file=10_000, max_message=15_000, quota=20_000)
H = hashlib.sha256(b"chunk").digest()
OTHER = hashlib.sha256(b"other").digest()


def up(**kw: Any) -> Upload:
    values: dict[str, Any] = {
        "caller": "FR",
        "att_id": ID,
        "idx": 0,
        "file_size": 3000,
        "file_chunks": 3,
        "body_len": 1065,
        "sha256": H,
    }
    values.update(kw)
    return Upload(**values)


def chunk(
    idx: int, size: int = 1000, sha: bytes = H, sender: str = "FR", msg: str | None = None
) -> ChunkInfo:
    return ChunkInfo(idx, size, sha, sender, msg)


UPLOADS: dict[str, tuple[Upload, list[ChunkInfo], int, Any]] = {
    "first chunk": (up(), [], 0, True),
    "next chunk": (up(idx=1, body_len=1000), [chunk(0)], 1000, True),
    "same chunk again (resumed)": (up(), [chunk(0, 1065)], 1065, False),
    "chunk with other bytes": (up(), [chunk(0, 1065, OTHER)], 1065, ("chunk_differs", Conflict)),
    "another party's id": (
        up(idx=1),
        [chunk(0, sender="DE")],
        0,
        ("attachment_id_taken", Conflict),
    ),
    "file over the per-file limit": (
        up(file_size=10_001),
        [],
        0,
        ("attachment_too_large", TooLarge),
    ),
    "quota passed at the first chunk": (up(), [], 17_001, ("attachment_quota", TooLarge)),
    "quota counts this file's stored chunks once": (
        up(idx=1, body_len=1000),
        [chunk(0)],
        18_000,
        True,
    ),
    "index beyond the count": (up(idx=3), [], 0, ("bad_chunk_index", ValidationError)),
    "count impossible for the size": (
        up(file_size=50, file_chunks=3),
        [],
        0,
        ("bad_chunks", ValidationError),
    ),
    "more bytes than declared": (
        up(idx=2, body_len=1100),
        [chunk(0), chunk(1)],
        2000,
        ("bad_chunks", ValidationError),
    ),
    "file already accepted": (
        up(idx=2, body_len=10),
        [chunk(0, msg="ff" * 16)],
        1000,
        ("attachment_accepted", Conflict),
    ),
}


@pytest.mark.parametrize(
    ("u", "existing", "usage", "expected"), UPLOADS.values(), ids=list(UPLOADS)
)
def test_check_upload(u: Upload, existing: list[ChunkInfo], usage: int, expected: Any) -> None:
    if isinstance(expected, bool):
        assert check_upload(u, existing, usage, LIMITS) is expected
        return
    code, cls = expected
    with pytest.raises(cls) as info:
        check_upload(u, existing, usage, LIMITS)
    assert info.value.code == code


def _ref(chunks: list[ChunkInfo], size: int | None = None) -> AttachmentRef:
    total = sum(c.size for c in chunks) if size is None else size
    return AttachmentRef(ID, total, len(chunks), chunk_list_digest(c.sha256 for c in chunks))


MSG = "0f" * 16
FULL = [chunk(0, 1065), chunk(1, 1017, OTHER), chunk(2, 100)]
COMPLETE: dict[str, tuple[AttachmentRef, list[ChunkInfo], str | None]] = {
    "every chunk, as listed": (_ref(FULL), FULL, None),
    "claimed by this same message (repeat submit)": (
        _ref(FULL),
        [chunk(c.idx, c.size, c.sha256, msg=MSG) for c in FULL],
        None,
    ),
    "a chunk missing": (_ref(FULL), FULL[:1] + FULL[2:], "attachment_incomplete"),
    "the last chunk missing": (_ref(FULL), FULL[:2], "attachment_incomplete"),
    "an extra chunk": (_ref(FULL), [*FULL, chunk(3)], "attachment_incomplete"),
    "another sender's chunks": (
        _ref(FULL),
        [chunk(c.idx, c.size, c.sha256, "DE") for c in FULL],
        "attachment_incomplete",
    ),
    "claimed by another message": (
        _ref(FULL),
        [chunk(c.idx, c.size, c.sha256, msg="aa" * 16) for c in FULL],
        "attachment_accepted",
    ),
    "size differs": (_ref(FULL, 2183), FULL, "attachment_mismatch"),
    "chunks swapped (digest differs)": (
        _ref(FULL),
        [chunk(0, 1065), chunk(1, 1017, H), chunk(2, 100)],
        "attachment_mismatch",
    ),
}


@pytest.mark.parametrize(("ref", "chunks", "code"), COMPLETE.values(), ids=list(COMPLETE))
def test_check_complete(ref: AttachmentRef, chunks: list[ChunkInfo], code: str | None) -> None:
    if code is None:
        check_complete(ref, "FR", MSG, chunks)
        return
    with pytest.raises(PocnetError) as info:
        check_complete(ref, "FR", MSG, chunks)
    assert info.value.code == code


def test_message_limits() -> None:
    ok = AttachmentRef(ID, 7000, 1, "0" * 64)
    check_message([ok, AttachmentRef("cd" * 16, 8000, 1, "0" * 64)], LIMITS)
    for refs in (
        [ok, ok, AttachmentRef("cd" * 16, 2000, 1, "0" * 64)],
        [AttachmentRef(ID, 10_001, 1, "0" * 64)],
    ):
        with pytest.raises(TooLarge) as info:
            check_message(refs, LIMITS)
        assert info.value.http_status == 413 and "MiB" in info.value.message


def test_present_ranges() -> None:
    assert present_ranges([]) == []
    assert present_ranges([0, 1, 2, 5, 7, 8]) == [[0, 2], [5, 5], [7, 8]]

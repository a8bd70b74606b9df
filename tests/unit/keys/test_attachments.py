"""Sealed attachments: known answers, round trips, and every chunk attack refused."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl import bindings as ss

from keys.encoding import b64u_decode, canonical, loads_strict
from keys.envelope import (
    Attachment,
    AttachmentRef,
    Envelope,
    Header,
    StaticSenderKeys,
    open_at,
    outer_signed_bytes,
    seal_at,
)
from keys.envelope.attachments import (
    CHUNK_OVERHEAD,
    DIGEST_DOMAIN,
    STREAM_HEADER_BYTES,
    blob_len,
    chunk_count,
    chunk_list_digest,
    ciphertext_size,
)
from keys.envelope.stream import AD_DOMAIN, ChunkOpener, ChunkSealer, open_chunks, seal_file
from keys.errors import Rejected, TooLarge, ValidationError
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.suites import SUITES
from tests.vectors.gen_attachments import plaintext

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "attachments.json").read_text("utf-8")
)
CHUNK = 1024
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
FR = SigningKey(hashlib.sha256(b"attachments FR").digest())
DE = EncryptionPrivateKey("x25519", hashlib.sha256(b"attachments DE").digest())


def sealed(
    data: bytes, name: str = "file.bin", chunk_size: int = CHUNK
) -> tuple[Attachment, list[bytes]]:
    blobs: list[bytes] = []

    def write(index: int, blob: bytes) -> None:
        assert index == len(blobs)
        blobs.append(blob)

    att = seal_file(
        io.BytesIO(data),
        write,
        name=name,
        media_type="application/octet-stream",
        chunk_size=chunk_size,
    )
    return att, blobs


def opened(att: Attachment, blobs: list[bytes]) -> bytes:
    return b"".join(open_chunks(att, iter(blobs)))


def reason(fn: Callable[[], object]) -> str:
    with pytest.raises(Rejected) as info:
        fn()
    return info.value.reason


# --- known answers --------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["manifest"]["name"])
def test_vector_opens_with_the_primitives_alone(case: dict[str, Any]) -> None:
    """Pull each chunk through libsodium directly, with the documented additional data."""
    m = case["manifest"]
    key = b64u_decode(m["key"])
    blobs = [b64u_decode(b) for b in case["chunks_b64u"]]
    state = ss.crypto_secretstream_xchacha20poly1305_state()
    ss.crypto_secretstream_xchacha20poly1305_init_pull(state, blobs[0][:24], key)
    out, tags = [], []
    for i, blob in enumerate(blobs):
        ad = AD_DOMAIN + bytes.fromhex(m["id"]) + i.to_bytes(8, "big")
        assert ad.hex() == case["chunk_ad_hex"][i]
        assert ad[:27] == b"pocnet-attachment-chunk-v1\x00"
        plain, tag = ss.crypto_secretstream_xchacha20poly1305_pull(
            state, blob[24:] if i == 0 else blob, ad
        )
        out.append(plain)
        tags.append(tag)
    data = b"".join(out)
    assert len(data) == m["size"] and data == plaintext(m["size"])
    assert hashlib.sha256(data).hexdigest() == m["sha256"] == case["plaintext_sha256"]
    assert tags == [0] * (len(blobs) - 1) + [3]  # TAG_MESSAGE ... TAG_FINAL
    hashes = [hashlib.sha256(b).hexdigest() for b in blobs]
    assert hashes == case["chunk_sha256"]
    digest = hashlib.sha256(
        b"pocnet-attachment-chunks-v1\x00" + b"".join(bytes.fromhex(h) for h in hashes)
    )
    assert digest.hexdigest() == m["digest"] == case["ref"]["digest"]
    assert case["ref"] == {
        "id": m["id"],
        "size": sum(map(len, blobs)),
        "chunks": len(blobs),
        "digest": m["digest"],
    }
    assert [len(b) for b in blobs] == [
        min(CHUNK, m["size"] - i * CHUNK) + 17 + (24 if i == 0 else 0) for i in range(len(blobs))
    ]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["manifest"]["name"])
def test_vector_opens_with_the_code_and_reseals_to_the_same_shape(case: dict[str, Any]) -> None:
    att = Attachment.from_dict(case["manifest"])
    blobs = [b64u_decode(b) for b in case["chunks_b64u"]]
    assert opened(att, blobs) == plaintext(att.size)
    assert att.ref().to_dict() == case["ref"]
    assert canonical(att.to_dict()) == canonical(case["manifest"])
    again, again_blobs = sealed(plaintext(att.size), att.name)
    assert [len(b) for b in again_blobs] == [len(b) for b in blobs]
    assert again.sha256 == att.sha256 and again.chunks == att.chunks
    assert again_blobs != blobs  # a fresh stream header and key every time


def test_sizes() -> None:
    assert ss.crypto_secretstream_xchacha20poly1305_HEADERBYTES == STREAM_HEADER_BYTES
    assert ss.crypto_secretstream_xchacha20poly1305_ABYTES == CHUNK_OVERHEAD
    assert DIGEST_DOMAIN == b"pocnet-attachment-chunks-v1\x00"
    assert [chunk_count(n, CHUNK) for n in (0, 1, 1024, 1025, 2048)] == [1, 1, 1, 2, 2]
    assert ciphertext_size(2600, CHUNK) == 2600 + 24 + 3 * 17
    assert [blob_len(2600, CHUNK, i) for i in range(3)] == [1024 + 41, 1041, 552 + 17]
    with pytest.raises(ValueError):
        chunk_list_digest([b"short"])


# --- round trips ----------------------------------------------------------------------

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(data=st.binary(max_size=5 * CHUNK), chunk_size=st.sampled_from([1024, 2048]))
def test_round_trip(data: bytes, chunk_size: int) -> None:
    att, blobs = sealed(data, chunk_size=chunk_size)
    assert opened(att, blobs) == data
    assert att.size == len(data) and att.sha256 == hashlib.sha256(data).hexdigest()
    assert len(blobs) == att.chunks == chunk_count(len(data), chunk_size)
    assert sum(map(len, blobs)) == att.ciphertext_size == att.ref().size
    assert chunk_list_digest(hashlib.sha256(b).digest() for b in blobs) == att.digest
    assert Attachment.from_dict(loads_strict(canonical(att.to_dict()))) == att


class Dribble(io.RawIOBase):
    """A reader that returns at most 7 bytes a call, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1, /) -> bytes:
        return self._data.read(min(size, 7) if size >= 0 else 7)


def test_short_reads_make_the_same_chunks_as_full_reads() -> None:
    data = bytes(range(256)) * 10
    blobs: list[bytes] = []
    att = seal_file(
        Dribble(data), lambda _i, b: blobs.append(b), name="p", media_type="a/b", chunk_size=CHUNK
    )
    assert [len(b) for b in blobs] == [1065, 1041, 512 + 17]
    assert opened(att, blobs) == data


def test_size_limit_refused_before_sealing_more() -> None:
    written: list[int] = []
    with pytest.raises(TooLarge):
        seal_file(
            io.BytesIO(bytes(3 * CHUNK)),
            lambda i, _b: written.append(i),
            name="x",
            media_type="a/b",
            chunk_size=CHUNK,
            max_size=2 * CHUNK - 1,
        )
    assert written == [0]


def test_sealer_refuses_a_chunk_after_the_final_one() -> None:
    sealer = ChunkSealer("ab" * 16, bytes(32))
    sealer.push(b"x", final=True)
    with pytest.raises(ValidationError):
        sealer.push(b"y", final=False)


# --- every chunk attack ---------------------------------------------------------------

DATA = bytes(i % 7 for i in range(3 * CHUNK))  # three full chunks: sizes say nothing


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("at", [0, 23, 24, 30, -1])
def test_a_flipped_byte_anywhere_is_refused(index: int, at: int) -> None:
    att, blobs = sealed(DATA)
    blobs[index] = _flip(blobs[index], at % len(blobs[index]))
    assert reason(lambda: opened(att, blobs)) == "attachment_chunk"


def test_truncated_missing_final_chunk() -> None:
    att, blobs = sealed(DATA)
    assert reason(lambda: opened(att, blobs[:2])) == "attachment_truncated"


def test_truncated_and_relabelled_manifest_has_no_final_tag() -> None:
    """A forged manifest that claims two chunks: the second is not FINAL."""
    att, blobs = sealed(DATA)
    short = Attachment.from_dict({**att.to_dict(), "size": 2 * CHUNK, "chunks": 2})
    assert reason(lambda: opened(short, blobs[:2])) == "attachment_truncated"


def test_final_chunk_early_is_refused() -> None:
    """A forged manifest that claims more chunks than were sealed."""
    att, blobs = sealed(DATA)
    longer = Attachment.from_dict({**att.to_dict(), "size": 4 * CHUNK, "chunks": 4})
    assert reason(lambda: opened(longer, blobs)) == "attachment_final_early"


@pytest.mark.parametrize(("a", "b"), [(0, 1), (1, 2), (0, 2)])
def test_reordered_chunks_are_refused(a: int, b: int) -> None:
    att, blobs = sealed(DATA)
    if 0 in (a, b):  # keep the stream header in front so only the order changed
        blobs[a], blobs[b] = blobs[0][:24] + blobs[b], blobs[a][24:]
    else:
        blobs[a], blobs[b] = blobs[b], blobs[a]
    assert reason(lambda: opened(att, blobs)) in ("attachment_chunk", "attachment_chunk_size")


def test_reordered_equal_size_chunks_fail_on_the_crypto() -> None:
    att, blobs = sealed(DATA)
    blobs[1], blobs[2] = blobs[2], blobs[1]
    assert reason(lambda: opened(att, blobs)) == "attachment_chunk"


def test_chunk_swapped_from_another_file_is_refused() -> None:
    att, blobs = sealed(DATA, "a")
    _other, other_blobs = sealed(DATA, "b")
    blobs[1] = other_blobs[1]
    assert reason(lambda: opened(att, blobs)) == "attachment_chunk"


def test_another_files_chunks_under_the_same_key_and_another_id_are_refused() -> None:
    """The id is in the additional data: same key, another id, nothing opens."""
    sealer = ChunkSealer("cd" * 16, b"k" * 32)
    data = DATA[:CHUNK]
    blob = sealer.push(data, final=True)
    att = Attachment(
        id="ef" * 16,
        name="x",
        media_type="a/b",
        size=CHUNK,
        sha256=hashlib.sha256(data).hexdigest(),
        key=b"k" * 32,
        chunk_size=CHUNK,
        chunks=1,
        digest=chunk_list_digest([hashlib.sha256(blob).digest()]),
    )
    assert reason(lambda: opened(att, [blob])) == "attachment_chunk"


def test_extra_chunk_is_refused() -> None:
    att, blobs = sealed(DATA)
    assert reason(lambda: opened(att, [*blobs, blobs[-1]])) == "attachment_extra"
    opener = ChunkOpener(att)
    assert reason(lambda: opener.pull(1, blobs[1])) == "attachment_order"


def test_wrong_key_is_refused() -> None:
    att, blobs = sealed(DATA)
    wrong = Attachment.from_dict({**att.to_dict(), "key": "A" * 43})
    assert reason(lambda: opened(wrong, blobs)) == "attachment_chunk"


def test_wrong_digest_or_sha256_in_the_manifest_is_refused() -> None:
    att, blobs = sealed(DATA)
    bad_digest = Attachment.from_dict({**att.to_dict(), "digest": "0" * 64})
    assert reason(lambda: opened(bad_digest, blobs)) == "attachment_digest"
    bad_sha = Attachment.from_dict({**att.to_dict(), "sha256": "0" * 64})
    assert reason(lambda: opened(bad_sha, blobs)) == "attachment_sha256"


def test_a_chunk_of_the_wrong_length_is_refused_before_decrypting() -> None:
    att, blobs = sealed(DATA)
    blobs[1] = blobs[1] + b"\x00"
    assert reason(lambda: opened(att, blobs)) == "attachment_chunk_size"


def test_repr_shows_no_name_and_no_key() -> None:
    att, _ = sealed(b"x", "secret-suspect-list.pdf")
    assert "secret" not in repr(att) and att.key.hex() not in repr(att)


# --- the envelope lists the references the relay may check -----------------------------


def _seal(*atts: Attachment) -> Any:
    return seal_at(
        NOW,
        signing_key=FR,
        recipient_key=DE.public,
        sender="FR",
        recipient="DE",
        kind="ping",
        body={},
        attachments=atts,
    )


def _open(data: bytes) -> Any:
    return open_at(
        NOW,
        data,
        me="DE",
        sender_keys=StaticSenderKeys({"FR": FR.public}),
        decryption_keys={DE.public.key_id: DE},
    )


def test_header_lists_opaque_references_only() -> None:
    att, _ = sealed(DATA, "suspect-names.txt")
    env = _seal(att).envelope
    header = loads_strict(env.header_bytes)
    assert header["attachments"] == [att.ref().to_dict()]
    assert set(header["attachments"][0]) == {"id", "size", "chunks", "digest"}
    for secret in (b"suspect", att.key.hex().encode(), att.sha256.encode()):
        assert secret not in env.header_bytes
    assert _open(env.to_bytes()).attachments == (att,)
    assert "attachments" not in loads_strict(_seal().envelope.header_bytes)


def test_a_header_whose_references_differ_from_the_signed_manifest_is_refused() -> None:
    att, _ = sealed(DATA)
    other, _ = sealed(DATA)
    good = _seal(att)
    header = Header.from_dict(
        {**loads_strict(good.envelope.header_bytes), "attachments": [other.ref().to_dict()]}
    )
    hb = canonical(header.to_dict())
    # Re-encrypt the same signed plaintext under the changed header, as a sender could.
    pt = SUITES["x25519"].decrypt(good.envelope.ciphertext, DE.secret, good.envelope.header_bytes)
    ct = SUITES["x25519"].encrypt(pt, DE.public.raw, hb)
    env = Envelope(header, hb, ct, FR.sign(outer_signed_bytes(hb, ct)))
    assert reason(lambda: _open(env.to_bytes())) == "attachments_mismatch"


@pytest.mark.parametrize(
    "refs",
    [
        [],
        [{"id": "ab" * 16, "size": 41, "chunks": 1}],
        [{"id": "ab" * 16, "size": 40, "chunks": 1, "digest": "0" * 64}],
        [{"id": "ab" * 16, "size": 41, "chunks": 0, "digest": "0" * 64}],
        [{"id": "AB" * 16, "size": 41, "chunks": 1, "digest": "0" * 64}],
        [{"id": "ab" * 16, "size": 41, "chunks": 1, "digest": "0" * 64}] * 2,
        "nope",
    ],
    ids=["empty", "missing", "too-small", "no-chunks", "upper-id", "repeated", "not-a-list"],
)
def test_header_reference_rules(refs: Any) -> None:
    header = loads_strict(_seal().envelope.header_bytes)
    with pytest.raises(ValidationError):
        Header.from_dict({**header, "attachments": refs})


def test_reference_round_trip() -> None:
    ref = AttachmentRef("ab" * 16, 41, 1, "0" * 64)
    assert AttachmentRef.from_dict(ref.to_dict()) == ref

"""Known-answer vectors for sealed attachments (``tests/vectors/attachments.json``).

Called by :mod:`tests.vectors.generate`. The key, the id, the chunk size and the
plaintext are fixed; libsodium draws the secretstream header itself, so the chunks are
verify-only: a committed case is kept as long as it still opens to the same plaintext
under the same manifest, and regenerated otherwise.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import Attachment
from keys.envelope.attachments import chunk_list_digest
from keys.envelope.stream import chunk_ad, open_chunks, seal_file
from keys.errors import Rejected

CHUNK_SIZE = 1024
CASES = (
    ("three chunks, the last one short", "capture.pcap", "application/vnd.tcpdump.pcap", 2600),
    ("two full chunks: the final chunk is full too", "export.csv", "text/csv", 2048),
    ("an empty file: one final chunk of nothing", "empty.txt", "text/plain", 0),
)


def plaintext(size: int) -> bytes:
    """The fixed plaintext of ``size`` bytes: byte i is i mod 251."""
    return bytes(i % 251 for i in range(size))


def _fixed_rand(label: str) -> Callable[[int], bytes]:
    """Gives the 32-byte key, then the 16-byte id, derived from ``label``."""
    seed = hashlib.sha512(f"pocnet test vector: attachment {label}".encode()).digest()
    parts = iter((seed[:32], seed[32:48]))

    def rand(n: int) -> bytes:
        value = next(parts)
        assert len(value) == n
        return value

    return rand


def _seal(name: str, media_type: str, size: int) -> tuple[Attachment, list[bytes]]:
    blobs: list[bytes] = []
    att = seal_file(
        io.BytesIO(plaintext(size)),
        lambda _i, blob: blobs.append(blob),
        name=name,
        media_type=media_type,
        chunk_size=CHUNK_SIZE,
        rand=_fixed_rand(name),
    )
    return att, blobs


def _reusable(old: dict[str, Any] | None, fresh: Attachment) -> list[bytes] | None:
    if old is None:
        return None
    try:
        blobs = [b64u_decode(b) for b in old["chunks_b64u"]]
        manifest = Attachment.from_dict(old["manifest"])
        same = {**manifest.to_dict(), "digest": ""} == {**fresh.to_dict(), "digest": ""}
        if not same or b"".join(open_chunks(manifest, iter(blobs))) != plaintext(fresh.size):
            return None
    except (Rejected, ValueError, KeyError):
        return None
    return blobs


def build_attachments(old: dict[str, Any] | None) -> dict[str, Any]:
    """The attachments.json document."""
    old_cases = {c["manifest"]["name"]: c for c in (old or {}).get("cases", [])}
    cases = []
    for title, name, media_type, size in CASES:
        fresh, blobs = _seal(name, media_type, size)
        kept = _reusable(old_cases.get(name), fresh)
        if kept is not None:
            blobs = kept
        hashes = [hashlib.sha256(b).digest() for b in blobs]
        att = Attachment.from_dict({**fresh.to_dict(), "digest": chunk_list_digest(hashes)})
        cases.append(
            {
                "title": title,
                "plaintext_rule": f"{size} bytes, byte i = i mod 251",
                "plaintext_sha256": hashlib.sha256(plaintext(size)).hexdigest(),
                "manifest": att.to_dict(),
                "ref": att.ref().to_dict(),
                "chunk_ad_hex": [chunk_ad(att.id, i).hex() for i in range(len(blobs))],
                "chunk_sha256": [h.hex() for h in hashes],
                "chunks_b64u": [b64u_encode(b) for b in blobs],
            }
        )
    return {
        "description": "Sealed attachments (docs/protocol.md, Attachments). Deterministic: "
        "the manifest but its digest, the reference's size and chunks, each chunk's "
        "additional data and length. libsodium draws the secretstream header, so the "
        "chunks are verify-only: pulling them in order with the manifest's key and the "
        "given additional data must give the plaintext, the last one tagged FINAL, and "
        "SHA-256 of the domain tag and the chunk hashes must give the digest.",
        "chunk_size": CHUNK_SIZE,
        "cases": cases,
    }

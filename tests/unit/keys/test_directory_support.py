"""Builders shared by the directory tests: fixed keys, parties and signed files.

Keys come from fixed seeds so every run (and every known-answer test) sees the same bytes.
The few tests here check the builders themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from keys.directory import (
    Contact,
    Directory,
    EncryptionKeyEntry,
    Party,
    RelayInfo,
    RootKey,
    RootKeys,
    Signature,
    SignedDirectory,
    SigningKeyEntry,
)
from keys.identities import EncryptionPrivateKey, SigningKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

ADMIN_KEYS = [SigningKey(bytes([0xA0 + i]) * 32) for i in range(10)]
PARTY_SIGNING = {
    pid: SigningKey(bytes([0x10 + i]) * 32) for i, pid in enumerate(("FR", "DE", "US-DOJ"))
}
PARTY_ENC = {
    pid: EncryptionPrivateKey("x25519", bytes([0x40 + i]) * 32)
    for i, pid in enumerate(("FR", "DE", "US-DOJ"))
}
RELAY_KEY = SigningKey(b"\x77" * 32)


def root(keys: Iterable[int], threshold: int) -> RootKeys:
    """Root of admin keys ``keys`` (indexes into ADMIN_KEYS) with ``threshold``."""
    return RootKeys(threshold, tuple(RootKey(f"XX-A{i}", ADMIN_KEYS[i].public) for i in keys))


def contact(tz: str = "Europe/Paris") -> Contact:
    return Contact("+33 1 23 45 67 89", "poc@example.fr", tz, ("en", "fr"))


def party(pid: str, start: datetime = T0, **changes: object) -> Party:
    fields: dict[str, object] = {
        "id": pid,
        "authority": f"Authority of {pid}",
        "contact": contact(),
        "signing_keys": (SigningKeyEntry(PARTY_SIGNING[pid].public, start),),
        "encryption_keys": (EncryptionKeyEntry(PARTY_ENC[pid].public, start),),
    }
    fields.update(changes)
    return Party(**fields)  # type: ignore[arg-type]


def directory(
    version: int = 1,
    *,
    root_keys: RootKeys | None = None,
    expires: datetime = T0 + 365 * DAY,
    parties: tuple[Party, ...] | None = None,
) -> Directory:
    return Directory(
        version=version,
        expires=expires,
        root=root_keys or root([0, 1, 2], 2),
        relay=RelayInfo((SigningKeyEntry(RELAY_KEY.public, T0),)),
        parties=parties if parties is not None else (party("FR"), party("DE")),
    )


def signed(d: Directory, sigs: Iterable[int]) -> SignedDirectory:
    """``d`` signed by admin keys ``sigs`` in that order; a repeated index repeats the entry
    (so duplicates can be tested), a negative index ``-i`` puts a wrong signature under
    admin ``i``'s key id."""
    file = SignedDirectory.unsigned(d)
    entries = []
    for i in sigs:
        key = ADMIN_KEYS[abs(i)]
        sig = key.sign(file.signed_bytes())
        if i < 0:
            sig = key.sign(b"something else")
        entries.append(Signature(key.public.key_id, sig))
    return SignedDirectory(file.payload, tuple(entries))


def test_builders_are_deterministic() -> None:
    assert signed(directory(), [0, 1]).to_bytes() == signed(directory(), [0, 1]).to_bytes()


def test_signed_builder_counts_only_good_signatures() -> None:
    r = root([0, 1, 2], 2)
    assert len(signed(directory(), [0, -1]).valid_signers(r)) == 1
    assert len(signed(directory(), [0, 0, 1]).signatures) == 3

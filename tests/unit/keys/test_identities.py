"""Party ids, Ed25519 and HPKE keys, key ids and fingerprints (keys/identities.py)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import ValidationError
from keys.identities import (
    RELAY_ID,
    EncryptionPrivateKey,
    EncryptionPublicKey,
    SigningKey,
    VerifyKey,
    fingerprint,
    key_id,
    validate_party_id,
)
from keys.suites import DEFAULT_SUITE, SUITES, get_suite


@pytest.mark.parametrize("party", ["FR", "DE", "US-DOJ", "GB-NCA", "XX-12345678", "AB-1"])
def test_valid_party_ids(party: str) -> None:
    assert validate_party_id(party) == party


@pytest.mark.parametrize(
    "party",
    ["fr", "F", "FRA", "FR-", "FR-doj", "FR-123456789", "FR\n", " FR", "FR_X", "", None, 33],
    ids=[
        "lower",
        "short",
        "alpha3",
        "empty-suffix",
        "lower-suffix",
        "long-suffix",
        "newline",
        "space",
        "underscore",
        "empty",
        "none",
        "int",
    ],
)
def test_invalid_party_ids(party: Any) -> None:
    with pytest.raises(ValidationError) as info:
        validate_party_id(party)
    assert info.value.code == "bad_party_id"


def test_relay_id_only_where_allowed() -> None:
    assert validate_party_id(RELAY_ID, allow_relay=True) == "relay"
    with pytest.raises(ValidationError):
        validate_party_id(RELAY_ID)


def test_key_id_and_fingerprint_formulas() -> None:
    public = bytes(range(32))
    digest = hashlib.sha256(b"ed25519\x00" + public).hexdigest()
    assert key_id("ed25519", public) == "ed25519:" + digest[:32]
    fp = hashlib.sha256(b"pocnet-fingerprint-v1\x00" + public).hexdigest().upper()[:32]
    assert fingerprint(public) == " ".join(fp[i : i + 4] for i in range(0, 32, 4))
    assert re.fullmatch(r"([0-9A-F]{4} ){7}[0-9A-F]{4}", fingerprint(public))


def test_key_ids_separate_kinds() -> None:
    public = bytes(32)
    assert key_id("ed25519", public) != key_id("x25519", public)


def test_sign_and_verify() -> None:
    key = SigningKey.generate()
    sig = key.sign(b"data")
    assert len(sig) == 64
    assert key.sign(b"data") == sig  # Ed25519 is deterministic
    assert key.public.verify(sig, b"data")
    assert not key.public.verify(sig, b"datA")
    assert not SigningKey.generate().public.verify(sig, b"data")
    assert not key.public.verify(sig[:-1], b"data")
    assert not key.public.verify(b"", b"data")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=100), st.integers(min_value=0, max_value=63), st.integers(1, 255))
def test_any_flipped_signature_byte_fails(data: bytes, index: int, mask: int) -> None:
    key = SigningKey(bytes(range(32)))
    sig = bytearray(key.sign(data))
    sig[index] ^= mask
    assert not key.public.verify(bytes(sig), data)


def test_signing_key_from_seed_is_stable_and_caches_nothing_visible() -> None:
    a, b = SigningKey(bytes(32)), SigningKey(bytes(32))
    assert a.public == b.public
    a.sign(b"x")  # loads the key object on a only
    assert a == b and hash(a) == hash(b)
    assert a.crypto_key() is a.crypto_key()


def test_reprs_never_show_secrets() -> None:
    seed = bytes(range(32))
    key = SigningKey(seed)
    assert seed.hex() not in repr(key) and str(seed) not in repr(key)
    assert key.public.key_id in repr(key)
    enc = EncryptionPrivateKey("x25519", bytes(range(32)))
    assert enc.secret.hex() not in repr(enc) and str(enc.secret) not in repr(enc)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_key_lengths_are_checked(length: int) -> None:
    with pytest.raises(ValidationError):
        SigningKey(bytes(length))
    with pytest.raises(ValidationError):
        VerifyKey(bytes(length))
    with pytest.raises(ValidationError):
        EncryptionPublicKey("x25519", bytes(length))
    with pytest.raises(ValidationError):
        EncryptionPrivateKey("x25519", bytes(length))


def test_hybrid_key_lengths() -> None:
    with pytest.raises(ValidationError):
        EncryptionPublicKey("mlkem768-x25519", bytes(32))
    with pytest.raises(ValidationError):
        EncryptionPrivateKey("mlkem768-x25519", bytes(32))


def test_unknown_suite() -> None:
    with pytest.raises(ValidationError) as info:
        EncryptionPrivateKey("p256", bytes(32))
    assert info.value.code == "bad_suite"
    with pytest.raises(ValidationError):
        get_suite(None)


def test_verify_key_base64url_round_trip() -> None:
    key = SigningKey.generate().public
    assert VerifyKey.from_b64(key.to_b64()) == key
    with pytest.raises(ValidationError):
        VerifyKey.from_b64(key.to_b64() + "AA")


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_encryption_keys_per_suite(suite: str) -> None:
    spec = SUITES[suite]
    private = EncryptionPrivateKey.generate(suite)
    public = private.public
    assert len(private.secret) == spec.private_key_len
    assert len(public.raw) == spec.public_key_len
    assert public.key_id.startswith(f"{suite}:")
    assert EncryptionPublicKey.from_b64(suite, public.to_b64()) == public
    # Derivation from the stored secret is deterministic.
    assert EncryptionPrivateKey(suite, private.secret).public == public
    # The loaded objects work with cryptography's HPKE directly.
    hs = hpke.Suite(spec.kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    ct = hs.encrypt(b"hello", public.hpke_key(), info=b"i")
    assert len(ct) == 5 + spec.overhead
    assert hs.decrypt(ct, private.hpke_key(), info=b"i") == b"hello"


def test_default_suite_is_the_hybrid() -> None:
    assert DEFAULT_SUITE == "mlkem768-x25519"
    assert EncryptionPrivateKey.generate().suite == DEFAULT_SUITE


def test_hybrid_public_key_is_mlkem_then_x25519() -> None:
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    seed, x = bytes(range(64)), bytes(range(64, 96))
    public = EncryptionPrivateKey("mlkem768-x25519", seed + x).public.raw
    m = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()
    xp = x25519.X25519PrivateKey.from_private_bytes(x).public_key().public_bytes_raw()
    assert public == m + xp


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_suite_decrypt_reasons(suite: str) -> None:
    from keys.errors import Rejected

    spec = SUITES[suite]
    private = EncryptionPrivateKey.generate(suite)
    ct = spec.encrypt(b"payload", private.public.raw, b"info")
    assert spec.decrypt(ct, private.secret, b"info") == b"payload"
    with pytest.raises(Rejected) as info:
        spec.decrypt(ct, private.secret, b"other info")
    assert info.value.reason == "decrypt"
    with pytest.raises(Rejected) as info:
        spec.decrypt(ct[: spec.overhead - 1], private.secret, b"info")
    assert info.value.reason == "truncated"
    with pytest.raises(Rejected) as info:
        spec.decrypt_key(ct[:-1], private.hpke_key(), b"info")
    assert info.value.reason == "decrypt"

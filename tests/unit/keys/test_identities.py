"""Party ids, Ed25519 and HPKE keys, key ids and fingerprints (keys/identities.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.directory import RootKey, RootKeys, SignedDirectory, TrustedDirectory
from keys.encoding import b64u_encode, canonical, pae
from keys.errors import Rejected, ValidationError
from keys.httpsig import AuthRejected, sign_request, verify_request
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
from keys.keystore import TYPE_BUNDLE, verify_bundle
from keys.suites import DEFAULT_SUITE, SUITES, get_suite
from tests.unit.keys.test_directory_support import ADMIN_KEYS, directory, root, signed


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


# --- from the security review of keys/ (findings 1, 15) ----------

DE_ENC = EncryptionPrivateKey("x25519", hashlib.sha256(b"review DE enc").digest())
DE_SIGN = SigningKey(hashlib.sha256(b"review DE").digest())
FR = SigningKey(hashlib.sha256(b"review FR").digest())
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


# --- 1. Ed25519 public keys of small order verify forged signatures -----------------------
#
# OpenSSL's Ed25519 verification (used by `cryptography`) accepts a public key of small
# order. With A = the identity point, R = the identity and S = 0, the verification equation
# [S]B = R + [h]A holds for EVERY message: anyone can "sign" as the holder of such a key.
# A party or the relay that registers one can later deny everything it signed; an
# administrator who registers one lowers the directory threshold for everybody.

IDENTITY = bytes([1]) + bytes(31)
FORGERY = IDENTITY + bytes(32)
SMALL_ORDER = {
    "identity (order 1)": IDENTITY.hex(),
    "order 2": "ec" + "ff" * 30 + "7f",
    "order 4": "00" * 32,
    "order 4, sign bit": "00" * 31 + "80",
    "order 8 (a)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8 (b)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "order 8 (c)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8 (d)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "identity, non-canonical y = p + 1": "ee" + "ff" * 30 + "7f",
}


def test_the_identity_key_accepts_no_universal_forgery() -> None:
    key = VerifyKey(IDENTITY)
    assert not key.verify(FORGERY, b"a request FR never sent")
    assert not key.verify(FORGERY, b"another one")


@pytest.mark.parametrize("raw_hex", SMALL_ORDER.values(), ids=list(SMALL_ORDER))
def test_small_order_and_non_canonical_keys_are_not_keys(raw_hex: str) -> None:
    key = VerifyKey(bytes.fromhex(raw_hex))
    with pytest.raises(ValidationError) as info:
        key.crypto_key()
    assert info.value.code == "bad_key"
    assert not key.verify(FORGERY, b"x")


def test_genuine_keys_still_verify() -> None:
    sig = FR.sign(b"hello")
    assert FR.public.verify(sig, b"hello")
    assert not FR.public.verify(sig, b"hullo")


def test_a_signature_with_s_beyond_the_group_order_is_refused() -> None:
    """Guard for protocol.md section 3.1: S + L is the same signature mathematically, and a
    verifier that took it would let anyone change an envelope's digest without its key."""
    order = 2**252 + 27742317777372353535851937790883648493
    sig = FR.sign(b"hello")
    s_plus_l = (int.from_bytes(sig[32:], "little") + order).to_bytes(32, "little")
    assert not FR.public.verify(sig[:32] + s_plus_l, b"hello")


def _bundle_bytes(signing_raw: bytes, sig: bytes, **changes: Any) -> bytes:
    enc = DE_ENC.public
    statement: dict[str, Any] = {
        "format": "pocnet-bundle",
        "v": 1,
        "party": "FR",
        "created_at": "2025-03-01T09:30:00.000Z",
        "signing_key": {"key": b64u_encode(signing_raw), "key_id": VerifyKey(signing_raw).key_id},
        "encryption_keys": [{"suite": enc.suite, "key": enc.to_b64(), "key_id": enc.key_id}],
    }
    statement.update(changes)
    payload = canonical(statement)
    if not sig:
        sig = FR.sign(pae(TYPE_BUNDLE, payload))
    return canonical({"payload": b64u_encode(payload), "sig": b64u_encode(sig)})


def test_a_bundle_with_a_small_order_signing_key_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        verify_bundle(_bundle_bytes(IDENTITY, FORGERY))
    assert info.value.code == "bad_key"


def test_a_request_signed_for_a_small_order_key_is_refused() -> None:
    headers = sign_request(
        "POST", "https://relay.example/v1/envelopes", b"{}", key=FR, party="FR", now=NOW
    )
    headers["Signature"] = "pocnet=:" + base64.b64encode(FORGERY).decode() + ":"
    with pytest.raises(AuthRejected) as info:
        verify_request(
            "POST",
            "https://relay.example/v1/envelopes",
            headers,
            b"{}",
            lookup={"FR": VerifyKey(IDENTITY)}.get,
            now=NOW,
            window=timedelta(minutes=5),
        )
    assert info.value.reason == "bad_key"


def _weak_root_file() -> dict[str, Any]:
    weak = {"name": "XX-WEAK", "key_id": VerifyKey(IDENTITY).key_id, "key": b64u_encode(IDENTITY)}
    good = RootKey("XX-A0", ADMIN_KEYS[0].public).to_dict()
    return {"format": "pocnet-directory-root", "v": 1, "threshold": 2, "keys": [good, weak]}


def test_a_small_order_administrator_key_cannot_enter_a_root() -> None:
    with pytest.raises(ValidationError):
        RootKeys.from_file(_weak_root_file())
    with pytest.raises(ValidationError):
        RootKey("XX-WEAK", VerifyKey(IDENTITY))


def test_a_stored_directory_whose_root_holds_a_small_order_key_is_refused() -> None:
    # One real administrator signature plus the universal forgery under the weak key: before
    # the fix this met a 2-of-2 threshold that only one person controlled.
    payload_obj = directory(root_keys=root([0], 1)).to_dict()
    payload_obj["root"] = {
        "threshold": 2,
        "keys": sorted(_weak_root_file()["keys"], key=lambda k: k["key_id"]),
    }
    payload = canonical(payload_obj)
    file = SignedDirectory(payload)
    sigs = [
        {
            "keyid": ADMIN_KEYS[0].public.key_id,
            "sig": b64u_encode(
                ADMIN_KEYS[0].sign(pae("application/vnd.pocnet.directory+json;v=1", payload))
            ),
        },
        {"keyid": VerifyKey(IDENTITY).key_id, "sig": b64u_encode(FORGERY)},
    ]
    data = canonical({"payload": b64u_encode(file.payload), "signatures": sigs})
    with pytest.raises(Rejected) as info:
        TrustedDirectory.from_stored(data)
    assert info.value.reason == "directory_malformed"


def test_signed_helper_still_counts_admins() -> None:
    """Guard: the weak-key change must not disturb ordinary threshold counting."""
    r = root([0, 1, 2], 2)
    assert len(signed(directory(), [0, 1]).valid_signers(r)) == 2


# --- 15. Private keys compared their secrets in variable time -----------------------------


def test_private_key_equality_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import keys.identities

    calls: list[tuple[bytes, bytes]] = []
    real = keys.identities.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.identities.hmac, "compare_digest", spy)
    assert SigningKey(FR.seed) == FR
    assert FR != DE_SIGN
    assert EncryptionPrivateKey("x25519", DE_ENC.secret) == DE_ENC
    assert len(calls) == 3
    assert {FR: 1}[SigningKey(FR.seed)] == 1  # still hashable, equal keys hash alike

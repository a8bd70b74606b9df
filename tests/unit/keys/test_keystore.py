"""Keystores, key files and public bundles (keys/keystore.py, keys/host/files.py,
keys/host/passphrase.py)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import b64u_decode, b64u_encode, canonical, loads_strict, pae
from keys.errors import KeystoreError, ValidationError, WrongPassphrase
from keys.host import passphrase
from keys.host.files import keystore_is_encrypted, read_keystore, write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import (
    TYPE_BUNDLE,
    Keystore,
    StoredEncryptionKey,
    make_bundle,
    verify_bundle,
)
from tests.unit.keys.test_identities import _bundle_bytes

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
PASS = b"correct horse battery staple"


def make_keystore(party: str = "FR", suite: str = "x25519") -> Keystore:
    seed = hashlib.sha256(party.encode()).digest()
    return Keystore(
        party,
        SigningKey(seed),
        (StoredEncryptionKey(EncryptionPrivateKey.generate(suite), "2025-03-01T09:30:00.000Z"),),
    )


@cache
def encrypted_sample() -> bytes:
    """One encrypted keystore, derived once (Argon2id takes a tenth of a second)."""
    return make_keystore().to_bytes(PASS)


def same_keys(a: Keystore, b: Keystore) -> bool:
    return (
        a.party == b.party
        and a.signing_key.seed == b.signing_key.seed
        and [(k.key.suite, k.key.secret, k.created_at) for k in a.encryption_keys]
        == [(k.key.suite, k.key.secret, k.created_at) for k in b.encryption_keys]
    )


# --- keystore bytes --------------------------------------------------------------------


@pytest.mark.parametrize("suite", ["x25519", "mlkem768-x25519"])
def test_encrypted_round_trip(suite: str) -> None:
    ks = make_keystore(suite=suite)
    data = ks.to_bytes(PASS)
    doc = json.loads(data)
    assert doc["encrypted"] is True and doc["kdf"]["alg"] == "argon2id"
    assert ks.signing_key.seed.hex() not in data.decode()
    assert b64u_encode(ks.signing_key.seed) not in data.decode()
    assert same_keys(Keystore.from_bytes(data, PASS), ks)


def test_unencrypted_round_trip() -> None:
    ks = make_keystore()
    data = ks.to_bytes(None)
    assert json.loads(data)["encrypted"] is False
    assert same_keys(Keystore.from_bytes(data, None), ks)
    assert same_keys(Keystore.from_bytes(data, b"ignored"), ks)


def test_two_encryptions_differ_but_both_open() -> None:
    ks = make_keystore()
    a, b = ks.to_bytes(PASS), ks.to_bytes(PASS)
    assert a != b  # fresh salt and nonce
    assert same_keys(Keystore.from_bytes(a, PASS), Keystore.from_bytes(b, PASS))


def test_wrong_passphrase() -> None:
    data = make_keystore().to_bytes(PASS)
    with pytest.raises(WrongPassphrase) as info:
        Keystore.from_bytes(data, b"Correct horse battery staple")
    assert info.value.code == "wrong_passphrase"
    assert PASS.decode() not in str(info.value)


def test_encrypted_keystore_without_a_passphrase_is_locked() -> None:
    with pytest.raises(KeystoreError) as info:
        Keystore.from_bytes(make_keystore().to_bytes(PASS), None)
    assert info.value.code == "keystore_locked"


def test_empty_passphrase_and_unknown_profile_are_refused() -> None:
    with pytest.raises(KeystoreError):
        make_keystore().to_bytes(b"")
    with pytest.raises(KeystoreError):
        make_keystore().to_bytes(PASS, kdf="weak")


def test_tampered_box_looks_like_a_wrong_passphrase() -> None:
    doc = json.loads(encrypted_sample())
    box = bytearray(b64u_decode(doc["box"]))
    box[-1] ^= 1
    doc["box"] = b64u_encode(bytes(box))
    with pytest.raises(WrongPassphrase):
        Keystore.from_bytes(canonical(doc), PASS)


@pytest.mark.parametrize(
    "change",
    [
        {"kdf": {"alg": "scrypt", "opslimit": 2, "memlimit": 67108864, "salt": "AAAA"}},
        {"kdf": {"alg": "argon2id", "opslimit": 2, "memlimit": 10, "salt": "A" * 22}},
        {"kdf": {"alg": "argon2id", "opslimit": 10**9, "memlimit": 67108864, "salt": "A" * 22}},
        {"kdf": {"alg": "argon2id", "opslimit": 2, "memlimit": 67108864, "salt": "AAA"}},
        {"kdf": "none"},
        {"box": "not base64!"},
        {"v": 2},
        {"v": True},
        {"format": "other"},
        {"party": "france"},
        {"encrypted": False},
    ],
    ids=[
        "alg",
        "tiny-memlimit",
        "huge-opslimit",
        "short-salt",
        "kdf-string",
        "box",
        "version",
        "version-true",
        "format",
        "party",
        "no-secrets",
    ],
)
def test_damaged_keystores_give_keystore_errors(change: dict[str, Any]) -> None:
    doc = json.loads(encrypted_sample())
    doc.update(change)
    with pytest.raises(KeystoreError):
        Keystore.from_bytes(canonical(doc), PASS)


@pytest.mark.parametrize("data", [b"", b"{}", b"[1]", b"not json", b"x" * 70000])
def test_not_a_keystore(data: bytes) -> None:
    with pytest.raises(KeystoreError):
        Keystore.from_bytes(data, PASS)


def test_repr_hides_secrets() -> None:
    ks = make_keystore()
    text = repr(ks)
    assert "FR" in text
    assert ks.signing_key.seed.hex() not in text
    assert str(ks.signing_key.seed) not in text
    assert str(ks.current_encryption_key.secret) not in text


def test_rotation_keeps_old_keys_and_makes_the_new_one_current() -> None:
    ks = make_keystore()
    new = EncryptionPrivateKey.generate("mlkem768-x25519")
    rotated = ks.with_new_encryption_key(new, NOW + timedelta(days=1))
    assert rotated.current_encryption_key == new
    assert set(rotated.decryption_keys()) == {
        ks.current_encryption_key.public.key_id,
        new.public.key_id,
    }
    assert same_keys(Keystore.from_bytes(rotated.to_bytes(None), None), rotated)


def test_a_party_needs_an_encryption_key_but_the_relay_does_not() -> None:
    with pytest.raises(ValidationError):
        Keystore("FR", SigningKey(bytes(32)))
    relay = Keystore("relay", SigningKey(bytes(32)))
    assert same_keys(Keystore.from_bytes(relay.to_bytes(None), None), relay)


# --- files -----------------------------------------------------------------------------


def test_private_files_are_0600_and_public_files_0644(tmp_path: Path) -> None:
    private, public = tmp_path / "a" / "keystore.json", tmp_path / "a" / "bundle.json"
    write_private(private, b"secret")
    write_public(public, b"public")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_bytes() == b"secret"
    assert sorted(p.name for p in private.parent.iterdir()) == ["bundle.json", "keystore.json"]


def test_write_private_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "k.json", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o600


def test_read_keystore_round_trip(tmp_path: Path) -> None:
    ks = make_keystore()
    path = tmp_path / "keystore.json"
    write_private(path, ks.to_bytes(PASS))
    assert same_keys(read_keystore(path, PASS), ks)
    assert keystore_is_encrypted(path)
    write_private(path, ks.to_bytes(None))
    assert not keystore_is_encrypted(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_read_keystore_refuses_files_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keystore.json"
    write_private(path, make_keystore().to_bytes(None))
    path.chmod(mode)
    with pytest.raises(KeystoreError) as info:
        read_keystore(path, None)
    assert info.value.code == "keystore_mode"
    assert "chmod 600" in str(info.value)


def test_read_keystore_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError) as info:
        read_keystore(tmp_path / "nope.json", None)
    assert "keys generate" in str(info.value)


def test_read_keystore_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    write_private(path, make_keystore().to_bytes(PASS))
    with pytest.raises(WrongPassphrase):
        read_keystore(path, b"wrong")


# --- public bundles --------------------------------------------------------------------


def test_bundle_round_trip() -> None:
    ks = make_keystore(suite="mlkem768-x25519")
    bundle = verify_bundle(make_bundle(ks, NOW))
    assert bundle.party == "FR"
    assert bundle.signing_key == ks.signing_key.public
    assert bundle.current_encryption_key == ks.current_encryption_key.public
    assert bundle.created_at == "2025-03-01T09:30:00.000Z"


def test_bundle_is_deterministic() -> None:
    ks = make_keystore()
    assert make_bundle(ks, NOW) == make_bundle(ks, NOW)


def _resign(statement: dict[str, Any], key: SigningKey) -> bytes:
    payload = canonical(statement)
    sig = key.sign(pae(TYPE_BUNDLE, payload))
    return canonical({"payload": b64u_encode(payload), "sig": b64u_encode(sig)})


def test_bundle_with_a_bad_signature() -> None:
    ks = make_keystore()
    doc = json.loads(make_bundle(ks, NOW))
    doc["sig"] = b64u_encode(bytes(64))
    with pytest.raises(ValidationError) as info:
        verify_bundle(canonical(doc))
    assert info.value.code == "bad_signature"


def test_bundle_signed_by_another_key() -> None:
    ks = make_keystore()
    statement = loads_strict(b64u_decode(json.loads(make_bundle(ks, NOW))["payload"]))
    with pytest.raises(ValidationError):
        verify_bundle(_resign(statement, SigningKey(bytes(32))))


def test_bundle_with_a_swapped_encryption_key() -> None:
    # Someone replaces the encryption key (keeping its key id) and re-signs with their own
    # signing key, also swapped in: the key id no longer matches.
    ks = make_keystore()
    statement = loads_strict(b64u_decode(json.loads(make_bundle(ks, NOW))["payload"]))
    statement["encryption_keys"][0]["key"] = EncryptionPrivateKey.generate("x25519").public.to_b64()
    with pytest.raises(ValidationError) as info:
        verify_bundle(_resign(statement, ks.signing_key))
    assert info.value.code == "bad_bundle"


@pytest.mark.parametrize(
    "data",
    [b"{}", b'{"payload":"e30","sig":"","x":1}', b"[]"],
)
def test_malformed_bundles(data: bytes) -> None:
    with pytest.raises(ValidationError):
        verify_bundle(data)


# --- passphrase sources ----------------------------------------------------------------


def test_passphrase_file_wins_and_only_its_first_line_counts(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_text("from file\nsecond line\n")
    env = {passphrase.ENV_VAR: "from env"}
    assert passphrase.resolve(path, env=env, interactive=False) == b"from file"


def test_passphrase_from_the_environment() -> None:
    env = {passphrase.ENV_VAR: "from env"}
    assert passphrase.resolve(None, env=env, interactive=False) == b"from env"


def test_no_passphrase_means_unencrypted() -> None:
    assert passphrase.resolve(None, no_passphrase=True, env={}) is None


def test_no_source_and_no_terminal() -> None:
    with pytest.raises(KeystoreError) as info:
        passphrase.resolve(None, env={}, interactive=False)
    assert info.value.code == "passphrase_missing"


def test_terminal_prompt_and_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["typed", "typed", "typed", "other"])
    monkeypatch.setattr(passphrase.getpass, "getpass", lambda _prompt: next(answers))
    assert passphrase.resolve(None, env={}, interactive=True, confirm=True) == b"typed"
    with pytest.raises(KeystoreError) as info:
        passphrase.resolve(None, env={}, interactive=True, confirm=True)
    assert info.value.code == "passphrase_mismatch"


def test_empty_or_unreadable_passphrase_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(KeystoreError):
        passphrase.resolve(empty, env={})
    with pytest.raises(KeystoreError):
        passphrase.resolve(tmp_path / "missing", env={})


# --- from the security review of keys/ (findings 7, 11) ----------

DE_ENC = EncryptionPrivateKey("x25519", hashlib.sha256(b"review DE enc").digest())
FR = SigningKey(hashlib.sha256(b"review FR").digest())


# --- 7. A bundle's created_at was not checked ---------------------------------------------


@pytest.mark.parametrize(
    "created_at", [12, None, "yesterday", "2025-03-01T09:30:00Z\n", "\x1b[2J2025", True]
)
def test_a_bundle_needs_a_time_in_created_at(created_at: Any) -> None:
    with pytest.raises(ValidationError) as info:
        verify_bundle(_bundle_bytes(FR.public.raw, b"", created_at=created_at))
    assert info.value.code == "bad_bundle"


def test_a_well_formed_bundle_still_verifies() -> None:
    assert verify_bundle(_bundle_bytes(FR.public.raw, b"")).party == "FR"


# --- 11. Keystore KDF parameters accepted strings, floats and booleans --------------------


@pytest.fixture(scope="module")
def encrypted() -> dict[str, Any]:
    ks = Keystore(
        "FR",
        FR,
        (StoredEncryptionKey(DE_ENC, "2025-03-01T09:30:00.000Z"),),
    )
    return json.loads(ks.to_bytes(PASS))  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", ["opslimit", "memlimit"])
@pytest.mark.parametrize("spell", [str, float, lambda v: [v]], ids=["string", "float", "list"])
def test_kdf_parameters_must_be_integers(encrypted: dict[str, Any], field: str, spell: Any) -> None:
    doc = json.loads(json.dumps(encrypted))
    doc["kdf"][field] = spell(doc["kdf"][field])
    with pytest.raises(KeystoreError) as info:
        Keystore.from_bytes(json.dumps(doc).encode(), PASS)
    assert info.value.code == "keystore_error"


def test_kdf_parameters_as_written_still_open(encrypted: dict[str, Any]) -> None:
    assert Keystore.from_bytes(json.dumps(encrypted).encode(), PASS).party == "FR"

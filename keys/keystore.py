"""Keystores: a party's private keys, encrypted under a passphrase (or, by explicit
choice, not), and the public bundle that goes with them.

Encrypted keystores derive a 32-byte key with Argon2id (PyNaCl ``pwhash.argon2id``) and seal
the secrets with XSalsa20-Poly1305 (PyNaCl ``SecretBox``). The functions here turn keystores
into bytes and back; :mod:`keys.host.files` writes them to disk with mode 0600.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from keys.encoding import (
    b64u_decode,
    b64u_encode,
    canonical,
    format_time,
    loads_strict,
    pae,
    parse_time,
)
from keys.errors import DecodeError, KeystoreError, ValidationError, WrongPassphrase
from keys.identities import (
    RELAY_ID,
    EncryptionPrivateKey,
    EncryptionPublicKey,
    SigningKey,
    VerifyKey,
    validate_party_id,
)

FORMAT = "pocnet-keystore"
BUNDLE_FORMAT = "pocnet-bundle"
TYPE_BUNDLE = "application/vnd.pocnet.bundle+json;v=1"
MAX_KEYSTORE_BYTES = 64 * 1024
KDF_PROFILES: dict[str, tuple[int, int]] = {
    "interactive": (
        nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    ),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "sensitive": (nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE),
}
_MAX_OPS = nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
_MAX_MEM = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE


@dataclass(frozen=True)
class StoredEncryptionKey:
    """An encryption private key and when it was created."""

    key: EncryptionPrivateKey
    created_at: str


@dataclass(frozen=True, repr=False)
class Keystore:
    """A party's private keys. The newest encryption key is the current one."""

    party: str
    signing_key: SigningKey
    encryption_keys: tuple[StoredEncryptionKey, ...] = field(default=())

    def __post_init__(self) -> None:
        validate_party_id(self.party, allow_relay=True)
        if self.party != RELAY_ID and not self.encryption_keys:
            raise ValidationError("a party's keystore needs an encryption key")

    def __repr__(self) -> str:
        return f"Keystore({self.party}, {self.signing_key.public.key_id})"

    @property
    def current_encryption_key(self) -> EncryptionPrivateKey:
        return self.encryption_keys[-1].key

    def decryption_keys(self) -> dict[str, EncryptionPrivateKey]:
        """Every encryption private key by key id (current and older)."""
        return {k.key.public.key_id: k.key for k in self.encryption_keys}

    def with_new_encryption_key(self, key: EncryptionPrivateKey, now: datetime) -> Keystore:
        return Keystore(
            self.party,
            self.signing_key,
            (*self.encryption_keys, StoredEncryptionKey(key, format_time(now))),
        )

    def _secrets(self) -> dict[str, Any]:
        return {
            "signing_key": b64u_encode(self.signing_key.seed),
            "encryption_keys": [
                {
                    "suite": k.key.suite,
                    "secret": b64u_encode(k.key.secret),
                    "created_at": k.created_at,
                }
                for k in self.encryption_keys
            ],
        }

    @classmethod
    def _from_secrets(cls, party: str, secrets: Mapping[str, Any]) -> Keystore:
        try:
            enc = tuple(
                StoredEncryptionKey(
                    EncryptionPrivateKey(item["suite"], b64u_decode(item["secret"])),
                    item["created_at"],
                )
                for item in secrets["encryption_keys"]
            )
            return cls(party, SigningKey(b64u_decode(secrets["signing_key"])), enc)
        except (KeyError, TypeError, ValidationError) as e:
            raise KeystoreError("the keystore's contents are damaged") from e

    def to_bytes(self, passphrase: bytes | None, *, kdf: str = "interactive") -> bytes:
        """Serialise; encrypted under ``passphrase`` unless it is None.

        Raises:
            KeystoreError: empty passphrase or unknown KDF profile.
        """
        doc: dict[str, Any] = {"format": FORMAT, "v": 1, "party": self.party}
        secrets = canonical(self._secrets())
        if passphrase is None:
            doc["encrypted"] = False
            doc["secrets"] = self._secrets()
        else:
            if not passphrase:
                raise KeystoreError("an empty passphrase is not allowed")
            if kdf not in KDF_PROFILES:
                raise KeystoreError(f"unknown KDF profile {kdf!r}")
            ops, mem = KDF_PROFILES[kdf]
            salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
            key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)
            box = nacl.secret.SecretBox(key).encrypt(secrets)
            doc["encrypted"] = True
            doc["kdf"] = {
                "alg": "argon2id",
                "opslimit": ops,
                "memlimit": mem,
                "salt": b64u_encode(salt),
            }
            doc["box"] = b64u_encode(bytes(box))
        return canonical(doc) + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, passphrase: bytes | None) -> Keystore:
        """Parse and, if encrypted, decrypt.

        Raises:
            KeystoreError: not a keystore, or encrypted and no passphrase given.
            WrongPassphrase: the passphrase does not open it.
        """
        try:
            doc = loads_strict(data, max_bytes=MAX_KEYSTORE_BYTES, max_depth=4)
        except (DecodeError, ValidationError) as e:
            raise KeystoreError("this file is not a PoCNet keystore") from e
        if doc.get("format") != FORMAT or type(doc.get("v")) is not int or doc.get("v") != 1:
            raise KeystoreError("this file is not a PoCNet keystore (v1)")
        party = doc.get("party")
        try:
            validate_party_id(party, allow_relay=True)
        except ValidationError as e:
            raise KeystoreError("the keystore names no valid party") from e
        assert isinstance(party, str)
        if doc.get("encrypted") is False:
            secrets = doc.get("secrets")
            if not isinstance(secrets, dict):
                raise KeystoreError("the keystore's contents are damaged")
            return cls._from_secrets(party, secrets)
        if passphrase is None:
            raise KeystoreError(
                "the keystore is encrypted: give a passphrase (terminal prompt, "
                "--passphrase-file FILE or POCNET_PASSPHRASE)",
                code="keystore_locked",
            )
        try:
            kdf = doc["kdf"]
            ops, mem = kdf["opslimit"], kdf["memlimit"]
            if (
                kdf["alg"] != "argon2id"
                or type(ops) is not int
                or type(mem) is not int
                or not (0 < ops <= _MAX_OPS and 0 < mem <= _MAX_MEM)
            ):
                raise KeystoreError("unsupported key derivation parameters")
            salt = b64u_decode(kdf["salt"])
            box = b64u_decode(doc["box"], max_bytes=MAX_KEYSTORE_BYTES)
        except (KeyError, TypeError, ValueError, DecodeError) as e:
            raise KeystoreError("the keystore's header is damaged") from e
        try:
            key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
            raise KeystoreError("unsupported key derivation parameters") from e
        try:
            secrets_bytes = nacl.secret.SecretBox(key).decrypt(box)
        except nacl.exceptions.CryptoError as e:
            raise WrongPassphrase("wrong passphrase for this keystore") from e
        try:
            secrets = loads_strict(secrets_bytes, max_depth=4)
        except ValidationError as e:
            raise KeystoreError("the keystore's contents are damaged") from e
        return cls._from_secrets(party, secrets)


@dataclass(frozen=True)
class PublicBundle:
    """A party's public keys, self-signed (proof that it holds the signing key)."""

    party: str
    signing_key: VerifyKey
    encryption_keys: tuple[EncryptionPublicKey, ...]
    created_at: str

    def statement(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "v": 1,
            "party": self.party,
            "created_at": self.created_at,
            "signing_key": {"key": self.signing_key.to_b64(), "key_id": self.signing_key.key_id},
            "encryption_keys": [
                {"suite": k.suite, "key": k.to_b64(), "key_id": k.key_id}
                for k in self.encryption_keys
            ],
        }

    @property
    def current_encryption_key(self) -> EncryptionPublicKey:
        return self.encryption_keys[-1]


def make_bundle(keystore: Keystore, now: datetime) -> bytes:
    """The signed public bundle of a keystore, as canonical JSON bytes."""
    bundle = PublicBundle(
        keystore.party,
        keystore.signing_key.public,
        tuple(k.key.public for k in keystore.encryption_keys),
        format_time(now),
    )
    payload = canonical(bundle.statement())
    sig = keystore.signing_key.sign(pae(TYPE_BUNDLE, payload))
    return canonical({"payload": b64u_encode(payload), "sig": b64u_encode(sig)}) + b"\n"


def verify_bundle(data: bytes) -> PublicBundle:
    """Verify a bundle's self-signature and key ids; return the bundle.

    Raises:
        ValidationError: malformed (``created_at`` not a time included), a key id that does
            not match its key, a signing key that is not a valid Ed25519 point (``bad_key``),
            or a bad signature.
    """
    doc = loads_strict(data, max_bytes=MAX_KEYSTORE_BYTES, max_depth=2)
    if set(doc) != {"payload", "sig"}:
        raise ValidationError("a bundle has exactly payload and sig", code="bad_bundle")
    payload = b64u_decode(doc["payload"], max_bytes=MAX_KEYSTORE_BYTES)
    sig = b64u_decode(doc["sig"], max_bytes=64)
    st = loads_strict(payload, max_bytes=MAX_KEYSTORE_BYTES, max_depth=4)
    if st.get("format") != BUNDLE_FORMAT or type(st.get("v")) is not int or st.get("v") != 1:
        raise ValidationError("not a PoCNet public bundle (v1)", code="bad_bundle")
    try:
        signing = VerifyKey.from_b64(st["signing_key"]["key"])
        enc = tuple(
            EncryptionPublicKey.from_b64(k["suite"], k["key"]) for k in st["encryption_keys"]
        )
        claimed = [st["signing_key"]["key_id"], *[k["key_id"] for k in st["encryption_keys"]]]
        party = validate_party_id(st["party"], allow_relay=True)
        created = st["created_at"]
    except (KeyError, TypeError) as e:
        raise ValidationError("the bundle is missing a field", code="bad_bundle") from e
    try:
        parse_time(created, "created_at")
    except ValidationError as e:
        raise ValidationError("the bundle's created_at is not a time", code="bad_bundle") from e
    if claimed != [signing.key_id, *[k.key_id for k in enc]]:
        raise ValidationError("a key id does not match its key", code="bad_bundle")
    signing.crypto_key()  # a small-order key would "verify" a forged self-signature
    if not signing.verify(sig, pae(TYPE_BUNDLE, payload)):
        raise ValidationError("the bundle's signature does not verify", code="bad_signature")
    if party != RELAY_ID and not enc:
        raise ValidationError("the bundle has no encryption key", code="bad_bundle")
    return PublicBundle(party, signing, enc, created)

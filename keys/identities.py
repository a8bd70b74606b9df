"""Party ids, signing and encryption key pairs, key ids and spoken fingerprints.

Signing keys are Ed25519. Encryption keys belong to an HPKE suite (see
:mod:`keys.suites`): ``mlkem768-x25519`` (hybrid, the default) keeps its private key as an
ML-KEM-768 seed and an X25519 key; ``x25519`` keeps one X25519 key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import nacl.bindings
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from keys.encoding import b64u_decode, b64u_encode
from keys.errors import InvalidInput, ValidationError
from keys.suites import SUITES, Suite, get_suite

PARTY_RE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,8})?\Z")
RELAY_ID = "relay"


def validate_party_id(value: Any, *, allow_relay: bool = False) -> str:
    """Return ``value`` if it is a party id (``FR``, ``US-DOJ``), else raise.

    Raises:
        ValidationError: not a party id.
    """
    if isinstance(value, str) and (PARTY_RE.match(value) or (allow_relay and value == RELAY_ID)):
        return value
    raise ValidationError(
        f"party id {str(value)[:20]!r} is not an ISO 3166-1 alpha-2 code with an optional "
        "suffix (e.g. FR, US-DOJ)",
        code="bad_party_id",
    )


def normalise_party_id(value: str) -> str:
    """A party id as a person types it (``de``, `` us-doj ``): trimmed, upper-cased, checked.

    Raises:
        InvalidInput: not a party id even so (the fault is the typist's).
    """
    candidate = value.strip().upper() if isinstance(value, str) else value
    try:
        return validate_party_id(candidate)
    except ValidationError as e:
        raise InvalidInput(e.message, code=e.code) from e


def key_id(kind: str, public_bytes: bytes) -> str:
    """A short stable id for a public key: ``kind`` and 128 bits of SHA-256, hex."""
    digest = hashlib.sha256(kind.encode("ascii") + b"\x00" + public_bytes).hexdigest()
    return f"{kind}:{digest[:32]}"


def fingerprint(public_bytes: bytes) -> str:
    """A fingerprint two officers can read to each other over the phone.

    Eight groups of four upper-case hex digits (128 bits of SHA-256).
    """
    digest = hashlib.sha256(b"pocnet-fingerprint-v1\x00" + public_bytes).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key.

    The loaded ``cryptography`` key object is built on first use and kept with the
    instance, so verifying many signatures with one key does not reload it each time.

    Only canonical encodings of points in the prime-order subgroup are keys (libsodium's
    ``crypto_core_ed25519_is_valid_point``). OpenSSL's verification accepts a public key of
    small order, for which anyone can make a "signature" of any message (with the identity
    point, ``R`` = identity and ``S`` = 0 verify everything); such bytes are refused here:
    :meth:`verify` is False and :meth:`crypto_key` raises. An honestly generated key is
    never refused.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValidationError("an Ed25519 public key is 32 bytes", code="bad_key")

    @property
    def key_id(self) -> str:
        return key_id("ed25519", self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def to_b64(self) -> str:
        return b64u_encode(self.raw)

    @classmethod
    def from_b64(cls, text: str) -> VerifyKey:
        return cls(b64u_decode(text, max_bytes=32))

    @cached_property
    def _loaded(self) -> ed25519.Ed25519PublicKey | None:
        if not nacl.bindings.crypto_core_ed25519_is_valid_point(self.raw):
            return None  # small order, not canonical, or not on the curve
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        except ValueError:
            return None

    def crypto_key(self) -> ed25519.Ed25519PublicKey:
        """The key as a ``cryptography`` object (loaded once per instance).

        Raises:
            ValidationError: the bytes are not an Ed25519 public key (not a canonical point
                of the prime-order subgroup; code ``bad_key``).
        """
        if self._loaded is None:
            raise ValidationError("not an Ed25519 public key", code="bad_key")
        return self._loaded

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature of ``data``."""
        if len(signature) != 64 or self._loaded is None:
            return False
        try:
            self._loaded.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, repr=False)
class SigningKey:
    """An Ed25519 private key (32-byte seed). Its repr never shows the seed.

    The loaded ``cryptography`` key object and the public key are derived on first use and
    kept with the instance.
    """

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise ValidationError("an Ed25519 seed is 32 bytes", code="bad_key")

    def __repr__(self) -> str:
        return f"SigningKey({self.public.key_id})"

    def __eq__(self, other: object) -> bool:
        # Constant time: equality must not tell, by its duration, how much of a seed matched.
        if not isinstance(other, SigningKey):
            return NotImplemented
        return hmac.compare_digest(self.seed, other.seed)

    @classmethod
    def generate(cls) -> SigningKey:
        key = ed25519.Ed25519PrivateKey.generate()
        return cls(
            key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        )

    @cached_property
    def _loaded(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(self.seed)

    @cached_property
    def public(self) -> VerifyKey:
        """The matching public key."""
        return VerifyKey(self._loaded.public_key().public_bytes_raw())

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature (64 bytes, deterministic) of ``data``."""
        return self._loaded.sign(data)

    def crypto_key(self) -> ed25519.Ed25519PrivateKey:
        """The key as a ``cryptography`` object (loaded once per instance)."""
        return self._loaded


@dataclass(frozen=True)
class EncryptionPublicKey:
    """A recipient's HPKE public key for one suite."""

    suite: str
    raw: bytes

    def __post_init__(self) -> None:
        s = get_suite(self.suite)
        if len(self.raw) != s.public_key_len:
            raise ValidationError(
                f"a {self.suite} public key is {s.public_key_len} bytes", code="bad_key"
            )

    @property
    def key_id(self) -> str:
        return key_id(self.suite, self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def to_b64(self) -> str:
        return b64u_encode(self.raw)

    @classmethod
    def from_b64(cls, suite: str, text: str) -> EncryptionPublicKey:
        s = get_suite(suite)
        return cls(suite, b64u_decode(text, max_bytes=s.public_key_len))

    @cached_property
    def _loaded(self) -> Any:
        return get_suite(self.suite).load_public(self.raw)

    def hpke_key(self) -> Any:
        """The key as a ``cryptography`` HPKE public key (loaded once per instance)."""
        return self._loaded


@dataclass(frozen=True, repr=False)
class EncryptionPrivateKey:
    """A recipient's HPKE private key: the suite and its secret parts, concatenated."""

    suite: str
    secret: bytes

    def __post_init__(self) -> None:
        s = get_suite(self.suite)
        if len(self.secret) != s.private_key_len:
            raise ValidationError(
                f"a {self.suite} private key is {s.private_key_len} bytes", code="bad_key"
            )

    def __repr__(self) -> str:
        return f"EncryptionPrivateKey({self.public.key_id})"

    def __eq__(self, other: object) -> bool:
        # Constant time, as for SigningKey.
        if not isinstance(other, EncryptionPrivateKey):
            return NotImplemented
        return self.suite == other.suite and hmac.compare_digest(self.secret, other.secret)

    @classmethod
    def generate(cls, suite: str = "mlkem768-x25519") -> EncryptionPrivateKey:
        return cls(suite, get_suite(suite).generate_secret())

    @cached_property
    def public(self) -> EncryptionPublicKey:
        """The matching public key (derived once per instance)."""
        return EncryptionPublicKey(
            self.suite, get_suite(self.suite).public_from_secret(self.secret)
        )

    @cached_property
    def _loaded(self) -> Any:
        return get_suite(self.suite).load_private(self.secret)

    def hpke_key(self) -> Any:
        """The key as a ``cryptography`` HPKE private key (loaded once per instance)."""
        return self._loaded


__all__ = [
    "PARTY_RE",
    "RELAY_ID",
    "SUITES",
    "EncryptionPrivateKey",
    "EncryptionPublicKey",
    "SigningKey",
    "Suite",
    "VerifyKey",
    "fingerprint",
    "key_id",
    "validate_party_id",
]

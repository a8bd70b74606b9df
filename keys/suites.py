"""HPKE suites (RFC 9180, base mode) from ``cryptography``'s ``hpke`` module.

Both suites use HKDF-SHA256 and ChaCha20-Poly1305; they differ in the KEM:

- ``mlkem768-x25519``: ``KEM.MLKEM768_X25519`` (hybrid post-quantum, the default). The
  private key is kept as the 64-byte ML-KEM-768 seed followed by the 32-byte X25519 key;
  the public key is the 1184-byte ML-KEM-768 key followed by the 32-byte X25519 key.
- ``x25519``: ``KEM.X25519``; 32-byte keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from keys.errors import Rejected, ValidationError

_TAG_LEN = 16


def _x_pub(secret: bytes) -> bytes:
    return x25519.X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def _x_gen() -> bytes:
    return x25519.X25519PrivateKey.generate().private_bytes_raw()


def _hy_gen() -> bytes:
    return mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + _x_gen()


def _hy_pub(secret: bytes) -> bytes:
    m = mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:64])
    return m.public_key().public_bytes_raw() + _x_pub(secret[64:])


def _hy_load_priv(secret: bytes) -> Any:
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:64]),
        x25519.X25519PrivateKey.from_private_bytes(secret[64:]),
    )


def _hy_load_pub(raw: bytes) -> Any:
    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(raw[:1184]),
        x25519.X25519PublicKey.from_public_bytes(raw[1184:]),
    )


@dataclass(frozen=True)
class Suite:
    """One HPKE suite: its wire name, key sizes and ``cryptography`` objects."""

    name: str
    kem: Any
    enc_len: int
    public_key_len: int
    private_key_len: int
    generate_secret: Callable[[], bytes]
    public_from_secret: Callable[[bytes], bytes]
    load_private: Callable[[bytes], Any]
    load_public: Callable[[bytes], Any]

    @property
    def overhead(self) -> int:
        """Ciphertext length minus plaintext length."""
        return self.enc_len + _TAG_LEN

    @cached_property
    def _hpke(self) -> hpke.Suite:
        return hpke.Suite(self.kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

    def _suite(self) -> hpke.Suite:
        return self._hpke

    def encrypt(self, plaintext: bytes, public_raw: bytes, info: bytes) -> bytes:
        """HPKE base-mode single-shot encryption to the public key ``public_raw``."""
        return self.encrypt_key(plaintext, self.load_public(public_raw), info)

    def encrypt_key(self, plaintext: bytes, public_key: Any, info: bytes) -> bytes:
        """As :meth:`encrypt`, to an already loaded ``cryptography`` public key."""
        return self._hpke.encrypt(plaintext, public_key, info=info)

    def decrypt(self, ciphertext: bytes, secret: bytes, info: bytes) -> bytes:
        """Decrypt, or raise :class:`Rejected` (reason ``truncated`` or ``decrypt``)."""
        if len(ciphertext) < self.overhead:
            raise Rejected("truncated")
        return self.decrypt_key(ciphertext, self.load_private(secret), info)

    def decrypt_key(self, ciphertext: bytes, private_key: Any, info: bytes) -> bytes:
        """As :meth:`decrypt`, with an already loaded ``cryptography`` private key.

        Raises:
            Rejected: ``truncated`` (shorter than the suite's overhead) or ``decrypt``.
        """
        if len(ciphertext) < self.overhead:
            raise Rejected("truncated")
        try:
            return self._hpke.decrypt(ciphertext, private_key, info=info)
        except (InvalidTag, ValueError) as e:
            raise Rejected("decrypt") from e


SUITES: dict[str, Suite] = {
    "mlkem768-x25519": Suite(
        name="mlkem768-x25519",
        kem=hpke.KEM.MLKEM768_X25519,
        enc_len=1088 + 32,
        public_key_len=1184 + 32,
        private_key_len=64 + 32,
        generate_secret=_hy_gen,
        public_from_secret=_hy_pub,
        load_private=_hy_load_priv,
        load_public=_hy_load_pub,
    ),
    "x25519": Suite(
        name="x25519",
        kem=hpke.KEM.X25519,
        enc_len=32,
        public_key_len=32,
        private_key_len=32,
        generate_secret=_x_gen,
        public_from_secret=_x_pub,
        load_private=x25519.X25519PrivateKey.from_private_bytes,
        load_public=x25519.X25519PublicKey.from_public_bytes,
    ),
}
DEFAULT_SUITE = "mlkem768-x25519"


def get_suite(name: Any) -> Suite:
    """The suite called ``name``.

    Raises:
        ValidationError: unknown suite.
    """
    suite = SUITES.get(name) if isinstance(name, str) else None
    if suite is None:
        raise ValidationError(f"unknown HPKE suite {str(name)[:30]!r}", code="bad_suite")
    return suite

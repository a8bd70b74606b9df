"""The signed directory file: exact payload bytes and the administrators' signatures.

Wire form (canonical JSON)::

    {"payload": b64u(payload bytes),
     "signatures": [{"keyid": "ed25519:…", "sig": b64u(64 bytes)}, …]}

Each signature is Ed25519 over ``PAE(TYPE_DIRECTORY, payload bytes)``. Administrators
sign on their own machines; their signatures over the same payload combine into one
file. Reading a file checks only its shape: whether it is trusted is decided by
:mod:`keys.directory.trusted`, against root keys the reader already trusts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from keys.directory.document import Directory
from keys.directory.fields import exact_fields, list_of
from keys.directory.limits import DEFAULT_DIRECTORY_LIMITS, DirectoryLimits
from keys.directory.model import RootKeys
from keys.encoding import b64u_decode, b64u_encode, canonical, loads_strict, pae
from keys.errors import ValidationError
from keys.identities import SigningKey

TYPE_DIRECTORY = "application/vnd.pocnet.directory+json;v=1"
_KEYID_RE = re.compile(r"^ed25519:[0-9a-f]{32}\Z")
SIGNATURE_LEN = 64


@dataclass(frozen=True)
class Signature:
    """One administrator's signature: the signing key's id and the 64 signature bytes."""

    keyid: str
    sig: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.keyid, str) or not _KEYID_RE.match(self.keyid):
            raise ValidationError("signature keyid is not an Ed25519 key id", code="bad_key_id")
        if len(self.sig) != SIGNATURE_LEN:
            raise ValidationError("a signature is 64 bytes", code="bad_signature")

    def to_dict(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": b64u_encode(self.sig)}


@dataclass(frozen=True)
class SignatureStatus:
    """How far a file is from its threshold, against one set of root keys.

    Attributes:
        signers: names of root keys whose signature verifies, each counted once.
        threshold: how many are needed.
        missing: names of root keys that have not (validly) signed.
        other: signature entries that count for nothing here (unknown key, bad signature,
            or a repeat of a key already counted).
    """

    signers: tuple[str, ...]
    threshold: int
    missing: tuple[str, ...]
    other: int

    @property
    def met(self) -> bool:
        return len(self.signers) >= self.threshold

    def describe(self) -> str:
        """``UNSIGNED``, ``1 of 2 required signatures`` or ``SIGNED (2 of 2 required)``."""
        have = len(self.signers)
        if have == 0:
            return f"UNSIGNED (0 of {self.threshold} required signatures)"
        if self.met:
            return f"SIGNED ({have} of {self.threshold} required signatures)"
        return f"INCOMPLETE: {have} of {self.threshold} required signatures"


@dataclass(frozen=True)
class SignedDirectory:
    """A directory file: payload bytes and signatures, not yet trusted."""

    payload: bytes
    signatures: tuple[Signature, ...] = ()

    @property
    def payload_sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def signed_bytes(self) -> bytes:
        """What each administrator signs."""
        return pae(TYPE_DIRECTORY, self.payload)

    def to_wire(self) -> dict[str, object]:
        return {
            "payload": b64u_encode(self.payload),
            "signatures": [s.to_dict() for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        """The file's canonical bytes (what the relay serves and a node stores)."""
        return canonical(self.to_wire())

    @classmethod
    def from_bytes(
        cls, data: bytes, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS
    ) -> SignedDirectory:
        """Read a file's shape: strict JSON, base64url, signature entries. No trust implied.

        Raises:
            TooLarge: beyond ``limits.max_bytes``.
            DecodeError, ValidationError: not a directory file (code ``too_many_signatures``
                when over ``limits.max_signatures``).
        """
        doc = loads_strict(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
        if set(doc) != {"payload", "signatures"}:
            raise ValidationError(
                "not a PoCNet directory file (it holds exactly payload and signatures)",
                code="not_directory_file",
            )
        payload = b64u_decode(doc["payload"], max_bytes=limits.max_bytes)
        raw = doc["signatures"]
        if isinstance(raw, list) and len(raw) > limits.max_signatures:
            raise ValidationError(
                f"more than {limits.max_signatures} signatures", code="too_many_signatures"
            )
        entries = list_of(raw, "signatures", limits.max_signatures, allow_empty=True)
        sigs = []
        for item in entries:
            item = exact_fields(item, ("keyid", "sig"), "signature")
            sigs.append(Signature(item["keyid"], b64u_decode(item["sig"], max_bytes=64)))
        return cls(payload, tuple(sigs))

    @classmethod
    def unsigned(cls, directory: Directory) -> SignedDirectory:
        """A file for ``directory`` with no signature yet."""
        return cls(directory.to_payload(), ())

    def unverified_directory(self, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> Directory:
        """Parse the payload WITHOUT checking signatures: for the secretariat's own editing
        and display tools, never for trust decisions.

        Raises:
            DecodeError, ValidationError: not a valid payload.
        """
        return Directory.from_payload(self.payload, limits)

    def with_signature(self, key: SigningKey) -> SignedDirectory:
        """This file with ``key``'s signature added (replacing an earlier one by that key)."""
        keyid = key.public.key_id
        sig = Signature(keyid, key.sign(self.signed_bytes()))
        kept = tuple(s for s in self.signatures if s.keyid != keyid)
        return SignedDirectory(self.payload, (*kept, sig))

    def combine(self, other: SignedDirectory) -> SignedDirectory:
        """Both files' signatures over the same payload; exact repeats are kept once.

        Raises:
            ValidationError: the payloads differ (code ``payload_mismatch``).
        """
        if other.payload != self.payload:
            raise ValidationError(
                "the files sign different contents (payload sha256 "
                f"{self.payload_sha256[:16]}… vs {other.payload_sha256[:16]}…): combine only "
                "signatures over the same version",
                code="payload_mismatch",
            )
        merged = list(self.signatures)
        merged += [s for s in other.signatures if s not in merged]
        return SignedDirectory(self.payload, tuple(merged))

    def valid_signers(self, root: RootKeys) -> frozenset[str]:
        """Key ids of ``root`` with a valid signature here; a key counts once however many
        entries name it; entries by other keys are ignored."""
        data = self.signed_bytes()
        found: set[str] = set()
        for s in self.signatures:
            if s.keyid in found:
                continue
            rk = root.key(s.keyid)
            if rk is not None and rk.key.verify(s.sig, data):
                found.add(s.keyid)
        return frozenset(found)

    def status(self, root: RootKeys) -> SignatureStatus:
        """Who signed, who has not, and whether ``root``'s threshold is met."""
        valid = self.valid_signers(root)
        names = sorted(root.keys, key=lambda k: k.name)
        return SignatureStatus(
            signers=tuple(k.name for k in names if k.key_id in valid),
            threshold=root.threshold,
            missing=tuple(k.name for k in names if k.key_id not in valid),
            other=len(self.signatures) - len(valid),
        )


def sign_directory(directory: Directory, keys: Iterable[SigningKey]) -> SignedDirectory:
    """A file for ``directory`` signed by each of ``keys`` (tests, single-machine set-ups)."""
    signed = SignedDirectory.unsigned(directory)
    for key in keys:
        signed = signed.with_signature(key)
    return signed

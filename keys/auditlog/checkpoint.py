"""Signed checkpoints of the audit log: a C2SP tlog-checkpoint body in a C2SP signed note.

A checkpoint says "the log named *origin* has *size* leaves, its RFC 9162 root is *root*,
signed at *time*". Its text (c2sp.org/tlog-checkpoint) is exactly four lines::

    pocnet.relay/<network>
    <tree size, decimal, no leading zeros>
    <root hash, standard base64 with padding>
    time <RFC 3339 UTC with milliseconds, as keys.encoding.format_time writes it>

and the note (c2sp.org/signed-note) is that text, a blank line, and one or more signature
lines ``— <key name> base64(key id (4 bytes) || Ed25519 signature)``. The relay signs with
its Ed25519 key under the key name equal to the origin; the key id is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. The signature covers the note text
exactly (the signed-note format, not PAE: see docs/adr/0003-audit-log.md). Other
signatures (e.g. witnesses' cosignatures) are ignored, as the format requires.

Verification checks the signature over the exact text before reading anything in it, then
parses the text strictly and returns a frozen :class:`Checkpoint`. Every failure raises
:class:`keys.errors.Rejected` whose ``reason`` says why (for the operator's log).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from keys.auditlog.merkle import HASH_SIZE, MAX_TREE_SIZE
from keys.encoding import format_time, parse_time
from keys.errors import DecodeError, Rejected, ValidationError
from keys.identities import SigningKey, VerifyKey

SIG_TYPE_ED25519 = b"\x01"
ORIGIN_PREFIX = "pocnet.relay/"
SIGNATURE_LINE_PREFIX = "\u2014 "  # em dash, space
_NAME_RE = re.compile(r"^[\x21-\x2a\x2c-\x7e]{1,255}$")  # printable ASCII, no space, no '+'
_NETWORK_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$")
_FOREIGN_NAME_RE = re.compile(r"^[^\s+]{1,1024}$")
_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")
_ROOT_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")
_TIME_PREFIX = "time "


@dataclass(frozen=True)
class NoteLimits:
    """Limits applied when opening a signed note.

    Attributes:
        max_note_bytes: largest note accepted (text and every signature line).
        max_signatures: most signature lines accepted (the format asks for at least 16).
    """

    max_note_bytes: int = 64 * 1024
    max_signatures: int = 32


DEFAULT_NOTE_LIMITS = NoteLimits()


def validate_name(value: object) -> str:
    """Return ``value`` if it is a key name or origin PoCNet writes, else raise.

    Raises:
        ValidationError: empty, longer than 255 characters, or not printable ASCII without
            spaces and ``+``.
    """
    if isinstance(value, str) and _NAME_RE.match(value):
        return value
    raise ValidationError(
        "a log origin or key name is 1 to 255 printable ASCII characters without spaces or '+'",
        code="bad_origin",
    )


def origin_for(network: str) -> str:
    """The origin of a network's relay log: ``pocnet.relay/<network>``.

    Raises:
        ValidationError: ``network`` is not a lower-case DNS-like label (1 to 64 of
            ``a-z 0-9 . -``, starting and ending with a letter or digit).
    """
    if not isinstance(network, str) or not _NETWORK_RE.match(network):
        raise ValidationError("network name must be 1 to 64 of a-z 0-9 . -", code="bad_origin")
    return ORIGIN_PREFIX + network


def note_key_id(name: str, key: VerifyKey) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key under ``name``."""
    data = name.encode("utf-8") + b"\n" + SIG_TYPE_ED25519 + key.raw
    return hashlib.sha256(data).digest()[:4]


def verifier_key(name: str, key: VerifyKey) -> str:
    """The verifier key string others use to check our notes: ``name+hexid+base64``.

    This is the form Go's ``golang.org/x/mod/sumdb/note`` and transparency-dev witnesses
    read, so an operator can register the relay's log with them.
    """
    validate_name(name)
    blob = base64.b64encode(SIG_TYPE_ED25519 + key.raw).decode("ascii")
    return f"{name}+{note_key_id(name, key).hex()}+{blob}"


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (padding required, canonical trailing bits)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise DecodeError("not standard base64") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise DecodeError("non-canonical base64")
    return raw


def sign_note(text: bytes, key: SigningKey, name: str) -> bytes:
    """A signed note: ``text``, a blank line, and ``key``'s signature line under ``name``.

    Raises:
        ValidationError: ``name`` is not valid, or ``text`` is not non-empty UTF-8 ending in
            a newline without control characters or blank lines.
    """
    validate_name(name)
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError("note text must be UTF-8", code="bad_note") from e
    if (
        not decoded.endswith("\n")
        or decoded.startswith("\n")
        or "\n\n" in decoded
        or any(ch < " " and ch != "\n" for ch in decoded)
    ):
        raise ValidationError("note text is not signable", code="bad_note")
    blob = base64.b64encode(note_key_id(name, key.public) + key.sign(text)).decode("ascii")
    return text + f"\n{SIGNATURE_LINE_PREFIX}{name} {blob}\n".encode()


def _split_note(note: bytes, limits: NoteLimits) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split a note into its text and its (name, key id + signature) pairs, unverified."""
    if len(note) > limits.max_note_bytes:
        raise Rejected("note_too_large")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("note_malformed") from e
    if any(ch < " " and ch != "\n" for ch in decoded):
        raise Rejected("note_malformed")
    cut = note.rfind(b"\n\n")
    if cut < 0 or not note.endswith(b"\n"):
        raise Rejected("note_malformed")
    text, block = note[: cut + 1], note[cut + 2 :].decode("utf-8")
    lines = block.split("\n")[:-1]
    if not lines or len(lines) > limits.max_signatures:
        raise Rejected("note_malformed")
    signatures: list[tuple[str, bytes]] = []
    for line in lines:
        if not line.startswith(SIGNATURE_LINE_PREFIX):
            raise Rejected("note_malformed")
        parts = line[len(SIGNATURE_LINE_PREFIX) :].split(" ")
        if len(parts) != 2 or not _FOREIGN_NAME_RE.match(parts[0]):
            raise Rejected("note_malformed")
        try:
            blob = _b64decode(parts[1])
        except DecodeError as e:
            raise Rejected("note_malformed") from e
        if len(blob) < 5:
            raise Rejected("note_malformed")
        signatures.append((parts[0], blob))
    return text, signatures


def open_note(
    note: bytes, key: VerifyKey, name: str, *, limits: NoteLimits = DEFAULT_NOTE_LIMITS
) -> bytes:
    """Verify ``note`` against ``key`` known under ``name``; return its text.

    Signature lines of other keys (another name or key id) are ignored. Every line of the
    known key must verify, and at least one must be present.

    Raises:
        Rejected: ``note_too_large``, ``note_malformed``, ``note_signature`` (a line of the
            known key does not verify) or ``note_unsigned`` (no line of the known key).
    """
    text, signatures = _split_note(note, limits)
    key_id = note_key_id(name, key)
    found = False
    for signer, blob in signatures:
        if signer != name or blob[:4] != key_id:
            continue
        if not key.verify(blob[4:], text):
            raise Rejected("note_signature")
        found = True
    if not found:
        raise Rejected("note_unsigned")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A verified (or about to be signed) tree head: origin, size, root hash, time.

    ``time`` is an aware UTC datetime with millisecond precision, so that it survives the
    text form unchanged.
    """

    origin: str
    size: int
    root_hash: bytes
    time: datetime

    def __post_init__(self) -> None:
        validate_name(self.origin)
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValidationError("checkpoint size out of range", code="bad_checkpoint")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise ValidationError(f"root hash must be {HASH_SIZE} bytes", code="bad_checkpoint")
        if (
            not isinstance(self.time, datetime)
            or self.time.utcoffset() is None
            or parse_time(format_time(self.time)) != self.time
        ):
            raise ValidationError(
                "checkpoint time must be an aware datetime with millisecond precision",
                code="bad_checkpoint",
            )

    @classmethod
    def at(cls, now: datetime, origin: str, size: int, root_hash: bytes) -> Checkpoint:
        """A checkpoint stamped ``now`` (truncated to the millisecond).

        Raises:
            ValidationError: a field is invalid.
        """
        return cls(origin, size, root_hash, parse_time(format_time(now)))

    def body(self) -> bytes:
        """The checkpoint's note text (what the signature covers)."""
        root_b64 = base64.b64encode(self.root_hash).decode("ascii")
        lines = [self.origin, str(self.size), root_b64, _TIME_PREFIX + format_time(self.time)]
        return ("\n".join(lines) + "\n").encode("ascii")

    @classmethod
    def from_body(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint text strictly. Call only on verified text.

        Raises:
            ValidationError: not exactly the four lines :meth:`body` writes.
        """
        try:
            lines = text.decode("ascii").split("\n")
        except UnicodeDecodeError as e:
            raise DecodeError("checkpoint text is not ASCII", code="bad_checkpoint") from e
        if len(lines) != 5 or lines[4] != "":
            raise DecodeError("a checkpoint has exactly four lines", code="bad_checkpoint")
        origin, size, root_b64, time_line = lines[:4]
        if not _SIZE_RE.match(size) or not _ROOT_RE.match(root_b64):
            raise DecodeError("bad checkpoint size or root line", code="bad_checkpoint")
        if not time_line.startswith(_TIME_PREFIX):
            raise DecodeError("bad checkpoint time line", code="bad_checkpoint")
        moment = parse_time(time_line[len(_TIME_PREFIX) :], "checkpoint time")
        if format_time(moment) != time_line[len(_TIME_PREFIX) :]:
            raise DecodeError("checkpoint time is not in canonical form", code="bad_checkpoint")
        checkpoint = cls(origin, int(size), _b64decode(root_b64), moment)
        if checkpoint.body() != text:
            raise DecodeError("checkpoint text is not canonical", code="bad_checkpoint")
        return checkpoint


def sign(checkpoint: Checkpoint, key: SigningKey, *, key_name: str | None = None) -> bytes:
    """The signed note of ``checkpoint`` by ``key`` (key name: the origin by default)."""
    return sign_note(checkpoint.body(), key, key_name or checkpoint.origin)


def verify(
    note: bytes,
    key: VerifyKey,
    origin: str,
    *,
    key_name: str | None = None,
    limits: NoteLimits = DEFAULT_NOTE_LIMITS,
) -> Checkpoint:
    """Verify a signed checkpoint of the log ``origin`` by ``key``, then parse it.

    Raises:
        Rejected: the note's reasons (see :func:`open_note`), ``checkpoint_malformed`` or
            ``checkpoint_origin`` (signed, but for another log).
    """
    text = open_note(note, key, key_name or origin, limits=limits)
    try:
        checkpoint = Checkpoint.from_body(text)
    except ValidationError as e:
        raise Rejected("checkpoint_malformed") from e
    if checkpoint.origin != origin:
        raise Rejected("checkpoint_origin")
    return checkpoint


__all__ = [
    "DEFAULT_NOTE_LIMITS",
    "ORIGIN_PREFIX",
    "Checkpoint",
    "NoteLimits",
    "note_key_id",
    "open_note",
    "origin_for",
    "sign",
    "sign_note",
    "validate_name",
    "verifier_key",
    "verify",
]

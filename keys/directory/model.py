"""The parts of a directory: root keys, key entries with validity windows, status, contact,
party and relay. Each part validates itself on construction and converts to and from its
JSON form; :mod:`keys.directory.document` assembles them.

Validity windows are half-open: a key is valid at ``t`` when ``not_before <= t`` and, if
``not_after`` is set, ``t < not_after``. A status ``suspended`` or ``revoked`` takes effect
at its ``at`` time: a signature made before it still verifies.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys.directory.fields import (
    exact_fields,
    instant,
    list_of,
    read_optional_time,
    read_time,
    text,
    write_optional_time,
)
from keys.directory.limits import DEFAULT_DIRECTORY_LIMITS, DirectoryLimits
from keys.encoding import format_time
from keys.errors import ValidationError
from keys.identities import (
    RELAY_ID,
    EncryptionPublicKey,
    VerifyKey,
    validate_party_id,
)

ROOT_FORMAT = "pocnet-directory-root"
ADMIN_NAME_RE = re.compile(r"^XX-[A-Z0-9]{1,8}\Z")
STATES = ("active", "suspended", "revoked")
_PHONE_RE = re.compile(r"^\+[1-9][0-9 ]{4,30}\Z")
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z"
)
_TZ_RE = re.compile(r"^(UTC|[A-Z][A-Za-z_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){1,2})\Z")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}\Z")


def _key_from(obj: Mapping[str, Any], what: str) -> VerifyKey:
    key = VerifyKey.from_b64(obj["key"])
    if obj["key_id"] != key.key_id:
        raise ValidationError(f"{what}: key_id does not match the key", code="bad_key_id")
    return key


@dataclass(frozen=True)
class RootKey:
    """One administrator's key in the root. ``name`` is a label such as ``XX-ADMIN1``."""

    name: str
    key: VerifyKey

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not ADMIN_NAME_RE.match(self.name):
            raise ValidationError(
                f"administrator name {str(self.name)[:20]!r} must look like XX-ADMIN1 "
                "(XX- and 1 to 8 capital letters or digits)",
                code="bad_admin_name",
            )
        # Checked here, not only when a signature is verified: a key of small order would
        # let anyone sign as this administrator and so lower the threshold for everybody.
        self.key.crypto_key()

    @property
    def key_id(self) -> str:
        return self.key.key_id

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "key_id": self.key.key_id, "key": self.key.to_b64()}

    @classmethod
    def from_dict(cls, obj: Any) -> RootKey:
        obj = exact_fields(obj, ("name", "key_id", "key"), "root key")
        return cls(obj["name"], _key_from(obj, "root key"))


@dataclass(frozen=True)
class RootKeys:
    """The secretariat's administrator keys and how many must sign (m of n).

    Keys are kept sorted by key id, so two roots with the same keys compare equal.
    """

    threshold: int
    keys: tuple[RootKey, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(sorted(self.keys, key=lambda k: k.key_id)))
        if type(self.threshold) is not int or not 1 <= self.threshold <= len(self.keys):
            raise ValidationError(
                f"the threshold must be between 1 and the number of root keys ({len(self.keys)})",
                code="bad_threshold",
            )
        if len({k.key_id for k in self.keys}) != len(self.keys):
            raise ValidationError("a root key is listed twice", code="duplicate_key")
        if len({k.name for k in self.keys}) != len(self.keys):
            raise ValidationError("two root keys have the same name", code="duplicate_name")

    def key(self, key_id: str) -> RootKey | None:
        """The root key with ``key_id``, if any."""
        return next((k for k in self.keys if k.key_id == key_id), None)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(k.key_id for k in self.keys)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "keys": [k.to_dict() for k in self.keys]}

    @classmethod
    def from_dict(cls, obj: Any, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> RootKeys:
        obj = exact_fields(obj, ("threshold", "keys"), "root")
        keys = list_of(obj["keys"], "root keys", limits.max_root_keys)
        return cls(obj["threshold"], tuple(RootKey.from_dict(k) for k in keys))

    def to_file(self) -> dict[str, Any]:
        """The root as a file a node pins (``keys directory export-root``)."""
        return {"format": ROOT_FORMAT, "v": 1, **self.to_dict()}

    @classmethod
    def from_file(cls, obj: Any, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> RootKeys:
        """Read a pinned root file.

        Raises:
            ValidationError: not a root file, or an invalid root.
        """
        if (
            not isinstance(obj, Mapping)
            or obj.get("format") != ROOT_FORMAT
            or type(obj.get("v")) is not int
            or obj.get("v") != 1
        ):
            raise ValidationError(
                "not a PoCNet directory root file (v1): create one with "
                "'keys directory export-root'",
                code="bad_root_file",
            )
        return cls.from_dict({k: v for k, v in obj.items() if k not in ("format", "v")}, limits)


def _check_window(not_before: datetime, not_after: datetime | None, what: str) -> None:
    if not_after is not None and not_after <= not_before:
        raise ValidationError(f"{what}: not_after must be after not_before", code="bad_window")


class _Window:
    """A validity window ``[not_before, not_after)``; ``not_after`` None means open-ended."""

    not_before: datetime
    not_after: datetime | None

    def _normalise_window(self, what: str) -> None:
        object.__setattr__(self, "not_before", instant(self.not_before))
        if self.not_after is not None:
            object.__setattr__(self, "not_after", instant(self.not_after))
        _check_window(self.not_before, self.not_after, what)

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at and (self.not_after is None or at < self.not_after)


@dataclass(frozen=True)
class SigningKeyEntry(_Window):
    """A signing key and the window in which signatures made with it are valid."""

    key: VerifyKey
    not_before: datetime
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        self._normalise_window("signing key")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key.to_b64(),
            "key_id": self.key.key_id,
            "not_before": format_time(self.not_before),
            "not_after": write_optional_time(self.not_after),
        }

    @classmethod
    def from_dict(cls, obj: Any) -> SigningKeyEntry:
        obj = exact_fields(obj, ("key", "key_id", "not_before", "not_after"), "signing key")
        return cls(
            _key_from(obj, "signing key"),
            read_time(obj["not_before"], "not_before"),
            read_optional_time(obj["not_after"], "not_after"),
        )


@dataclass(frozen=True)
class EncryptionKeyEntry(_Window):
    """An encryption key and the window in which it may be sealed to or decrypted with."""

    key: EncryptionPublicKey
    not_before: datetime
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        self._normalise_window("encryption key")

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.key.suite,
            "key": self.key.to_b64(),
            "key_id": self.key.key_id,
            "not_before": format_time(self.not_before),
            "not_after": write_optional_time(self.not_after),
        }

    @classmethod
    def from_dict(cls, obj: Any) -> EncryptionKeyEntry:
        obj = exact_fields(
            obj, ("suite", "key", "key_id", "not_before", "not_after"), "encryption key"
        )
        key = EncryptionPublicKey.from_b64(obj["suite"], obj["key"])
        if obj["key_id"] != key.key_id:
            raise ValidationError(
                "encryption key: key_id does not match the key", code="bad_key_id"
            )
        return cls(
            key,
            read_time(obj["not_before"], "not_before"),
            read_optional_time(obj["not_after"], "not_after"),
        )


@dataclass(frozen=True)
class Status:
    """``active``; or ``suspended`` / ``revoked`` from time ``at``, for a ``reason``."""

    state: str = "active"
    at: datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValidationError(f"status must be one of {', '.join(STATES)}", code="bad_status")
        if self.state == "active":
            if self.at is not None or self.reason is not None:
                raise ValidationError("an active status has no time or reason", code="bad_status")
            return
        if self.at is None or self.reason is None:
            raise ValidationError(f"a {self.state} status needs a time and a reason")
        object.__setattr__(self, "at", instant(self.at))
        text(self.reason, "reason", DEFAULT_DIRECTORY_LIMITS.max_text_chars)

    def inactive_at(self, at: datetime) -> bool:
        """True if the party is suspended or revoked at ``at``."""
        return self.at is not None and at >= self.at

    def to_dict(self) -> dict[str, Any]:
        if self.state == "active":
            return {"state": "active"}
        assert self.at is not None
        return {"state": self.state, "at": format_time(self.at), "reason": self.reason}

    @classmethod
    def from_dict(cls, obj: Any) -> Status:
        if isinstance(obj, Mapping) and obj.get("state") == "active":
            exact_fields(obj, ("state",), "status")
            return cls()
        obj = exact_fields(obj, ("state", "at", "reason"), "status")
        return cls(obj["state"], read_time(obj["at"], "status at"), obj["reason"])


@dataclass(frozen=True)
class Contact:
    """A point of contact's 24/7 profile."""

    phone: str
    email: str
    timezone: str
    languages: tuple[str, ...]

    def __post_init__(self) -> None:
        digits = sum(c.isdigit() for c in self.phone) if isinstance(self.phone, str) else 0
        if not isinstance(self.phone, str) or not _PHONE_RE.match(self.phone) or digits > 15:
            raise ValidationError(
                "phone must be an international number: + then 5 to 15 digits, spaces allowed",
                code="bad_phone",
            )
        if (
            not isinstance(self.email, str)
            or len(self.email) > 254
            or not _EMAIL_RE.match(self.email)
        ):
            raise ValidationError("email is not an e-mail address", code="bad_email")
        if not isinstance(self.timezone, str) or not _TZ_RE.match(self.timezone):
            raise ValidationError(
                "timezone must be an IANA time zone name such as Europe/Paris", code="bad_timezone"
            )
        if (
            not isinstance(self.languages, tuple)
            or not 0 < len(self.languages) <= DEFAULT_DIRECTORY_LIMITS.max_languages
            or len(set(self.languages)) != len(self.languages)
            or not all(isinstance(x, str) and _LANG_RE.match(x) for x in self.languages)
        ):
            raise ValidationError(
                "languages must be distinct language tags such as en, fr", code="bad_language"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "phone": self.phone,
            "email": self.email,
            "timezone": self.timezone,
            "languages": list(self.languages),
        }

    @classmethod
    def from_dict(cls, obj: Any) -> Contact:
        obj = exact_fields(obj, ("phone", "email", "timezone", "languages"), "contact")
        langs = list_of(obj["languages"], "languages", DEFAULT_DIRECTORY_LIMITS.max_languages)
        return cls(obj["phone"], obj["email"], obj["timezone"], tuple(langs))


def _check_signing_windows(entries: tuple[SigningKeyEntry, ...], what: str) -> None:
    """Signing key windows follow one another: one key at a time, none open but the last."""
    if not entries:
        raise ValidationError(f"{what} needs a signing key", code="no_signing_key")
    for before, after in itertools.pairwise(entries):
        if before.not_after is None or before.not_after > after.not_before:
            raise ValidationError(
                f"{what}: signing key windows overlap (list them oldest first, each ending "
                "before the next begins)",
                code="bad_window",
            )


def _distinct_ids(ids: list[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise ValidationError(f"{what}: a key is listed twice", code="duplicate_key")


@dataclass(frozen=True)
class Party:
    """A member of the network: its authority, contact profile, keys and status."""

    id: str
    authority: str
    contact: Contact
    signing_keys: tuple[SigningKeyEntry, ...]
    encryption_keys: tuple[EncryptionKeyEntry, ...]
    status: Status = field(default_factory=Status)

    def __post_init__(self) -> None:
        validate_party_id(self.id)
        if ADMIN_NAME_RE.match(self.id) or self.id == "XX":
            raise ValidationError(
                "XX and XX-… are reserved for administrators", code="bad_party_id"
            )
        text(self.authority, "authority", DEFAULT_DIRECTORY_LIMITS.max_text_chars)
        _check_signing_windows(self.signing_keys, f"party {self.id}")
        if not self.encryption_keys:
            raise ValidationError(f"party {self.id} needs an encryption key", code="no_enc_key")
        _distinct_ids([e.key.key_id for e in self.signing_keys], f"party {self.id}")
        _distinct_ids([e.key.key_id for e in self.encryption_keys], f"party {self.id}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "authority": self.authority,
            "contact": self.contact.to_dict(),
            "signing_keys": [e.to_dict() for e in self.signing_keys],
            "encryption_keys": [e.to_dict() for e in self.encryption_keys],
            "status": self.status.to_dict(),
        }

    @classmethod
    def from_dict(cls, obj: Any, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> Party:
        obj = exact_fields(
            obj,
            ("id", "authority", "contact", "signing_keys", "encryption_keys", "status"),
            "party",
        )
        n = limits.max_keys_per_party
        signing = list_of(obj["signing_keys"], "signing_keys", n)
        enc = list_of(obj["encryption_keys"], "encryption_keys", n)
        return cls(
            id=obj["id"],
            authority=text(obj["authority"], "authority", limits.max_text_chars),
            contact=Contact.from_dict(obj["contact"]),
            signing_keys=tuple(SigningKeyEntry.from_dict(e) for e in signing),
            encryption_keys=tuple(EncryptionKeyEntry.from_dict(e) for e in enc),
            status=Status.from_dict(obj["status"]),
        )


@dataclass(frozen=True)
class RelayInfo:
    """The relay's signing keys (receipts and checkpoints), oldest first."""

    signing_keys: tuple[SigningKeyEntry, ...]

    def __post_init__(self) -> None:
        _check_signing_windows(self.signing_keys, RELAY_ID)
        _distinct_ids([e.key.key_id for e in self.signing_keys], RELAY_ID)

    def to_dict(self) -> dict[str, Any]:
        return {"signing_keys": [e.to_dict() for e in self.signing_keys]}

    @classmethod
    def from_dict(cls, obj: Any, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> RelayInfo:
        obj = exact_fields(obj, ("signing_keys",), "relay")
        entries = list_of(obj["signing_keys"], "relay signing_keys", limits.max_keys_per_party)
        return cls(tuple(SigningKeyEntry.from_dict(e) for e in entries))

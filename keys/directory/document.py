"""The directory document and the queries the relay and the node ask of it.

A :class:`Directory` is the payload of a signed directory file: ``version``, ``expires``,
the secretariat's root keys, the relay's keys and the parties. It is built either by the
secretariat's editing tools (:mod:`keys.directory.edit`) or, on the receiving side, only
from payload bytes whose signatures were checked first (:mod:`keys.directory.trusted`).

Payload (canonical JSON, RFC 8785)::

    {"format": "pocnet-directory", "v": 1, "version": 7, "expires": "…Z",
     "root": {"threshold": 2, "keys": [{"name", "key_id", "key"}, …]},
     "relay": {"signing_keys": [{"key", "key_id", "not_before", "not_after"}, …]} | null,
     "parties": [{"id", "authority", "contact", "signing_keys", "encryption_keys",
                  "status"}, …]}

Parties are sorted by id and root keys by key id, so equal directories have equal bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys.directory.fields import exact_fields, instant, list_of, read_time
from keys.directory.limits import DEFAULT_DIRECTORY_LIMITS, DirectoryLimits
from keys.directory.model import Contact, Party, RelayInfo, RootKeys
from keys.encoding import canonical, format_time, loads_strict
from keys.errors import DecodeError, NotFound, Rejected, ValidationError
from keys.identities import EncryptionPublicKey, VerifyKey

FORMAT = "pocnet-directory"
FIELDS = ("format", "v", "version", "expires", "root", "relay", "parties")
MAX_VERSION = 2**53 - 1


@dataclass(frozen=True)
class Directory:
    """A directory's content, validated; the stable query API for relay and node.

    It satisfies :class:`keys.envelope.SenderKeys` through :meth:`verify_key_for`.
    """

    version: int
    expires: datetime
    root: RootKeys
    relay: RelayInfo | None
    parties: tuple[Party, ...]
    _index: dict[str, Party] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.version) is not int or not 1 <= self.version <= MAX_VERSION:
            raise ValidationError("version must be a positive integer", code="bad_version")
        object.__setattr__(self, "expires", instant(self.expires))
        ordered = tuple(sorted(self.parties, key=lambda p: p.id))
        object.__setattr__(self, "parties", ordered)
        index = {p.id: p for p in ordered}
        if len(index) != len(ordered):
            raise ValidationError("a party is listed twice", code="duplicate_party")
        object.__setattr__(self, "_index", index)
        self._check_keys_not_shared()

    def _check_keys_not_shared(self) -> None:
        """No signing key may speak for two holders: a party, the relay or an administrator."""
        owner: dict[str, str] = {k.key_id: f"administrator {k.name}" for k in self.root.keys}
        holders = [(p.id, p.signing_keys) for p in self.parties]
        if self.relay is not None:
            holders.append(("the relay", self.relay.signing_keys))
        for name, entries in holders:
            for entry in entries:
                other = owner.setdefault(entry.key.key_id, name)
                if other != name:
                    raise ValidationError(
                        f"signing key {entry.key.key_id} is listed for both {other} and {name}",
                        code="key_in_use",
                    )
        enc_owner: dict[str, str] = {}
        for p in self.parties:
            for e in p.encryption_keys:
                other = enc_owner.setdefault(e.key.key_id, p.id)
                if other != p.id:
                    raise ValidationError(
                        f"encryption key {e.key.key_id} is listed for both {other} and {p.id}",
                        code="key_in_use",
                    )

    # -- encoding -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "v": 1,
            "version": self.version,
            "expires": format_time(self.expires),
            "root": self.root.to_dict(),
            "relay": None if self.relay is None else self.relay.to_dict(),
            "parties": [p.to_dict() for p in self.parties],
        }

    def to_payload(self) -> bytes:
        """The canonical payload bytes that administrators sign."""
        return canonical(self.to_dict())

    @property
    def payload_sha256(self) -> str:
        """Hex SHA-256 of the payload: names this exact content (audit log, ``show``)."""
        return hashlib.sha256(self.to_payload()).hexdigest()

    @classmethod
    def from_dict(cls, obj: Any, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS) -> Directory:
        """Validate a decoded payload.

        Raises:
            ValidationError: a field is missing, unknown or invalid.
        """
        if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("v") != 1:
            raise ValidationError("not a PoCNet directory payload (v1)", code="bad_format")
        obj = exact_fields(obj, FIELDS, "directory")
        parties = list_of(obj["parties"], "parties", limits.max_parties, allow_empty=True)
        relay = obj["relay"]
        return cls(
            version=obj["version"],
            expires=read_time(obj["expires"], "expires"),
            root=RootKeys.from_dict(obj["root"], limits),
            relay=None if relay is None else RelayInfo.from_dict(relay, limits),
            parties=tuple(Party.from_dict(p, limits) for p in parties),
        )

    @classmethod
    def from_payload(
        cls, payload: bytes, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS
    ) -> Directory:
        """Parse payload bytes. Call it only on bytes whose signatures were checked.

        Raises:
            TooLarge, DecodeError, ValidationError: not a valid, canonical payload.
        """
        obj = loads_strict(payload, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
        directory = cls.from_dict(obj, limits)
        if directory.to_payload() != payload:
            raise DecodeError("the directory payload is not canonical JSON", code="not_canonical")
        return directory

    # -- queries --------------------------------------------------------------------------

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires

    def __contains__(self, party_id: object) -> bool:
        return party_id in self._index

    def __iter__(self) -> Iterator[Party]:
        return iter(self.parties)

    def party(self, party_id: str) -> Party:
        """The party called ``party_id``.

        Raises:
            NotFound: no such party (code ``unknown_party``).
        """
        found = self._index.get(party_id)
        if found is None:
            raise NotFound(f"party {party_id[:20]!r} is not in the directory", code="unknown_party")
        return found

    def contact(self, party_id: str) -> Contact:
        """The party's 24/7 contact profile.

        Raises:
            NotFound: no such party.
        """
        return self.party(party_id).contact

    def is_active(self, party_id: str, at: datetime) -> bool:
        """True if the party is listed and neither suspended nor revoked at ``at``."""
        found = self._index.get(party_id)
        return found is not None and not found.status.inactive_at(at)

    def signing_key_for(self, party_id: str, at: datetime) -> VerifyKey:
        """The party's signing key for a signature made at ``at``.

        A revoked or suspended party's key is invalid from the revocation (or suspension)
        time on, but still valid for signatures made before it.

        Raises:
            Rejected: ``unknown_sender`` (not listed) or ``sender_inactive`` (suspended or
                revoked at ``at``, or no signing key valid at ``at``).
        """
        found = self._index.get(party_id)
        if found is None:
            raise Rejected("unknown_sender")
        if found.status.inactive_at(at):
            raise Rejected("sender_inactive")
        for entry in found.signing_keys:
            if entry.valid_at(at):
                return entry.key
        raise Rejected("sender_inactive")

    def submission_key_for(self, party_id: str, created: datetime, now: datetime) -> VerifyKey:
        """The key an envelope (or receipt) submitted ``now`` must be signed with.

        What the relay asks when a party submits: the key valid at the signed ``created``
        time that is *still* the party's key at ``now``, the party being active at both.
        :meth:`signing_key_for` alone judges only the signer's own claim of when it signed,
        so the holder of a key that has since been revoked, suspended or rotated out could
        backdate ``created_at`` into the key's old window; here that fails, because the
        relay's clock is not the signer's to choose. Evidence made before a revocation keeps
        its value: openers still use :meth:`signing_key_for` at ``created_at``.

        Raises:
            Rejected: ``unknown_sender``; ``sender_inactive`` (suspended or revoked at
                ``created`` or at ``now``, or no key valid then); ``signing_key_retired``
                (the key valid at ``created`` is no longer the party's key at ``now``).
        """
        key = self.signing_key_for(party_id, created)
        if self.signing_key_for(party_id, now) != key:
            raise Rejected("signing_key_retired")
        return key

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        """:class:`keys.envelope.SenderKeys`: the same as :meth:`signing_key_for`."""
        return self.signing_key_for(party, at)

    def encryption_key_for(self, party_id: str, at: datetime) -> EncryptionPublicKey:
        """The key to seal to at ``at``: the newest encryption key valid then.

        Raises:
            Rejected: ``unknown_recipient``, ``recipient_inactive`` (suspended or revoked)
                or ``no_encryption_key`` (none valid at ``at``).
        """
        found = self._index.get(party_id)
        if found is None:
            raise Rejected("unknown_recipient")
        if found.status.inactive_at(at):
            raise Rejected("recipient_inactive")
        valid = [e for e in found.encryption_keys if e.valid_at(at)]
        if not valid:
            raise Rejected("no_encryption_key")
        return max(valid, key=lambda e: e.not_before).key

    def decryption_key_ids_valid(self, party_id: str, at: datetime) -> frozenset[str]:
        """Ids of the party's encryption keys valid at ``at``: the current one and those
        still in their overlap window. A node decrypts only with these.

        Raises:
            NotFound: no such party.
        """
        return frozenset(
            e.key.key_id for e in self.party(party_id).encryption_keys if e.valid_at(at)
        )

    @property
    def relay_key(self) -> VerifyKey:
        """The relay's current signing key (the newest, open-ended one).

        Raises:
            NotFound: the directory lists no relay key yet (code ``no_relay_key``).
        """
        if self.relay is None:
            raise NotFound("the directory lists no relay key", code="no_relay_key")
        return self.relay.signing_keys[-1].key

    def relay_key_for(self, at: datetime) -> VerifyKey:
        """The relay key valid for a receipt or checkpoint made at ``at``.

        Raises:
            Rejected: ``relay_key_unknown`` (no relay key valid at ``at``).
        """
        if self.relay is not None:
            for entry in self.relay.signing_keys:
                if entry.valid_at(at):
                    return entry.key
        raise Rejected("relay_key_unknown")

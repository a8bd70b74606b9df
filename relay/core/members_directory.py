"""The relay's members as the signed directory says: :class:`DirectoryMembers`. No I/O.

It answers the questions of :class:`relay.core.members.Members` from a
:class:`keys.directory.Directory` whose signatures were checked when it was installed
(:mod:`relay.directory.installed`), and serves that directory's file exactly as accepted:

- a request signed at ``at`` is checked with the key whose window holds ``at``; the party
  must be active then (suspended or revoked parties get 403);
- an envelope (or a node receipt) uses :meth:`keys.directory.Directory.submission_key_for`
  with its signed ``created_at`` (``issued_at``) and the relay's ``now``: a key that has
  since been revoked, suspended or rotated out cannot sign a backdated submission;
- an envelope to a recipient that is unknown, suspended or revoked at ``now``, or sealed to
  an encryption key the recipient no longer holds at ``now`` (the overlap window of a
  rotation has passed), is refused.
"""

from __future__ import annotations

from datetime import datetime

from keys.directory import Directory
from keys.errors import ConfigError, Rejected
from keys.identities import VerifyKey


class DirectoryMembers:
    """:class:`relay.core.members.Members` backed by an accepted directory and its file."""

    def __init__(self, directory: Directory, file: bytes) -> None:
        self.directory = directory
        self.file = file

    @property
    def version(self) -> str:
        """The directory's version number, as the audit log records it."""
        return str(self.directory.version)

    def signing_key(self, party: str, at: datetime) -> VerifyKey | None:
        if party not in self.directory:
            return None
        for entry in self.directory.party(party).signing_keys:
            if entry.valid_at(at):
                return entry.key
        return None

    def is_active(self, party: str, at: datetime) -> bool:
        return self.directory.is_active(party, at)

    def submission_key(self, party: str, created: datetime, now: datetime) -> VerifyKey:
        return self.directory.submission_key_for(party, created, now)

    def check_recipient(self, party: str, enc_key_id: str, now: datetime) -> None:
        if party not in self.directory:
            raise Rejected("unknown_recipient")
        if not self.directory.is_active(party, now):
            raise Rejected("recipient_inactive")
        if enc_key_id not in self.directory.decryption_key_ids_valid(party, now):
            raise Rejected("unknown_encryption_key")

    def parties(self) -> list[str]:
        return [p.id for p in self.directory.parties]

    def directory_file(self) -> bytes:
        return self.file

    def check_relay_key(self, key: VerifyKey, now: datetime) -> None:
        """Make sure receipts signed with ``key`` at ``now`` verify against this directory.

        Raises:
            ConfigError: the directory lists no relay key valid at ``now``, or another one
                (code ``relay_key_mismatch``).
        """
        try:
            listed = self.directory.relay_key_for(now)
        except Rejected as e:
            raise ConfigError(
                f"directory version {self.directory.version} lists no relay key valid now: "
                "the secretariat sets it with 'keys directory set-relay --bundle "
                "RELAY-DATA/bundle.json'",
                code="relay_key_mismatch",
            ) from e
        if listed != key:
            raise ConfigError(
                f"directory version {self.directory.version} lists the relay key "
                f"{listed.key_id}, but this relay's keystore holds {key.key_id}: receipts "
                "signed with it would not verify. Install the keystore the directory lists, "
                "or have the secretariat list this relay's bundle.json (keys directory "
                "set-relay)",
                code="relay_key_mismatch",
            )

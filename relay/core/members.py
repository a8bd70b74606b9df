"""Who the relay's members are: ONE interface, :class:`Members`, for the handlers.

Two implementations:

- :class:`relay.core.members_directory.DirectoryMembers`: the signed directory installed with
  ``relay directory install`` (production). Once one is installed it takes precedence;
- :class:`StaticMembers`, read by :func:`relay.directory.folder.load_folder` from members'
  self-signed public bundles in ``DATA/members/<PARTY>.json`` (verified with
  :func:`keys.keystore.verify_bundle`) and a list of suspended parties in
  ``DATA/members/suspended`` (one party id per line):
  development and small tests, with no key windows and no times.

Every question takes the time it is asked about, so the directory's windows and statuses
(suspended or revoked from a time) apply; the folder ignores it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from keys.encoding import canonical, loads_strict
from keys.errors import Rejected
from keys.identities import VerifyKey
from keys.keystore import MAX_KEYSTORE_BYTES, PublicBundle, verify_bundle

MEMBERS_DIR = "members"
SUSPENDED_NAME = "suspended"
DIRECTORY_FORMAT = "pocnet-bundles"


class Members(Protocol):
    """The relay's view of the network's members, asked at a given time."""

    @property
    def version(self) -> str:
        """A string that changes whenever the membership changes (logged in the audit)."""
        ...

    def signing_key(self, party: str, at: datetime) -> VerifyKey | None:
        """The party's signing key for a request signed at ``at``, or None if the party is
        unknown or has no key then. Its status is :meth:`is_active`'s business."""
        ...

    def is_active(self, party: str, at: datetime) -> bool:
        """True if ``party`` is a member that may send and receive at ``at``."""
        ...

    def submission_key(self, party: str, created: datetime, now: datetime) -> VerifyKey:
        """The key an envelope created (or a receipt issued) at ``created`` and submitted
        ``now`` must be signed with: valid at ``created``, still the party's key at ``now``,
        the party active at both.

        Raises:
            Rejected: ``unknown_sender``, ``sender_inactive`` or ``signing_key_retired``.
        """
        ...

    def check_recipient(self, party: str, enc_key_id: str, now: datetime) -> None:
        """Refuse an envelope the recipient may not receive at ``now``.

        Raises:
            Rejected: ``unknown_recipient``, ``recipient_inactive``, or
                ``unknown_encryption_key`` (sealed to a key the recipient no longer holds).
        """
        ...

    def parties(self) -> list[str]:
        """Every member's party id."""
        ...

    def directory_file(self) -> bytes:
        """The body of ``GET /v1/directory`` (JSON)."""
        ...


class StaticMembers:
    """Members from memory: bundles' wire bytes by party, plus the relay's own bundle.

    Raises:
        ValidationError: a bundle does not verify.
    """

    def __init__(
        self,
        wires: Mapping[str, bytes],
        relay_bundle: bytes,
        suspended: frozenset[str] = frozenset(),
    ) -> None:
        self.wires = dict(wires)
        self.relay_bundle = relay_bundle
        self.suspended = suspended
        self._bundles = {party: verify_bundle(data) for party, data in self.wires.items()}
        doc = {p: hashlib.sha256(b).hexdigest() for p, b in sorted(self.wires.items())}
        doc["suspended"] = ",".join(sorted(self.suspended))
        self._version = hashlib.sha256(canonical(doc)).hexdigest()

    @property
    def version(self) -> str:
        return self._version

    def signing_key(self, party: str, at: datetime | None = None) -> VerifyKey | None:
        bundle = self._bundles.get(party)
        return bundle.signing_key if bundle else None

    def is_active(self, party: str, at: datetime | None = None) -> bool:
        return party in self._bundles and party not in self.suspended

    def submission_key(self, party: str, created: datetime, now: datetime) -> VerifyKey:
        bundle = self._bundles.get(party)
        if bundle is None:
            raise Rejected("unknown_sender")
        if party in self.suspended:
            raise Rejected("sender_inactive")
        return bundle.signing_key

    def check_recipient(self, party: str, enc_key_id: str, now: datetime) -> None:
        # A bundle has no key windows: the encryption key is the recipient node's to judge.
        if party not in self._bundles:
            raise Rejected("unknown_recipient")
        if party in self.suspended:
            raise Rejected("recipient_inactive")

    def bundle(self, party: str) -> PublicBundle | None:
        return self._bundles.get(party)

    def parties(self) -> list[str]:
        return sorted(self._bundles)

    def directory(self) -> dict[str, Any]:
        wires = [self.wires[p] for p in sorted(self.wires)] + [self.relay_bundle]
        return {
            "format": DIRECTORY_FORMAT,
            "bundles": [loads_strict(w, max_bytes=MAX_KEYSTORE_BYTES) for w in wires],
        }

    def directory_file(self) -> bytes:
        return canonical(self.directory())

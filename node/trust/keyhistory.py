"""Signing keys over time: which key checks a signature made at a given moment.

A directory lists each party's signing keys (and the relay's) with validity windows, and
the party's status (suspended or revoked from a time on). A signature is judged with the
key that was valid **when it was made**: an envelope at its ``created_at``, a receipt at
its ``issued_at``, a checkpoint at its time. The newest key would refuse every signature
made before a rotation; any listed key would accept one made outside its window.

- :class:`KeyHistory`: one party's keys and status, what an evidence bundle carries
  (``to_dict``/``from_dict``, docs/protocol.md section 16) and what
  :meth:`node.trust.peers.PeerKeys.key_history` gives;
- :data:`KeyAt`: a lookup by party and time (:meth:`node.trust.peers.PeerKeys.key_at`);
- :func:`verify_receipt_at`: a receipt checked with its issuer's key valid at its
  ``issued_at``.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keys import receipts
from keys.directory import DEFAULT_DIRECTORY_LIMITS, RelayInfo, SigningKeyEntry, Status
from keys.directory.fields import exact_fields, list_of
from keys.encoding import loads_strict, parse_time
from keys.errors import PocnetError, Rejected
from keys.identities import RELAY_ID, VerifyKey

NO_WINDOW = datetime(1970, 1, 1, tzinfo=UTC)
"""The start of the window given to a key that comes without one (a development bundle)."""
UNKNOWN_ISSUER = frozenset({"unknown_sender", "receipt_unknown_issuer"})
"""Reasons of :meth:`PeerKeys.key_at` that mean "not listed" (not "no key valid then")."""

KeyAt = Callable[[str, datetime], VerifyKey]
"""A key lookup by party and signing time (:meth:`PeerKeys.key_at`); raises Rejected."""


@dataclass(frozen=True)
class KeyHistory:
    """A party's (or the relay's) signing keys over time, as the directory lists them.

    Each key with its validity window, oldest first, and the party's status: the key for a
    signature made at ``at`` is the one whose window holds ``at``, unless the party was
    suspended or revoked by then (the rule of :meth:`keys.directory.Directory.signing_key_for`
    and ``relay_key_for``). Evidence bundles carry it (``to_dict``), so that a signature is
    judged by the key valid when it was made, offline.
    """

    party: str
    signing_keys: tuple[SigningKeyEntry, ...]
    status: Status = field(default_factory=Status)

    def __post_init__(self) -> None:
        RelayInfo(self.signing_keys)  # the windows follow one another, one key at a time

    @classmethod
    def single(cls, party: str, key: VerifyKey) -> KeyHistory:
        """One key without a window (development bundles, version 1 evidence bundles)."""
        return cls(party, (SigningKeyEntry(key, NO_WINDOW),))

    def key_at(self, at: datetime) -> VerifyKey:
        """The key for a signature made at ``at``.

        Raises:
            Rejected: ``relay_key_unknown`` (the relay) or ``sender_inactive`` (a party):
                no key valid at ``at``, or the party suspended or revoked by then.
        """
        if not self.status.inactive_at(at):
            for entry in self.signing_keys:
                if entry.valid_at(at):
                    return entry.key
        raise Rejected("relay_key_unknown" if self.party == RELAY_ID else "sender_inactive")

    def to_dict(self) -> dict[str, Any]:
        return {
            "signing_keys": [e.to_dict() for e in self.signing_keys],
            "status": self.status.to_dict(),
        }

    @classmethod
    def from_dict(cls, party: str, obj: Any) -> KeyHistory:
        """Read :meth:`to_dict`'s form.

        Raises:
            ValidationError: malformed, too many keys, or windows that overlap.
        """
        obj = exact_fields(obj, ("signing_keys", "status"), f"keys of {party[:20]}")
        entries = list_of(
            obj["signing_keys"], "signing_keys", DEFAULT_DIRECTORY_LIMITS.max_keys_per_party
        )
        return cls(
            party,
            tuple(SigningKeyEntry.from_dict(e) for e in entries),
            Status.from_dict(obj["status"]),
        )


def claimed_time(wire: receipts.Wire) -> tuple[str, datetime]:
    """A receipt's claimed issuer and ``issued_at``, unverified, to look its key up.

    Raises:
        Rejected: ``receipt_malformed``.
    """
    try:
        payload, _ = receipts.parse_wire(wire)
        obj = loads_strict(payload, max_bytes=receipts.MAX_RECEIPT_BYTES, max_depth=1)
        issuer, issued = obj.get("issuer"), obj.get("issued_at")
        if isinstance(issuer, str) and isinstance(issued, str):
            return issuer, parse_time(issued, "issued_at")
    except (PocnetError, AttributeError) as e:
        raise Rejected("receipt_malformed") from e
    raise Rejected("receipt_malformed")


def verify_receipt_at(wire: receipts.Wire, key_at: KeyAt) -> receipts.SignedReceipt:
    """Verify a receipt with its issuer's key valid at its ``issued_at``.

    The claimed issuer and time only choose the key: both are in the signed payload, so a
    receipt that claims another time than it was signed with fails the signature.

    Raises:
        Rejected: ``receipt_malformed``, ``receipt_signature``, or ``key_at``'s reason.
    """
    issuer, issued = claimed_time(wire)
    return receipts.verify(wire, key_at(issuer, issued))

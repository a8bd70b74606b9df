"""What a directory version means for this node: key changes since the previous version,
problems with the node's own entry, and the report of a refresh. Pure: no I/O.

Used by :class:`node.trust.directory.DirectoryPeers`; the reasons a file is refused, and what to
do about each, are in :data:`ADVICE`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys.directory import Directory, SignedDirectory
from keys.errors import PocnetError, Rejected
from keys.identities import RELAY_ID

MODE = "directory"
# What the duty officer or the operator should do, per reason a file was refused.
ADVICE = {
    "not_signed_directory": "the relay serves no signed directory (a development bundle "
    "list, or something else): the relay operator must install the secretariat's directory",
    "threshold_not_met": "it is not signed by enough of the administrators this node trusts; "
    "if the secretariat changed its administrators while this node was away, get the "
    "versions in between from the secretariat and apply them with "
    "'node directory refresh --file FILE ...'",
    "new_root_threshold_not_met": "it changes the administrators without their signatures: "
    "tell the secretariat",
    "rollback": "the relay serves an older version than the one in force: tell the relay "
    "operator and the secretariat (replay of an old directory?)",
    "version_reused": "the relay serves a different directory under the version in force "
    "(two histories): tell the secretariat at once",
    "expired": "the relay serves an expired directory: the secretariat must publish a "
    "renewed version",
    "directory_malformed": "the relay's answer is not a valid directory file",
    "directory_too_large": "the relay's answer is larger than a directory may be",
    "too_many_signatures": "the relay's answer carries too many signatures",
}


@dataclass(frozen=True)
class OwnKeys:
    """This node's public keys as its keystore holds them (to check the directory)."""

    signing_key_id: str
    encryption_key_ids: frozenset[str]


@dataclass(frozen=True)
class KeyChange:
    """A party's keys in two directory versions (key ids; signing first)."""

    party: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    signing_changed: bool


def _key_ids(directory: Directory, party: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if party == RELAY_ID:
        entries = directory.relay.signing_keys if directory.relay is not None else ()
        return tuple(e.key.key_id for e in entries), ()
    p = directory.party(party)
    return (
        tuple(e.key.key_id for e in p.signing_keys),
        tuple(e.key.key_id for e in p.encryption_keys),
    )


def key_changes(old: Directory, new: Directory, parties: Iterable[str]) -> list[KeyChange]:
    """The parties among ``parties`` (and ``relay``) whose signing or encryption keys
    differ between ``old`` and ``new``. A party added or dropped is not a key change."""
    out = []
    for party in sorted(set(parties) | {RELAY_ID}):
        listed = (party in old and party in new) or (
            party == RELAY_ID and old.relay is not None and new.relay is not None
        )
        if not listed:
            continue
        (old_s, old_e), (new_s, new_e) = _key_ids(old, party), _key_ids(new, party)
        if (old_s, old_e) != (new_s, new_e):
            out.append(KeyChange(party, (*old_s, *old_e), (*new_s, *new_e), old_s != new_s))
    return out


def self_problems(directory: Directory, me: str, own: OwnKeys | None, now: datetime) -> list[str]:
    """What is wrong with this node's own entry at ``now`` (codes; empty when all is well).

    ``self_missing``: not listed; ``self_inactive``: suspended or revoked;
    ``self_key_mismatch``: the signing key listed now is not the keystore's (the relay will
    refuse this node); ``keystore_key_missing``: the directory lists an encryption key the
    keystore does not hold (restart the daemon after ``node rotate-key``).
    """
    if me not in directory:
        return ["self_missing"]
    problems = []
    if not directory.is_active(me, now):
        problems.append("self_inactive")
    if own is not None:
        try:
            current = directory.signing_key_for(me, now).key_id
        except Rejected:
            current = None
        if current is not None and current != own.signing_key_id:
            problems.append("self_key_mismatch")
        if not directory.decryption_key_ids_valid(me, now) <= own.encryption_key_ids:
            problems.append("keystore_key_missing")
    return problems


@dataclass
class DirectoryReport:
    """What a refresh did."""

    version: int | None = None
    previous_version: int | None = None
    updated: bool = False
    rejected: str | None = None
    offered_version: int | None = None
    expires: str | None = None
    key_changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": MODE,
            "version": self.version,
            "previous_version": self.previous_version,
            "updated": self.updated,
            "expires": self.expires,
            "key_changes": self.key_changes,
            "problems": self.problems,
        }
        if self.rejected is not None:
            out["rejected"] = self.rejected
            out["offered_version"] = self.offered_version
            out["advice"] = ADVICE.get(self.rejected, "")
        return out


def offered_version(data: bytes) -> int | None:
    """The version a file claims (unverified: for the log only)."""
    try:
        return SignedDirectory.from_bytes(data).unverified_directory().version
    except PocnetError:
        return None

"""The node trusts the secretariat's signed directory: :class:`DirectoryPeers`.

The production :class:`node.trust.peers.PeerKeys`. It holds a
:class:`keys.directory.TrustedDirectory` started from the root keys pinned with
``node init --root`` (or ``node directory pin``), restored at start from the newest version
kept in the store, and fed what the relay serves at ``GET /v1/directory``. The rules (all
in :mod:`keys.directory`) are TUF's: enough administrators' signatures, no rollback, no
expired version, a root change signed by the old and the new administrators. A refused
file changes nothing: the error event ``directory.rejected`` names the reason and the
version in force stays.

What the node takes from the directory:

- the key to seal to (``encryption_key_for(party, now)``: the newest valid then);
- senders' keys (``signing_key_for(party, created_at)``; a party revoked or suspended at
  that time is refused as ``sender_inactive``) and receipt issuers' keys at ``issued_at``
  (the relay's with ``relay_key_for``), so evidence made before a revocation or a key
  change keeps verifying;
- every party's signing keys with their windows and status (``key_history``), which
  timelines and evidence bundles judge each signature by, and the relay's, which the audit
  checks pick a checkpoint's key from (:mod:`node.audit.relaykeys`);
- which of its OWN encryption keys may still decrypt (``decryption_key_ids_valid``): the
  current one and those in their rotation overlap;
- the 24/7 phone in the contact profile (the ``[contacts]`` table of ``node.toml`` only
  for a party the directory does not list).

When a new version changes the signing or encryption keys of a party this node has
exchanged messages with (or the relay's key), the node logs ``peers.key_changed`` at error
level and records a row (``node directory show`` lists them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from keys import receipts
from keys.directory import (
    DEFAULT_DIRECTORY_LIMITS,
    Directory,
    DirectoryLimits,
    RootKeys,
    SignedDirectory,
    TrustedDirectory,
)
from keys.encoding import canonical, format_time, loads_strict
from keys.errors import ConfigError, NotFound, PeerError, PocnetError, Rejected
from keys.identities import RELAY_ID, EncryptionPublicKey, VerifyKey
from node.logs import Logger
from node.relayapi.transport import RelayTransport
from node.storage.store import Store
from node.trust.changes import (
    ADVICE,
    MODE,
    DirectoryReport,
    OwnKeys,
    key_changes,
    offered_version,
    self_problems,
)
from node.trust.keyhistory import KeyHistory, verify_receipt_at

MAX_ROOT_FILE_BYTES = 64 * 1024


class DirectoryUnusable(PeerError):
    """No trusted directory, an expired one, or a party the directory does not allow.

    Exit code 7 (refused by a check); the message says what to do.
    """

    code = "directory_unusable"


def read_root(data: bytes) -> RootKeys:
    """Parse a root file (``keys directory export-root``).

    Raises:
        ValidationError: not a root file (too large, not JSON, wrong format, bad keys).
    """
    return RootKeys.from_file(loads_strict(data, max_bytes=MAX_ROOT_FILE_BYTES, max_depth=4))


def root_summary(root: RootKeys) -> dict[str, Any]:
    """The root as shown to the officer who reads the fingerprints to the secretariat."""
    return {
        "threshold": root.threshold,
        "keys": [
            {"name": k.name, "key_id": k.key_id, "fingerprint": k.key.fingerprint}
            for k in sorted(root.keys, key=lambda k: k.name)
        ],
    }


class DirectoryPeers:
    """Keys and contacts from the signed directory, trusted from a pinned root.

    Args:
        store: where the accepted versions are kept.
        root: the root keys pinned at installation.
        me: this node's party id.
        contacts: 24/7 phones from ``node.toml``, for parties the directory does not list.
        own: this node's public keys, to warn when the directory disagrees with them.
    """

    mode = MODE

    def __init__(
        self,
        store: Store,
        *,
        root: RootKeys,
        me: str,
        contacts: Mapping[str, str] | None = None,
        own: OwnKeys | None = None,
        log: Logger,
        limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS,
    ) -> None:
        self._store = store
        self._pinned = root
        self._me = me
        self._contacts = dict(contacts or {})
        self._own = own
        self._log = log
        self._limits = limits
        self._state = TrustedDirectory(root, limits)

    # -- state ----------------------------------------------------------------------------

    @property
    def pinned_root(self) -> RootKeys:
        """The root pinned at installation."""
        return self._pinned

    @property
    def state(self) -> TrustedDirectory:
        """The trust state (root in force, current directory and its file)."""
        return self._state

    @property
    def current(self) -> Directory | None:
        """The directory in force, or None before the first accepted one."""
        return self._state.current

    async def load(self) -> DirectoryPeers:
        """Restore the newest accepted version from the store.

        Raises:
            ConfigError: the stored file does not verify (the database was altered).
        """
        stored = await self._store.latest_directory()
        if stored is not None:
            self._state = self._restore(stored.file, stored.version)
        return self

    def _restore(self, data: bytes, version: int) -> TrustedDirectory:
        try:
            return TrustedDirectory.from_stored(data, self._limits)
        except Rejected as e:
            raise ConfigError(
                f"the directory version {version} kept in the node's database does not verify "
                f"({e.reason}): the database was altered. Pin the root again with "
                "'node directory pin ROOT.json --force', then 'node directory refresh'",
                code="stored_directory_invalid",
            ) from e

    async def sync(self) -> bool:
        """Take up a newer version stored by another process (``node directory refresh``
        while the daemon runs): one indexed read when there is none."""
        stored_version = await self._store.latest_directory_version()
        current = self.current
        if stored_version is None or (current is not None and stored_version <= current.version):
            return False
        stored = await self._store.latest_directory()
        assert stored is not None
        self._state = self._restore(stored.file, stored.version)
        self._log.info("directory.reloaded", version=stored.version)
        return True

    def unusable(self, now: datetime) -> str | None:
        current = self.current
        if current is None:
            return "no_directory"
        return "directory_expired" if current.is_expired(now) else None

    def _usable(self, now: datetime) -> Directory:
        reason = self.unusable(now)
        current = self.current
        if reason is None and current is not None:
            return current
        if reason == "no_directory":
            message = (
                "this node has no trusted directory yet: run 'node directory refresh' (the "
                "relay must serve the secretariat's signed directory)"
            )
        else:
            assert current is not None
            message = (
                f"the directory in force (version {current.version}) expired at "
                f"{format_time(current.expires)}: run 'node directory refresh'; if the relay "
                "has no newer one, the secretariat must publish a renewed version"
            )
        raise DirectoryUnusable(message, code=reason)

    # -- queries (PeerKeys) -----------------------------------------------------------------

    def knows(self, party: str) -> bool:
        current = self.current
        if current is None:
            return False
        return party in current or (party == RELAY_ID and current.relay is not None)

    def parties(self) -> list[str]:
        current = self.current
        if current is None:
            return []
        ids = [p.id for p in current.parties]
        return sorted([*ids, RELAY_ID] if current.relay is not None else ids)

    def encryption_key_for(self, party: str, now: datetime) -> EncryptionPublicKey:
        """The newest encryption key of ``party`` valid at ``now``.

        Raises:
            NotFound: the directory does not list ``party`` (``fault="local"``).
            DirectoryUnusable: no directory, an expired one, or ``party`` suspended,
                revoked or without a valid key.
        """
        current = self._usable(now)
        try:
            return current.encryption_key_for(party, now)
        except Rejected as e:
            if e.reason == "unknown_recipient":
                raise NotFound(
                    f"unknown party {party}: the signed directory (version {current.version}) "
                    "does not list it (check the id, or run 'node directory refresh')",
                    code="unknown_party",
                    fault="local",
                ) from e
            status = current.party(party).status
            why = (
                f"is {status.state} since {format_time(status.at)} ({status.reason})"
                if status.at is not None and e.reason == "recipient_inactive"
                else "has no encryption key valid now"
            )
            raise DirectoryUnusable(
                f"{party} {why} in the signed directory (version {current.version}): "
                "nothing can be sent to it",
                code=e.reason,
            ) from e

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        """:class:`keys.envelope.SenderKeys`: the key for a signature made at ``at``.

        Raises:
            Rejected: ``unknown_sender`` or ``sender_inactive`` (suspended or revoked at
                ``at``, or no key valid then).
        """
        current = self.current
        if current is None:
            raise Rejected("unknown_sender")
        return current.verify_key_for(party, at)

    def key_at(self, party: str, at: datetime) -> VerifyKey:
        """The key of a party, or of the relay, for a signature made at ``at``.

        Raises:
            Rejected: ``unknown_sender``, ``sender_inactive`` or ``relay_key_unknown``.
        """
        current = self.current
        if current is None:
            raise Rejected("receipt_unknown_issuer")
        if party == RELAY_ID:
            return current.relay_key_for(at)
        return current.signing_key_for(party, at)

    def key_for(self, party: str) -> VerifyKey | None:
        """The newest signing key listed for a party or the relay, whatever its status:
        for displays only (signatures are checked with :meth:`key_at`)."""
        current = self.current
        if current is None:
            return None
        if party == RELAY_ID:
            return current.relay.signing_keys[-1].key if current.relay is not None else None
        if party not in current:
            return None
        return current.party(party).signing_keys[-1].key

    def key_history(self, party: str) -> KeyHistory | None:
        """Every signing key listed for a party or the relay, with its window and the
        party's status (timelines and evidence bundles judge each signature by it)."""
        current = self.current
        if current is None:
            return None
        if party == RELAY_ID:
            relay = current.relay
            return None if relay is None else KeyHistory(RELAY_ID, relay.signing_keys)
        if party not in current:
            return None
        listed = current.party(party)
        return KeyHistory(party, listed.signing_keys, listed.status)

    def directory_ref(self) -> dict[str, Any] | None:
        """The version in force and its payload digest (what certifies the keys)."""
        current = self.current
        if current is None:
            return None
        return {"version": current.version, "payload_sha256": current.payload_sha256}

    def verify_receipt(self, wire: receipts.Wire) -> receipts.SignedReceipt:
        """Verify a receipt with its issuer's key valid at its ``issued_at``.

        Raises:
            Rejected: ``receipt_malformed``, ``receipt_signature``, or the key lookup's
                reason (``unknown_sender``, ``sender_inactive``, ``relay_key_unknown``).
        """
        return verify_receipt_at(wire, self.key_at)

    def decryption_key_ids(self, party: str, now: datetime) -> frozenset[str]:
        """Ids of ``party``'s encryption keys valid at ``now`` (none without a directory)."""
        current = self.current
        if current is None:
            return frozenset()
        try:
            return current.decryption_key_ids_valid(party, now)
        except NotFound:
            return frozenset()

    def contact_phone(self, party: str) -> str | None:
        current = self.current
        if current is not None and party in current:
            return current.contact(party).phone
        return self._contacts.get(party)

    def accepted_languages(self, party: str) -> tuple[str, ...]:
        current = self.current
        if current is not None and party in current:
            return tuple(current.contact(party).languages)
        return ()

    # -- updates ----------------------------------------------------------------------------

    async def refresh(self, transport: RelayTransport, now: datetime) -> DirectoryReport:
        """Fetch the relay's directory and apply it (``TrustedDirectory.update``).

        Returns:
            The report; ``rejected`` names the reason when the file was refused (then
            nothing changed and ``directory.rejected`` was logged at error level).

        Raises:
            Unreachable: the relay did not answer (nothing changed).
            PeerError: the relay refused the request.
        """
        doc = await transport.directory()
        if set(doc) != {"payload", "signatures"}:
            return self._rejected("not_signed_directory", None, now)
        try:
            data = canonical(doc)
        except PocnetError:
            return self._rejected("directory_malformed", None, now)
        return await self._apply([data], now)

    async def apply_files(self, files: Sequence[bytes], now: datetime) -> DirectoryReport:
        """Apply directory files given by hand, oldest first (``update_chain``: to catch up
        across root changes the relay no longer serves)."""
        return await self._apply(list(files), now)

    async def _apply(self, files: list[bytes], now: datetime) -> DirectoryReport:
        old = self.current
        try:
            if len(files) == 1:
                new = self._state.update(files[0], now)
            else:
                new = self._state.update_chain(files, now)
        except Rejected as e:
            return self._rejected(e.reason, files[-1], now)
        report = DirectoryReport(
            version=new.version,
            previous_version=None if old is None else old.version,
            expires=format_time(new.expires),
        )
        if old is None or new.version != old.version:
            report.updated = True
            stamp = format_time(now)
            inserted = False
            for data in files:
                inserted |= await self._keep(data, stamp)
            if inserted:
                await self._note_changes(old, new, now, report)
            else:
                self._log.info("directory.reloaded", version=new.version)
        report.problems = self_problems(new, self._me, self._own, now)
        for problem in report.problems:
            self._log.error(
                "directory.self_problem", problem=problem, party=self._me, version=new.version
            )
        return report

    async def _keep(self, data: bytes, stamp: str) -> bool:
        """Store one accepted file (its signatures were checked by the caller)."""
        signed = SignedDirectory.from_bytes(data, self._limits)
        directory = signed.unverified_directory(self._limits)
        return await self._store.save_directory(
            version=directory.version,
            payload_sha256=directory.payload_sha256,
            expires=format_time(directory.expires),
            file=signed.to_bytes(),
            now=stamp,
        )

    async def _note_changes(
        self, old: Directory | None, new: Directory, now: datetime, report: DirectoryReport
    ) -> None:
        self._log.info(
            "directory.updated",
            version=new.version,
            previous_version=None if old is None else old.version,
            payload_sha256=new.payload_sha256,
            expires=format_time(new.expires),
            parties=len(new.parties),
        )
        if old is None:
            return
        known = await self._store.counterparts()
        stamp = format_time(now)
        for change in key_changes(old, new, known - {self._me}):
            report.key_changes.append(change.party)
            await self._store.record_key_change(
                change.party,
                ",".join(change.old)[:400],
                ",".join(change.new)[:400],
                accepted=True,
                now=stamp,
            )
            self._log.error(
                "peers.key_changed",
                party=change.party,
                signing_key_changed=change.signing_changed,
                old_key_ids=list(change.old),
                new_key_ids=list(change.new),
                version=new.version,
                advice="signed by the secretariat; if you did not expect it, confirm the "
                "new fingerprint with the party by phone ('node directory show')",
            )

    def _rejected(self, reason: str, data: bytes | None, now: datetime) -> DirectoryReport:
        current = self.current
        report = DirectoryReport(
            version=None if current is None else current.version,
            previous_version=None if current is None else current.version,
            rejected=reason,
            offered_version=None if data is None else offered_version(data),
            expires=None if current is None else format_time(current.expires),
        )
        self._log.error(
            "directory.rejected",
            reason=reason,
            offered_version=report.offered_version,
            version_in_force=report.version,
            expired_in_force=current is not None and current.is_expired(now),
            advice=ADVICE.get(reason, ""),
        )
        return report

"""Other parties' public keys: where they come from and how they are trusted.

:class:`PeerKeys` is the interface the rest of the node uses (it is also a
:class:`keys.envelope.SenderKeys`). Two implementations:

- :class:`node.trust.directory.DirectoryPeers`, **the production mode**: the secretariat's signed
  directory, checked against the root keys pinned with ``node init --root`` (threshold, no
  rollback, no expired version, root changes signed by the old and new administrators);
- :class:`PinnedPeers`, a **development fallback** used only while no root is pinned: the
  relay's unsigned bundle list (``GET /v1/directory`` in format ``pocnet-bundles``, served
  by a relay that has no directory installed), each bundle self-signed and pinned on first
  sight (trust on first use). The daemon says so at every start
  (``directory.not_pinned``). It protects against nothing the relay operator could do
  before the first sight, so it is for test networks only.

In development mode a later change of a known party's keys is logged loudly
(``peers.key_changed``) and recorded; with ``peers.on_key_change = "refuse"`` the pinned
key is kept. A new encryption key under the same, pinned, signing key is a rotation (the
bundle is signed by the key we already trust) and is taken with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from keys import receipts
from keys.encoding import canonical, format_time
from keys.errors import DecodeError, NotFound, PeerError, Rejected, ValidationError
from keys.identities import RELAY_ID, EncryptionPublicKey, VerifyKey
from keys.keystore import PublicBundle, verify_bundle
from node.logs import Logger
from node.relayapi.transport import RelayTransport
from node.storage.store import Store
from node.trust.keyhistory import KeyHistory, verify_receipt_at

BUNDLES_FORMAT = "pocnet-bundles"
MAX_BUNDLES = 10_000
DEVELOPMENT = "development"


class Refreshed(Protocol):
    """What a refresh did (:class:`RefreshReport`,
    :class:`node.trust.directory.DirectoryReport`)."""

    rejected: str | None

    def to_dict(self) -> dict[str, Any]: ...


class PeerKeys(Protocol):
    """Public keys and contact profiles of other parties and of the relay."""

    mode: str

    def knows(self, party: str) -> bool:
        """True if the party (or ``relay``) is listed."""
        ...

    def parties(self) -> list[str]:
        """Every party listed (and ``relay`` when its key is known), sorted."""
        ...

    def encryption_key_for(self, party: str, now: datetime) -> EncryptionPublicKey:
        """The key to seal to at ``now``. Raises NotFound (unknown party) or PeerError."""
        ...

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        """The party's signing key for a signature made at ``at``. Raises Rejected."""
        ...

    def key_for(self, party: str) -> VerifyKey | None:
        """The newest signing key of a party or of ``relay`` (for displays), or None.

        Never use it to check a signature: a key rotation since would fail every older
        one. Use :meth:`key_at` with the time the signature was made.
        """
        ...

    def key_history(self, party: str) -> KeyHistory | None:
        """Every signing key of a party or of ``relay`` with its window, or None."""
        ...

    def directory_ref(self) -> dict[str, Any] | None:
        """The directory version the keys come from (``{"version", "payload_sha256"}``),
        or None in development mode."""
        ...

    def key_at(self, party: str, at: datetime) -> VerifyKey:
        """The key of a party or of ``relay`` for a signature made at ``at``.

        Raises:
            Rejected: no such party, or no key valid then (suspended, revoked, rotated).
        """
        ...

    def verify_receipt(self, wire: receipts.Wire) -> receipts.SignedReceipt:
        """Verify a receipt with its issuer's key valid at its ``issued_at``.

        Raises:
            Rejected: unknown issuer, no key valid then, bad signature, malformed.
        """
        ...

    def decryption_key_ids(self, party: str, now: datetime) -> frozenset[str] | None:
        """Ids of ``party``'s encryption keys valid at ``now``; None means no restriction."""
        ...

    def contact_phone(self, party: str) -> str | None:
        """The party's 24/7 phone number, if known."""
        ...

    def accepted_languages(self, party: str) -> tuple[str, ...]:
        """The languages the directory says ``party`` accepts requests in (Protocol Art.
        4); empty when it says none (development bundles)."""
        ...

    def unusable(self, now: datetime) -> str | None:
        """Why the keys cannot be relied on at ``now`` (``no_directory``,
        ``directory_expired``), or None when they can."""
        ...

    async def load(self) -> PeerKeys:
        """Read the trusted state from the store."""
        ...

    async def sync(self) -> bool:
        """Take up a newer state stored by another process (``node directory refresh``)."""
        ...

    async def refresh(self, transport: RelayTransport, now: datetime) -> Refreshed:
        """Fetch the relay's ``GET /v1/directory`` and apply it."""
        ...


@dataclass
class RefreshReport:
    """What a development-mode refresh (bundle list) did."""

    parties: int = 0
    pinned: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    invalid: int = 0
    rejected: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": DEVELOPMENT,
            "parties": self.parties,
            "pinned": self.pinned,
            "rotated": self.rotated,
            "changed": self.changed,
            "refused": self.refused,
            "invalid": self.invalid,
        }


def _key_ids(bundle: PublicBundle) -> tuple[str, tuple[str, ...]]:
    return bundle.signing_key.key_id, tuple(k.key_id for k in bundle.encryption_keys)


class PinnedPeers:
    """DEVELOPMENT FALLBACK (no root pinned): trust on first use of the relay's bundle
    list, pinned in the store."""

    mode = DEVELOPMENT

    def __init__(
        self,
        store: Store,
        *,
        me: str,
        on_key_change: str = "warn",
        contacts: Mapping[str, str] | None = None,
        log: Logger,
    ) -> None:
        self._store = store
        self._me = me
        self._policy = on_key_change
        self._contacts = dict(contacts or {})
        self._log = log
        self._bundles: dict[str, PublicBundle] = {}

    async def load(self) -> PinnedPeers:
        """Read the pins from the store."""
        for party, data in (await self._store.pinned_bundles()).items():
            try:
                self._bundles[party] = verify_bundle(data)
            except ValidationError:  # pragma: no cover - only a damaged database
                self._log.error("peers.pin_damaged", party=party)
        return self

    def knows(self, party: str) -> bool:
        return party in self._bundles

    def parties(self) -> list[str]:
        return sorted(self._bundles)

    def bundle(self, party: str) -> PublicBundle | None:
        return self._bundles.get(party)

    def encryption_key_for(self, party: str, now: datetime | None = None) -> EncryptionPublicKey:
        bundle = self._bundles.get(party)
        if bundle is None or party == RELAY_ID:
            raise NotFound(
                f"unknown party {party}: it is not in the relay's directory (check the id, "
                "or run 'node directory refresh')",
                code="unknown_party",
                fault="local",
            )
        return bundle.current_encryption_key

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        bundle = self._bundles.get(party)
        if bundle is None:
            raise Rejected("unknown_sender")
        return bundle.signing_key

    def key_for(self, party: str) -> VerifyKey | None:
        bundle = self._bundles.get(party)
        return bundle.signing_key if bundle else None

    def key_at(self, party: str, at: datetime) -> VerifyKey:
        key = self.key_for(party)  # bundles carry no validity windows
        if key is None:
            raise Rejected("receipt_unknown_issuer")
        return key

    def key_history(self, party: str) -> KeyHistory | None:
        key = self.key_for(party)
        return None if key is None else KeyHistory.single(party, key)

    def directory_ref(self) -> dict[str, Any] | None:
        return None

    def verify_receipt(self, wire: receipts.Wire) -> receipts.SignedReceipt:
        return verify_receipt_at(wire, self.key_at)

    def decryption_key_ids(self, party: str, now: datetime) -> frozenset[str] | None:
        return None  # bundles carry no validity windows: every key in the keystore

    def unusable(self, now: datetime) -> str | None:
        return None

    async def sync(self) -> bool:
        return False

    def relay_key(self) -> VerifyKey:
        bundle = self._bundles.get(RELAY_ID)
        if bundle is None:
            raise NotFound(
                "the relay's receipt key is not known yet: run 'node directory refresh'",
                code="unknown_party",
                fault="local",
            )
        return bundle.signing_key

    def contact_phone(self, party: str) -> str | None:
        return self._contacts.get(party)

    def accepted_languages(self, party: str) -> tuple[str, ...]:
        return ()

    async def refresh(self, transport: RelayTransport, now: datetime) -> RefreshReport:
        """Fetch the relay's bundle list, verify each bundle, pin what is new.

        Raises:
            Unreachable: the relay did not answer.
            PeerError: the answer is not a bundle list.
        """
        doc = await transport.directory()
        if set(doc) == {"payload", "signatures"}:
            raise PeerError(
                "the relay serves the secretariat's signed directory, but this node has no "
                "root pinned: pin it with 'node directory pin ROOT.json' (the file from "
                "'keys directory export-root'; check its fingerprints by phone)",
                code="root_not_pinned",
            )
        if doc.get("format") != BUNDLES_FORMAT or not isinstance(doc.get("bundles"), list):
            raise PeerError(
                "the relay's directory is not in a format this node knows "
                f"({str(doc.get('format'))[:40]!r})",
                code="directory_format",
            )
        report = RefreshReport()
        stamp = format_time(now)
        for obj in doc["bundles"][:MAX_BUNDLES]:
            try:
                data = canonical(obj)
                bundle = verify_bundle(data)
            except (DecodeError, ValidationError) as e:
                report.invalid += 1
                self._warn("peers.bundle_invalid", reason=e.code)
                continue
            report.parties += 1
            await self._consider(bundle, data, stamp, report)
        return report

    async def _consider(
        self, bundle: PublicBundle, data: bytes, stamp: str, report: RefreshReport
    ) -> None:
        party = bundle.party
        old = self._bundles.get(party)
        if old is None:
            await self._pin(bundle, data, stamp)
            report.pinned.append(party)
            self._log.info("peers.pinned", party=party, signing_key=bundle.signing_key.key_id)
            return
        old_ids, new_ids = _key_ids(old), _key_ids(bundle)
        if old_ids == new_ids:
            return
        if old_ids[0] == new_ids[0]:
            await self._pin(bundle, data, stamp)
            report.rotated.append(party)
            self._warn("peers.encryption_key_rotated", party=party, key_ids=list(new_ids[1]))
            return
        accept = self._policy == "warn" and party != self._me
        await self._store.record_key_change(
            party, _fmt(old_ids), _fmt(new_ids), accepted=accept, now=stamp
        )
        self._log.error(
            "peers.key_changed",
            party=party,
            old_signing_key=old_ids[0],
            new_signing_key=new_ids[0],
            accepted=accept,
            advice="confirm the new fingerprint with the party by phone before relying on it",
        )
        if accept:
            await self._pin(bundle, data, stamp)
            report.changed.append(party)
        else:
            report.refused.append(party)

    async def _pin(self, bundle: PublicBundle, data: bytes, stamp: str) -> None:
        await self._store.pin(
            bundle.party, data, bundle.signing_key.to_b64(), bundle.signing_key.key_id, stamp
        )
        self._bundles[bundle.party] = bundle

    def _warn(self, event: str, **kw: Any) -> None:
        self._log.warning(event, **kw)


def _fmt(ids: tuple[str, tuple[str, ...]]) -> str:
    return ",".join([ids[0], *ids[1]])

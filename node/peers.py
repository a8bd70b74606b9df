"""Other parties' public keys: where they come from and how they are trusted.

:class:`PeerKeys` is the interface the node uses (it is also a
:class:`keys.envelope.SenderKeys`). :class:`PinnedPeers` implements it until the signed
directory lands: bundles from the relay's ``GET /v1/directory`` (format
``pocnet-bundles``), each verified with :func:`keys.keystore.verify_bundle`, pinned in the
local store on first sight (trust on first use). A later change of a known party's keys is
logged loudly (``peers.key_changed``) and recorded; with ``peers.on_key_change = "refuse"``
the pinned key is kept. A new encryption key under the same, pinned, signing key is a
rotation (the bundle is signed by the key we already trust) and is taken with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from keys.encoding import canonical, format_time
from keys.errors import DecodeError, PeerError, Rejected, ValidationError
from keys.identities import RELAY_ID, EncryptionPublicKey, VerifyKey
from keys.keystore import PublicBundle, verify_bundle
from node.errors import LocalNotFound
from node.store import Store
from node.transport import RelayTransport

BUNDLES_FORMAT = "pocnet-bundles"
MAX_BUNDLES = 10_000


class PeerKeys(Protocol):
    """Public keys of other parties and of the relay."""

    def knows(self, party: str) -> bool: ...

    def encryption_key_for(self, party: str) -> EncryptionPublicKey:
        """The party's current encryption key. Raises NotFound."""
        ...

    def verify_key_for(self, party: str, at: datetime) -> VerifyKey:
        """The party's signing key. Raises Rejected (``unknown_sender``)."""
        ...

    def key_for(self, party: str) -> VerifyKey | None:
        """The signing key of a party or of ``relay``, or None."""
        ...

    def relay_key(self) -> VerifyKey:
        """The relay's receipt key. Raises NotFound."""
        ...

    def contact_phone(self, party: str) -> str | None:
        """The party's 24/7 phone number, if known."""
        ...

    async def refresh(self, transport: RelayTransport, now: datetime) -> RefreshReport: ...


@dataclass
class RefreshReport:
    """What a directory refresh did."""

    parties: int = 0
    pinned: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    invalid: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
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
    """Trust on first use of the relay's bundle list, pinned in the store."""

    def __init__(
        self,
        store: Store,
        *,
        me: str,
        on_key_change: str = "warn",
        contacts: Mapping[str, str] | None = None,
        log: Any = None,
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
                if self._log:
                    self._log.error("peers.pin_damaged", party=party)
        return self

    def knows(self, party: str) -> bool:
        return party in self._bundles

    def parties(self) -> list[str]:
        return sorted(self._bundles)

    def bundle(self, party: str) -> PublicBundle | None:
        return self._bundles.get(party)

    def encryption_key_for(self, party: str) -> EncryptionPublicKey:
        bundle = self._bundles.get(party)
        if bundle is None or party == RELAY_ID:
            raise LocalNotFound(
                f"unknown party {party}: it is not in the relay's directory (check the id, "
                "or run 'node directory refresh')",
                code="unknown_party",
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

    def relay_key(self) -> VerifyKey:
        bundle = self._bundles.get(RELAY_ID)
        if bundle is None:
            raise LocalNotFound(
                "the relay's receipt key is not known yet: run 'node directory refresh'",
                code="unknown_party",
            )
        return bundle.signing_key

    def contact_phone(self, party: str) -> str | None:
        return self._contacts.get(party)

    async def refresh(self, transport: RelayTransport, now: datetime) -> RefreshReport:
        """Fetch the relay's bundle list, verify each bundle, pin what is new.

        Raises:
            Unreachable: the relay did not answer.
            PeerError: the answer is not a bundle list.
        """
        doc = await transport.directory()
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
            if self._log:
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
        if self._log:
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
        if self._log:
            self._log.warning(event, **kw)


def _fmt(ids: tuple[str, tuple[str, ...]]) -> str:
    return ",".join([ids[0], *ids[1]])

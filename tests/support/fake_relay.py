"""An in-memory relay that keeps the API v1 contract, and nodes on it, for tests.

:class:`FakeRelayNetwork` holds the state a relay would (envelopes, inboxes, receipts, the
members' bundles and a receipt key); :meth:`FakeRelayNetwork.transport` gives each node a
:class:`FakeRelay` implementing :class:`node.relayapi.transport.RelayTransport`. Switch ``down`` on
to make every call fail as an unreachable relay would; :meth:`FakeRelayNetwork.tamper`
alters a stored envelope as a dishonest operator could. Events are logged in an audit log
(:class:`tests.support.fake_audit.FakeAuditLog`, ``audit``), which can also lie: see there and
:meth:`FakeRelayNetwork.split_view`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from keys import receipts
from keys.encoding import b64u_decode, b64u_encode, canonical, format_time, loads_strict
from keys.envelope import Envelope
from keys.errors import Conflict, Forbidden, NotFound, PocnetError, Rejected, ValidationError
from keys.host.command import Unreachable
from keys.identities import RELAY_ID, EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle, verify_bundle
from node.config import NodeConfig
from node.logs import Logger
from node.relayapi import auditwire
from node.relayapi.transport import HandOver, InboxItem, SubmitResult
from node.runtime import Node, open_node
from node.storage.store import Store
from tests.support.fake_audit import FakeAuditLog


@dataclass
class _Stored:
    data: bytes
    envelope: Envelope
    accepted: dict[str, Any]
    receipts: list[dict[str, Any]] = field(default_factory=list)


class FakeRelayNetwork:
    """The shared state of a fake relay and the nodes that use it."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.keystore = Keystore(RELAY_ID, SigningKey.generate())
        self.bundles: dict[str, bytes] = {RELAY_ID: make_bundle(self.keystore, self.clock())}
        self.envelopes: dict[str, _Stored] = {}
        self.inboxes: dict[str, dict[str, dict[str, Any]]] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.audit = FakeAuditLog(self.keystore.signing_key, self.clock)
        self.audit_views: dict[str, FakeAuditLog] = {}
        self.down = False
        # Set to a signed directory file to serve it (as a relay with one installed does)
        # instead of the development bundle list.
        self.directory_file: bytes | None = None
        self.calls: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    @property
    def relay_key(self) -> SigningKey:
        return self.keystore.signing_key

    def register(self, bundle: bytes) -> str:
        """Add a member from its public bundle; returns its party id."""
        party = verify_bundle(bundle).party
        self.bundles[party] = bundle
        self.inboxes.setdefault(party, {})
        return party

    def transport(self, party: str) -> FakeRelay:
        return FakeRelay(self, party)

    def tamper(self, msg_id: str) -> None:
        """Flip one bit of a stored envelope's ciphertext (the relay's database altered)."""
        stored = self.envelopes[msg_id]
        wire = stored.envelope.to_wire()
        ct = bytearray(b64u_decode(wire["ciphertext"]))
        ct[len(ct) // 2] ^= 0x01
        wire["ciphertext"] = b64u_encode(bytes(ct))
        for item in self.inboxes[stored.envelope.header.recipient].values():
            if item.get("envelope") is not None and item["_msg_id"] == msg_id:
                item["envelope"] = wire
        stored.data = canonical(wire)
        stored.envelope = Envelope.parse(wire)

    def split_view(self, party: str) -> FakeAuditLog:
        """From now on show ``party`` its own copy of the audit log (alter it to fork)."""
        view = self.audit_views[party] = self.audit.copy()
        return view

    def audit_for(self, party: str) -> FakeAuditLog:
        return self.audit_views.get(party, self.audit)

    def _log(self, type_: str, stored: _Stored, receipt_sha256: str | None = None) -> int | None:
        h = stored.envelope.header
        event = {
            "type": type_,
            "time": self.clock(),
            "msg_id": h.msg_id,
            "sender": h.sender,
            "recipient": h.recipient,
            "envelope_sha256": stored.envelope.sha256,
            "receipt_sha256": receipt_sha256,
        }
        for view in self.audit_views.values():
            view.append(**event)
        return self.audit.append(**event)

    def _push(self, party: str, item: dict[str, Any]) -> None:
        item_id = f"i{next(self._ids)}"
        self.inboxes.setdefault(party, {})[item_id] = {"id": item_id, **item}
        self.events.setdefault(party, asyncio.Event()).set()

    def _issue(self, type_: str, stored: _Stored) -> dict[str, Any]:
        """Issue a relay receipt and log it (ACCEPTED: log first, name the leaf)."""
        leaf = self._log("accepted", stored) if type_ == "ACCEPTED" else None
        signed = receipts.issue_at(
            self.clock(),
            self.relay_key,
            type=type_,
            msg_id=stored.envelope.header.msg_id,
            envelope_sha256=stored.envelope.sha256,
            issuer=RELAY_ID,
            leaf_index=leaf,
        )
        if type_ != "ACCEPTED":
            self._log(type_.lower(), stored, signed.sha256)
        return signed.to_wire()

    def _check(self, name: str, party: str) -> None:
        self.calls.append((party, name))
        if self.down:
            raise Unreachable("the relay did not answer (fake relay is down)")
        if party not in self.bundles:
            raise Forbidden("unknown caller")


class FakeRelay:
    """One node's view of a :class:`FakeRelayNetwork` (a :class:`RelayTransport`)."""

    def __init__(self, network: FakeRelayNetwork, party: str) -> None:
        self.net = network
        self.party = party

    async def submit(self, envelope: bytes) -> SubmitResult:
        self.net._check("submit", self.party)
        env = Envelope.parse(envelope)
        header = env.header
        if header.sender != self.party:
            raise Forbidden("the caller is not the sender")
        if header.recipient not in self.net.bundles:
            raise Forbidden("unknown recipient")
        env.verify_outer(verify_bundle(self.net.bundles[self.party]).signing_key)
        existing = self.net.envelopes.get(header.msg_id)
        if existing is not None:
            if existing.data != canonical(env.to_wire()):
                raise Conflict("msg_id already used", code="msg_id_reused")
            return SubmitResult(existing.accepted, created=False)
        stored = _Stored(canonical(env.to_wire()), env, {})
        stored.accepted = self.net._issue("ACCEPTED", stored)
        self.net.envelopes[header.msg_id] = stored
        self.net._push(
            header.recipient,
            {"type": "envelope", "envelope": env.to_wire(), "_msg_id": header.msg_id},
        )
        return SubmitResult(stored.accepted, created=True)

    async def inbox(self, *, wait: float, limit: int) -> list[InboxItem]:
        self.net._check("inbox", self.party)
        box = self.net.inboxes.setdefault(self.party, {})
        if not box and wait > 0:
            event = self.net.events.setdefault(self.party, asyncio.Event())
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), timeout=wait)
            except TimeoutError:
                return []
            self.net._check("inbox", self.party)
        items = list(box.values())[:limit]
        return [
            InboxItem.from_wire({k: v for k, v in item.items() if not k.startswith("_")})
            for item in items
        ]

    async def ack(self, ids: Sequence[str]) -> int:
        self.net._check("ack", self.party)
        box = self.net.inboxes.setdefault(self.party, {})
        acked = 0
        for item_id in ids:
            item = box.pop(item_id, None)
            if item is None:
                continue
            acked += 1
            if item["type"] == "envelope":
                stored = self.net.envelopes[item["_msg_id"]]
                delivered = self.net._issue("DELIVERED", stored)
                stored.receipts.append(delivered)
                self.net._push(
                    stored.envelope.header.sender,
                    {"type": "receipt", "msg_id": item["_msg_id"], "receipt": delivered},
                )
        return acked

    async def hand_over(
        self,
        ids: Sequence[str],
        receipts: Sequence[bytes],
        *,
        wait: float | None = None,
        limit: int = 100,
    ) -> HandOver:
        self.net._check("hand_over", self.party)
        outcomes: list[bool | PocnetError] = []
        for wire in receipts:
            try:
                outcomes.append(await self.post_receipt(wire))
            except Unreachable:
                raise
            except PocnetError as e:
                outcomes.append(e)
        acked = await self.ack(ids)
        items = None if wait is None else await self.inbox(wait=wait, limit=limit)
        return HandOver(acked, outcomes, items)

    async def post_receipt(self, receipt: bytes) -> bool:
        self.net._check("post_receipt", self.party)
        issuer = receipts.peek_issuer(receipt)
        if issuer != self.party:
            raise Forbidden("the caller is not the issuer")
        key = verify_bundle(self.net.bundles[self.party]).signing_key
        try:
            signed = receipts.verify(receipt, key)
        except Rejected as e:
            raise ValidationError("bad receipt", code="rejected") from e
        stored = self.net.envelopes.get(signed.receipt.msg_id)
        if stored is None or stored.envelope.header.recipient != self.party:
            raise NotFound("no such message")
        if signed.receipt.envelope_sha256 != stored.envelope.sha256:
            raise ValidationError("envelope_sha256 does not match")
        wire = signed.to_wire()
        if wire in stored.receipts:
            return False
        stored.receipts.append(wire)
        self.net._log(signed.receipt.type.lower(), stored, signed.sha256)
        self.net._push(
            stored.envelope.header.sender,
            {"type": "receipt", "msg_id": signed.receipt.msg_id, "receipt": wire},
        )
        return True

    async def evidence(self, msg_id: str) -> dict[str, Any]:
        self.net._check("evidence", self.party)
        stored = self.net.envelopes.get(msg_id)
        header = stored.envelope.header if stored else None
        if stored is None or header is None or self.party not in (header.sender, header.recipient):
            raise NotFound("no such message")
        return {
            "msg_id": msg_id,
            "header": header.to_dict(),
            "envelope_sha256": stored.envelope.sha256,
            "receipts": [stored.accepted, *stored.receipts],
            **self.net.audit_for(self.party).evidence(msg_id),
        }

    async def audit_messages(
        self, msg_ids: Sequence[str]
    ) -> tuple[bytes, dict[str, list[auditwire.LeafProof]]]:
        self.net._check("audit_messages", self.party)
        log = self.net.audit_for(self.party)
        answers = {}
        for msg_id in msg_ids:
            stored = self.net.envelopes.get(msg_id)
            header = stored.envelope.header if stored else None
            if header is not None and self.party in (header.sender, header.recipient):
                answers[msg_id] = log.evidence(msg_id)
        note = log.evidence("")["checkpoint"]  # the same tree for every message
        doc = {"checkpoint": note, "messages": {m: a["proofs"] for m, a in answers.items()}}
        return auditwire.messages_audit(doc, msg_ids)

    async def directory(self) -> dict[str, Any]:
        self.net._check("directory", self.party)
        if self.net.directory_file is not None:
            return dict(loads_strict(self.net.directory_file))
        return {
            "format": "pocnet-bundles",
            "bundles": [loads_strict(b) for b in self.net.bundles.values()],
        }

    async def audit_checkpoint(self) -> bytes:
        self.net._check("audit_checkpoint", self.party)
        return self.net.audit_for(self.party).checkpoint()

    async def audit_consistency(self, old_size: int, new_size: int) -> tuple[bytes, ...]:
        self.net._check("audit_consistency", self.party)
        return tuple(self.net.audit_for(self.party).consistency(old_size, new_size))

    async def audit_inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        self.net._check("audit_inclusion", self.party)
        return tuple(self.net.audit_for(self.party).inclusion(index, size))

    async def close(self) -> None:
        return None


class FakeClock:
    """A clock for tests: it moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


async def fake_node(
    network: FakeRelayNetwork,
    data_dir: Path,
    party: str,
    *,
    clock: Callable[[], datetime],
    log: Logger | None = None,
    suite: str = "x25519",
    keystore: Keystore | None = None,
    root: bytes | None = None,
    **settings: Any,
) -> Node:
    """A complete node on ``network`` with fresh keys (or ``keystore``), its store in
    ``data_dir``; ``root``, a root file's bytes, is pinned first (``node init --root``).

    ``settings`` are :class:`node.config.NodeConfig` fields (``outbox=OutboxSettings(...)``).
    Its own bundle is pinned, as ``node init`` does; the directory is not fetched yet.
    """
    stamp = format_time(clock())
    keystore = keystore or Keystore(
        party,
        SigningKey.generate(),
        (StoredEncryptionKey(EncryptionPrivateKey.generate(suite), stamp),),
    )
    bundle = make_bundle(keystore, clock())
    network.register(bundle)
    config = NodeConfig(party=party, data_dir=data_dir, **settings)
    if root is not None:
        store = await Store.open(config.database_path)
        if await store.pinned_root() is None:
            await store.pin_root(root, stamp)
        await store.close()
    node = await open_node(
        config,
        keystore,
        transport=network.transport(party),
        clock=clock,
        log=log if log is not None else structlog.get_logger(),
    )
    info = verify_bundle(bundle)
    await node.store.pin(party, bundle, info.signing_key.to_b64(), info.signing_key.key_id, stamp)
    await node.peers.load()
    return node


@dataclass
class EmergencySent:
    """FR and DE on one fake network, FR's emergency to DE accepted by the relay."""

    clock: FakeClock
    net: FakeRelayNetwork
    fr: Node
    de: Node
    sent: Any  # the outbox's queued message


@contextlib.asynccontextmanager
async def emergency_sent(tmp_path: Path, t0: datetime) -> AsyncIterator[EmergencySent]:
    """Two nodes with each other's keys; FR has sent DE an emergency disclosure request
    (accepted, not yet fetched by DE). Both nodes are closed afterwards."""
    from node.forms import validate_form
    from node.forms.examples import example

    clock = FakeClock(t0)
    net = FakeRelayNetwork(clock)
    fr = await fake_node(net, tmp_path / "fr", "FR", clock=clock)
    de = await fake_node(net, tmp_path / "de", "DE", clock=clock)
    try:
        await fr.peers.refresh(fr.transport, clock())
        await de.peers.refresh(de.transport, clock())
        kind = "emergency_disclosure_request"
        form = validate_form(kind, example(kind, t0, "FR"), now=t0, priority="emergency")
        sent = await fr.outbox.queue("DE", form, clock(), grace=timedelta(0))
        assert await fr.outbox.submit(sent, clock()) == "accepted"
        yield EmergencySent(clock, net, fr, de, sent)
    finally:
        await fr.close()
        await de.close()

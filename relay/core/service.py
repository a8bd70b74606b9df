"""The relay's logic: what may be stored, what each step issues, who may see what.

It knows nothing of HTTP: the transport authenticates the caller, stamps ``now`` and maps
the :mod:`keys.errors` raised here to answers. Every change runs as one operation of the
:class:`relay.storage.writer.Writer`, so the state change, its receipts, its inbox items and its
audit event (:func:`relay.audit.append.append_event`) commit together or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from keys.encoding import loads_strict
from keys.envelope import Envelope, check_times, validate_id
from keys.errors import Conflict, Forbidden, NotFound
from keys.identities import RELAY_ID, SigningKey
from keys.receipts import NODE_TYPES, SignedReceipt, issue_at, peek_issuer
from keys.receipts import verify as verify_receipt
from relay.audit.append import Event, append_event
from relay.config import RelayConfig
from relay.core import integrity, longpoll
from relay.core.attachments import AttachmentService
from relay.core.members import Members
from relay.core.node_receipts import check_node_receipt
from relay.core.receipt_rules import contradiction, stated_digest
from relay.monitoring.logging import get_logger
from relay.monitoring.metrics import RelayMetrics
from relay.storage.notify import Notifier
from relay.storage.states import EnvelopeState
from relay.storage.store import Store, StoredEnvelope
from relay.storage.writer import Operation, Tx, Writer

log = get_logger("relay.core.service")


@dataclass(frozen=True)
class SubmitResult:
    """The ACCEPTED receipt's wire bytes; ``created`` is False for a repeated submit."""

    receipt: bytes
    created: bool


@dataclass(frozen=True)
class AckResult:
    acked: int
    unknown: int


@dataclass(frozen=True)
class DeadlineResult:
    overdue: int = 0
    expired: int = 0
    purged: int = 0

    def __add__(self, other: DeadlineResult) -> DeadlineResult:
        return DeadlineResult(
            self.overdue + other.overdue, self.expired + other.expired, self.purged + other.purged
        )


class RelayService:
    """Submit, inbox, acknowledgement, receipts, evidence and deadlines."""

    def __init__(
        self,
        *,
        store: Store,
        writer: Writer,
        members: Members,
        signing_key: SigningKey,
        config: RelayConfig,
        notifier: Notifier,
        metrics: RelayMetrics,
        attachments: AttachmentService | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.members = members
        self.key = signing_key
        self.config = config
        self.limits = config.protocol_limits
        self.notifier = notifier
        self.metrics = metrics
        self.tripwire = integrity.Tripwire(metrics)
        self.attachments = attachments
        # The deadline task sets this to hear of each new envelope's first deadline.
        self.on_deadline: Callable[[datetime], None] = lambda _when: None

    # Submit ------------------------------------------------------------------------------

    async def submit(self, caller: str, body: bytes, now: datetime) -> SubmitResult:
        """Store an envelope from ``caller`` and return the relay's ACCEPTED receipt.

        Raises:
            TooLarge, ValidationError: the envelope is malformed.
            Forbidden: ``caller`` is not the header's sender.
            Rejected: recipient unknown, inactive or sealed to a key it no longer holds;
                sender inactive or its key retired (:meth:`Members.submission_key`); bad
                outer signature; or bad times.
            Conflict: ``msg_id`` already names another envelope (``msg_id_reused``).
            TooLarge, Conflict, ValidationError: a listed attachment is over a limit,
                not completely uploaded or not the one listed
                (:meth:`relay.core.attachments.AttachmentService.claim`).
        """
        envelope = Envelope.parse(body, self.limits)
        header = envelope.header
        if header.sender != caller:
            raise Forbidden("you may submit envelopes only as their sender")
        self.members.check_recipient(header.recipient, header.enc_key_id, now)
        envelope.verify_outer(self.members.submission_key(caller, header.created, now))
        check_times(header, now, self.limits)
        wire = envelope.to_bytes()
        digest = hashlib.sha256(wire).hexdigest()  # == envelope.sha256, without re-encoding
        overdue: datetime | None = now + self.config.overdue_after(header.priority)
        overdue_at = overdue if overdue is not None and overdue < header.expires else None

        async def op(tx: Tx) -> SubmitResult:
            # Fast path: no read. A msg_id stored by an earlier batch makes this batch's
            # insert fail on the primary key; the writer then re-runs the batch with
            # tx.careful set, and the lookup below answers with the stored receipt (or 409).
            # Within one batch, the batch's own submits are remembered in tx.memo.
            batch: dict[str, tuple[str, bytes]] = tx.memo.setdefault("accepted", {})
            if header.msg_id in batch:
                return _repeat(*batch[header.msg_id], digest)
            if tx.careful:
                existing = await self.store.find_envelope(tx, header.msg_id)
                if existing is not None:
                    return _repeat(existing.envelope_sha256, existing.accepted_receipt, digest)
            if header.attachments:  # checks, then ties the files to this message
                if self.attachments is None:  # pragma: no cover - wired in relay.app
                    raise Forbidden("this relay does not accept attachments")
                await self.attachments.claim(tx, header)
            seq = await append_event(
                tx,
                Event(
                    "accepted",
                    now,
                    header.msg_id,
                    header.sender,
                    header.recipient,
                    envelope_sha256=digest,
                ),
            )
            receipt = issue_at(
                now,
                self.key,
                type="ACCEPTED",
                msg_id=header.msg_id,
                envelope_sha256=digest,
                issuer=RELAY_ID,
                leaf_index=seq,
            )
            receipt_bytes = receipt.to_bytes()
            self.store.insert_envelope(
                tx,
                msg_id=header.msg_id,
                sender=header.sender,
                recipient=header.recipient,
                priority=header.priority,
                created_at=header.created,
                expires_at=header.expires,
                accepted_at=now,
                overdue_at=overdue_at,
                envelope_sha256=digest,
                size=len(wire),
                header=envelope.header_bytes,
                envelope=wire,
                accepted_receipt=receipt_bytes,
                leaf_index=seq,
            )
            self._store_receipt(tx, receipt)
            self.store.add_inbox(tx, header.recipient, "envelope", header.msg_id, now, None)
            batch[header.msg_id] = (digest, receipt_bytes)
            first_deadline = overdue_at or header.expires
            tx.after_commit.append(lambda: self._accepted(envelope, seq, first_deadline))
            return SubmitResult(receipt_bytes, created=True)

        return await self.writer.run(op)

    def _accepted(self, envelope: Envelope, seq: int, deadline: datetime) -> None:
        h = envelope.header
        self.metrics.accepted.inc()
        self.metrics.receipts.labels(type="ACCEPTED").inc()
        self.on_deadline(deadline)
        log.info(
            "envelope.accepted",
            msg_id=h.msg_id,
            sender=h.sender,
            recipient=h.recipient,
            priority=h.priority,
            size=h.size,
            leaf_index=seq,
        )

    def _store_receipt(self, tx: Tx, receipt: SignedReceipt) -> str:
        r = receipt.receipt
        self.store.insert_receipt(
            tx,
            msg_id=r.msg_id,
            type=r.type,
            issuer=r.issuer,
            issued_at=r.issued,
            sha256=receipt.sha256,
            wire=receipt.to_bytes(),
        )
        return receipt.sha256

    async def _relay_receipt(
        self, tx: Tx, env: StoredEnvelope, type: str, now: datetime
    ) -> SignedReceipt:
        """Issue a relay receipt about ``env``, log it, and queue it for the sender."""
        receipt = issue_at(
            now,
            self.key,
            type=type,
            msg_id=env.msg_id,
            envelope_sha256=env.envelope_sha256,
            issuer=RELAY_ID,
        )
        receipt_sha = self._store_receipt(tx, receipt)
        await append_event(
            tx,
            Event(
                type.lower(),
                now,
                env.msg_id,
                env.sender,
                env.recipient,
                envelope_sha256=env.envelope_sha256,
                receipt_sha256=receipt.sha256,
            ),
        )
        self.store.add_inbox(tx, env.sender, "receipt", env.msg_id, now, receipt_sha)
        tx.after_commit.append(lambda: self.metrics.receipts.labels(type=type).inc())
        return receipt

    # Inbox -------------------------------------------------------------------------------

    async def inbox(self, caller: str, *, limit: int, wait: float) -> list[dict[str, Any]]:
        """``caller``'s oldest items; if there are none, wait up to ``wait`` seconds for one."""
        limit = longpoll.item_limit(limit, self.config.inbox_max_items)
        loop = asyncio.get_running_loop()
        deadline = longpoll.poll_deadline(loop.time(), wait, self.config.longpoll_max_seconds)
        while True:
            woken = self.notifier.event(caller)
            items = await self.store.inbox_items(caller, limit, self.config.inbox_max_bytes)
            remaining = longpoll.wait_or_answer(
                has_items=bool(items),
                deadline=deadline,
                now=loop.time(),
                closing=self.notifier.closed,
            )
            if remaining is None:
                for i in items:
                    self.tripwire.served(caller, i)
                return [_item_wire(i.id, i.kind, i.msg_id, i.data) for i in items]
            try:
                await asyncio.wait_for(woken.wait(), remaining)
            except TimeoutError:
                return []

    async def ack(self, caller: str, ids: list[int], now: datetime) -> AckResult:
        """Remove ``caller``'s items; a removed envelope is DELIVERED to its sender."""
        return await self.writer.run(self.ack_op(caller, ids, now))

    def ack_op(self, caller: str, ids: list[int], now: datetime) -> Operation[AckResult]:
        """The writer operation of :meth:`ack` (:mod:`relay.core.handover` runs it after
        the caller's receipts, in their transaction)."""

        async def op(tx: Tx) -> AckResult:
            taken = await self.store.take_inbox(tx, caller, ids) if ids else []
            for kind, msg_id in taken:
                if kind != "envelope":
                    continue
                env = await self.store.find_envelope(tx, msg_id)
                delivered = EnvelopeState.DELIVERED
                if env is not None and await self.store.finish(tx, msg_id, delivered, now):
                    await self._relay_receipt(tx, env, "DELIVERED", now)
                    tx.after_commit.append(partial(self._delivered, env, now))
            return AckResult(len(taken), len(ids) - len(taken))

        return op

    def _delivered(self, env: StoredEnvelope, now: datetime) -> None:
        self.metrics.delivered.inc()
        log.info(
            "envelope.delivered",
            msg_id=env.msg_id,
            sender=env.sender,
            recipient=env.recipient,
            priority=env.priority,
            waited_s=round((now - env.accepted_at).total_seconds(), 3),
        )

    # Node receipts -----------------------------------------------------------------------

    async def add_receipt(self, caller: str, body: bytes, now: datetime) -> bool:
        """Verify and store a receipt issued by ``caller``; forward it to the sender.

        A ``REJECTED`` receipt may name another envelope digest than the one accepted: the
        recipient refused bytes that were altered before it got them, and says so with the
        digest of what it got. It is stored, logged in the audit log with that digest, and
        forwarded like any other (the sender's timeline shows the envelope altered); the
        relay logs ``receipt.digest_differs`` at error level with both digests. Any other
        receipt must name the accepted digest.

        Returns:
            True if stored now, False if the same receipt was already stored.

        Raises:
            ValidationError: malformed, or not a node receipt type.
            Forbidden: the issuer is not the caller.
            Rejected: bad signature, issued in the future, or (not a REJECTED) about
                another envelope.
            NotFound: no such message for which the caller is the recipient.
            Conflict: another receipt of this type from the caller is stored
                (``receipt_exists``), or it contradicts one of another type
                (``receipt_contradicts``: :mod:`relay.core.receipt_rules`).
        """
        data = loads_strict(body, max_bytes=self.config.max_request_bytes, max_depth=2)
        return await self.writer.run(await self.receipt_op(caller, data, now))

    async def receipt_op(self, caller: str, data: Any, now: datetime) -> Operation[bool]:
        """Check the receipt ``data`` (a parsed wire object) issued by ``caller`` as far as
        no transaction is needed, and return the writer operation that stores and forwards
        it (:meth:`add_receipt`, or with a download confirmation by
        :mod:`relay.core.handover`). The operation returns :meth:`add_receipt`'s answer.

        Raises:
            The errors of :meth:`add_receipt`; ``Conflict`` from the operation itself.
        """
        if peek_issuer(data) != caller:
            raise Forbidden("you may issue receipts only in your own name")
        signed = verify_receipt(data, self.members.submission_key(caller, now, now))
        r = signed.receipt
        # The key valid at issued_at must still be the caller's key now (no backdating).
        self.members.submission_key(caller, r.issued, now)
        found = await self.store.envelope(r.msg_id) if r.type in NODE_TYPES else None
        verdict = check_node_receipt(
            r, caller=caller, envelope=found, now=now, clock_skew=self.limits.clock_skew
        )
        env, differs = verdict.envelope, verdict.digest_differs
        served = await self.store.envelope_bytes(env.msg_id) if differs else None

        async def op(tx: Tx) -> bool:
            existing = await self.store.find_receipt(tx, r.msg_id, r.type, r.issuer)
            if existing is not None:
                if existing[0] == signed.sha256:
                    return False
                raise Conflict(
                    f"you already sent another {r.type} receipt for this message",
                    code="receipt_exists",
                )
            earlier = []
            for other in sorted(NODE_TYPES - {r.type}):
                found = await self.store.find_receipt(tx, r.msg_id, other, r.issuer)
                if found is not None:
                    earlier.append((other, stated_digest(found[1])))
            why = contradiction(r.type, r.envelope_sha256, earlier)
            if why is not None:
                raise Conflict(
                    f"this receipt contradicts your earlier one: {why}",
                    code="receipt_contradicts",
                )
            receipt_sha = self._store_receipt(tx, signed)
            await append_event(
                tx,
                Event(
                    r.type.lower(),
                    now,
                    env.msg_id,
                    env.sender,
                    env.recipient,
                    envelope_sha256=r.envelope_sha256,  # what the receipt says
                    receipt_sha256=signed.sha256,
                ),
            )
            self.store.add_inbox(tx, env.sender, "receipt", env.msg_id, now, receipt_sha)
            tx.after_commit.append(lambda: self._node_receipt(env, r.type, r.reason))
            if differs:
                tx.after_commit.append(
                    lambda: self.tripwire.digest_differs(env, r.envelope_sha256, served)
                )
            return True

        return op

    def _node_receipt(self, env: StoredEnvelope, type: str, reason: str | None) -> None:
        self.metrics.receipts.labels(type=type).inc()
        log.info(
            f"receipt.{type.lower()}",
            msg_id=env.msg_id,
            sender=env.sender,
            recipient=env.recipient,
            reason=reason,
        )

    # Evidence ----------------------------------------------------------------------------

    async def evidence(self, caller: str, msg_id: str) -> dict[str, Any]:
        """The header, digest and receipts of a message, for its sender or recipient only,
        and whether the stored envelope is still the one accepted (``stored_envelope``:
        ``intact``, ``altered`` (also logged as ``envelope.corrupt``) or ``purged``).

        Raises:
            ValidationError: ``msg_id`` is not an id.
            NotFound: no such message, or the caller is neither its sender nor recipient.
        """
        validate_id(msg_id, "msg_id")
        env = await self.store.envelope(msg_id)
        if env is None or caller not in (env.sender, env.recipient):
            raise NotFound("no such message")
        wires = await self.store.receipts_for(msg_id)
        state = self.tripwire.evidence(env, await self.store.envelope_bytes(msg_id))
        return {
            "msg_id": msg_id,
            "header": json.loads(env.header),
            "envelope_sha256": env.envelope_sha256,
            "stored_envelope": state,
            "receipts": [json.loads(w) for w in wires],
        }

    # Deadlines ---------------------------------------------------------------------------

    async def next_deadline(self) -> datetime | None:
        return await self.store.next_deadline(timedelta(seconds=self.config.retention_seconds))

    async def process_deadlines(self, now: datetime) -> DeadlineResult:
        """Issue every EXPIRED and OVERDUE due at ``now`` and purge what retention allows."""
        total = DeadlineResult()
        batch = self.config.deadline_batch
        while True:
            done = await self.writer.run(lambda tx: self._deadlines_once(tx, now, batch))
            total = total + done
            if max(done.overdue, done.expired, done.purged) < batch:
                return total

    async def _deadlines_once(self, tx: Tx, now: datetime, batch: int) -> DeadlineResult:
        expired = await self.store.due_expired(tx, now, batch)
        for env in expired:
            await self.store.finish(tx, env.msg_id, EnvelopeState.EXPIRED, now)
            await self.store.remove_envelope_items(tx, env.msg_id)
            await self._relay_receipt(tx, env, "EXPIRED", now)
            tx.after_commit.append(partial(self._deadline_log, "delivery.expired", env, now))
        overdue = await self.store.due_overdue(tx, now, batch)
        for env in overdue:
            await self.store.clear_overdue(tx, env.msg_id)
            await self._relay_receipt(tx, env, "OVERDUE", now)
            tx.after_commit.append(partial(self._deadline_log, "delivery.overdue", env, now))
        before = now - timedelta(seconds=self.config.retention_seconds)
        purged = await self.store.due_purge(tx, before, batch)
        for env in purged:
            await self.store.purge(tx, env.msg_id)
            if self.attachments is not None:
                await self.attachments.purge(tx, env.msg_id)
            await append_event(
                tx,
                Event(
                    "retention_purge",
                    now,
                    env.msg_id,
                    env.sender,
                    env.recipient,
                    envelope_sha256=env.envelope_sha256,
                ),
            )
        unclaimed = (
            0 if self.attachments is None else await self.attachments.purge_unclaimed(tx, now)
        )
        if purged or unclaimed:
            tx.after_commit.append(
                lambda: log.info(
                    "retention.purged", envelopes=len(purged), unclaimed_chunks=unclaimed
                )
            )
        return DeadlineResult(len(overdue), len(expired), len(purged))

    def _deadline_log(self, event: str, env: StoredEnvelope, now: datetime) -> None:
        log.warning(
            event,
            msg_id=env.msg_id,
            sender=env.sender,
            recipient=env.recipient,
            priority=env.priority,
            waited_s=round((now - env.accepted_at).total_seconds(), 3),
        )

    # Directory ---------------------------------------------------------------------------

    async def install_members(self, members: Members, now: datetime) -> bool:
        """Use ``members`` from now on; log its version in the audit if it is new."""
        self.members = members
        version = members.version

        async def op(tx: Tx) -> bool:
            if await self.store.last_directory_version(tx) == version:
                return False
            await append_event(tx, Event("directory_installed", now, directory_version=version))
            return True

        installed = await self.writer.run(op)
        if installed:
            log.info("directory.installed", version=version, members=len(members.parties()))
        return installed


def _repeat(stored_sha256: str, receipt: bytes, digest: str) -> SubmitResult:
    """The answer to a msg_id seen before: its receipt again, or 409 for other bytes."""
    if stored_sha256 == digest:
        return SubmitResult(receipt, created=False)
    raise Conflict("this msg_id names another envelope", code="msg_id_reused")


def _item_wire(item_id: int, kind: str, msg_id: str, data: bytes) -> dict[str, Any]:
    if kind == "envelope":
        return {"id": str(item_id), "type": "envelope", "envelope": json.loads(data)}
    return {"id": str(item_id), "type": "receipt", "msg_id": msg_id, "receipt": json.loads(data)}

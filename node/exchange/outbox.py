"""The outbox: seal, commit, then submit; retry with backoff until ``ACCEPTED`` is held.

Order of work for each message, so that a crash (``kill -9``) at any point loses nothing
and sends nothing twice:

1. :meth:`Outbox.queue` seals the envelope and COMMITS it (state ``queued``) before any
   byte goes to the relay;
2. :meth:`Outbox.submit` posts the same stored bytes; the relay answers a resubmission of
   the same envelope with the same receipt, so a retry after a crash is harmless;
3. the ``ACCEPTED`` receipt is verified against the relay's key and committed with the new
   state ``accepted``.

:meth:`Outbox.flush` (the daemon, ``node flush``) submits queued envelopes
``FLUSH_CONCURRENCY`` at a time and commits the batch's verified ``ACCEPTED`` receipts in
one transaction: step 1 is already done for each of them, and a crash before the batch
commit only means resubmitting, which step 2 makes harmless. A freshly queued envelope is
due ``send_grace`` later (``[outbox] send_grace_seconds``): the daemon's due-only flush
leaves it to the ``node send`` that queued it and is submitting it, and steps in only if
that command died (or met an unreachable relay, which sets the backoff); ``node flush``
ignores the grace.

A transient failure (no answer, 5xx, 429) sets the next attempt after an exponential,
jittered delay capped per priority (:func:`node.exchange.retry.next_attempt`: an emergency
waits at most ``[outbox] retry_max_emergency`` seconds); a final refusal marks the message
``failed``. Queued envelopes go out emergency first, then urgent, then routine, and
``flush(now, wake=True)`` (the daemon, when the relay answers again) retries every envelope
that failed before without waiting for its backoff. Receipts
this node issues (``RETRIEVED``, ``ACKNOWLEDGED``, ``REJECTED``) go through the same
retry machinery (:meth:`Outbox.post_receipts`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from keys import receipts
from keys.encoding import canonical, format_time
from keys.envelope import Message, seal_at
from keys.errors import NotFound, PocnetError, Rejected
from keys.identities import RELAY_ID
from node.exchange.context import Exchange
from node.exchange.retry import RetryPolicy, next_attempt
from node.forms import ValidatedForm
from node.relayapi.misconfig import RelayConfigError
from node.relayapi.transport import RelayRateLimited, is_transient
from node.storage.records import StoredMessage, StoredReceipt
from node.storage.states import OUTBOX, InboxState, OutboxState

RECEIPT_CONCURRENCY = 8
# Queued envelopes submitted at once by a flush; their ACCEPTED receipts are committed in
# one transaction (one fsync) per batch. A batch also bounds the wasted wait when the
# relay is down: one round of timeouts, not one per queued envelope.
FLUSH_CONCURRENCY = 8


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    ``delay(n)`` for the n-th failed attempt lies in ``[d/2, d]`` where
    ``d = min(cap, base * 2**(n-1))``.
    """

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        exp = min(self.cap, self.base * float(2 ** max(0, min(attempts - 1, 30))))
        return exp / 2 + rand() * exp / 2


@dataclass
class FlushReport:
    """What one pass over the outbox did."""

    accepted: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    receipts_posted: int = 0
    receipts_pending: int = 0
    unreachable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "retrying": self.retrying,
            "failed": self.failed,
            "receipts_posted": self.receipts_posted,
            "receipts_pending": self.receipts_pending,
            "relay_reachable": not self.unreachable,
        }


def message_row(
    *,
    direction: str,
    counterpart: str,
    envelope_bytes: bytes,
    envelope_sha256: str,
    message: Message,
    message_bytes: bytes,
    expires_at: str,
    state: OutboxState | InboxState,
    now: str,
    next_attempt_at: str | None = None,
) -> dict[str, Any]:
    """The ``messages`` row of a sealed or opened message.

    A queued row is due at ``next_attempt_at`` (``now`` when not given).
    """
    reference = message.body.get("reference")
    return {
        "msg_id": message.msg_id,
        "direction": direction,
        "counterpart": counterpart,
        "kind": message.kind,
        "priority": message.priority,
        "conversation_id": message.conversation_id,
        "in_reply_to": message.in_reply_to,
        "created_at": message.created_at,
        "expires_at": expires_at,
        "reference": str(reference)[:200] if isinstance(reference, str) else None,
        "envelope": envelope_bytes,
        "envelope_sha256": envelope_sha256,
        "message": message_bytes,
        "state": state.value,
        "attempts": 0,
        "next_attempt_at": (next_attempt_at or now) if state == OutboxState.QUEUED else None,
        "stored_at": now,
    }


@dataclass(kw_only=True, eq=False, repr=False)
class Outbox(Exchange):
    """Sealing, durable queueing and submission of this node's envelopes and receipts.

    Attributes:
        backoff: the delays between attempts to post receipts (and envelopes, when
            ``retry`` is not given).
        retry: the delays between attempts to submit envelopes, capped per priority.
        ttl: the lifetime of the envelopes it seals.
        rand: the jitter's randomness.
        concurrency: queued envelopes a flush submits at once (1: one after the other).
        send_grace: how long after :meth:`queue` a due-only :meth:`flush` (the daemon)
            leaves a fresh envelope to the command that queued it and submits it at once
            (``node send``); it steps in only if that command died first.
    """

    backoff: Backoff
    retry: RetryPolicy | None = None
    ttl: timedelta = timedelta(days=30)
    rand: Callable[[], float] = random.random
    concurrency: int = FLUSH_CONCURRENCY
    send_grace: timedelta = timedelta(0)

    async def queue(
        self,
        recipient: str,
        form: ValidatedForm,
        now: datetime,
        *,
        conversation_id: str | None = None,
        in_reply_to: str | None = None,
        grace: timedelta | None = None,
    ) -> StoredMessage:
        """Seal ``form`` to ``recipient`` and commit it; nothing is sent yet.

        The envelope's first attempt is due ``grace`` after ``now`` (``send_grace`` when
        not given): the caller submits it itself meanwhile; ``flush(everything=True)``
        ignores the grace.

        Raises:
            NotFound: the recipient's encryption key is not known.
            ValidationError, TooLarge: the message cannot be sealed.
        """
        sealed = seal_at(
            now,
            signing_key=self.keystore.signing_key,
            recipient_key=self.peers.encryption_key_for(recipient, now),
            sender=self.party,
            recipient=recipient,
            kind=form.kind,
            body=form.body,
            priority=form.priority,
            language=form.language,
            conversation_id=conversation_id,
            in_reply_to=in_reply_to,
            ttl=self.ttl,
        )
        env = sealed.envelope
        stamp = format_time(now)
        row = message_row(
            direction="out",
            counterpart=recipient,
            envelope_bytes=env.to_bytes(),
            envelope_sha256=env.sha256,
            message=sealed.message,
            message_bytes=canonical(sealed.message.to_dict()),
            expires_at=env.header.expires_at,
            state=OUTBOX.initial,
            now=stamp,
            next_attempt_at=format_time(now + (self.send_grace if grace is None else grace)),
        )
        await self.store.add_message(row, sealed.signature)
        self.log.info(
            "outbox.queued",
            msg_id=env.header.msg_id,
            recipient=recipient,
            kind=form.kind,
            priority=form.priority,
        )
        return StoredMessage.from_row(
            {
                **row,
                "last_error": None,
                "acknowledged_at": None,
                "alerted_at": None,
                "ack_warned_at": None,
            }
        )

    async def _verify_accepted(
        self, msg: StoredMessage, wire: receipts.Wire, now: datetime
    ) -> receipts.SignedReceipt:
        if not self.peers.knows(RELAY_ID):
            await self.peers.refresh(self.transport, now)
        signed = self.peers.verify_receipt(wire)  # the relay's key valid at issued_at
        r = signed.receipt
        if r.type != "ACCEPTED" or r.msg_id != msg.msg_id or r.issuer != RELAY_ID:
            raise Rejected("accepted_mismatch")
        if r.envelope_sha256 != msg.envelope_sha256:
            raise Rejected("accepted_digest")
        return signed

    async def _attempt(
        self, msg: StoredMessage, now: datetime
    ) -> tuple[receipts.SignedReceipt, bool] | PocnetError:
        """Post the stored bytes and verify the ACCEPTED; nothing is written here.

        Returns the verified receipt and whether the relay stored the envelope anew, or
        the error of a failed attempt.
        """
        try:
            result = await self.transport.submit(msg.envelope)
            signed = await self._verify_accepted(msg, result.receipt, now)
        except PocnetError as e:
            return e
        return signed, result.created

    def _log_accepted(self, msg: StoredMessage, created: bool) -> None:
        self.log.info(
            "outbox.accepted",
            msg_id=msg.msg_id,
            recipient=msg.counterpart,
            attempts=msg.attempts + 1,
            resubmitted=not created,
        )

    async def submit(self, msg: StoredMessage, now: datetime) -> str:
        """Submit one queued envelope; returns ``accepted``, ``retrying`` or ``failed``.

        Transient failures become ``retrying`` (next attempt after the backoff delay); a
        final refusal by the relay becomes ``failed``. Nothing is raised for either.
        """
        return (await self.submit_explained(msg, now))[0]

    async def submit_explained(
        self, msg: StoredMessage, now: datetime
    ) -> tuple[str, PocnetError | None]:
        """As :meth:`submit`, with the error of a failed attempt (for the CLI's message)."""
        outcome = await self._attempt(msg, now)
        if isinstance(outcome, PocnetError):
            return await self._failed_attempt(msg, outcome, now), outcome
        signed, created = outcome
        await self.store.mark_accepted(msg.msg_id, signed, format_time(now))
        self._log_accepted(msg, created)
        return "accepted", None

    async def submit_batch(self, batch: list[StoredMessage], now: datetime) -> list[str]:
        """Submit stored envelopes concurrently; commit every verified ACCEPTED in one
        transaction. Returns each one's outcome (as :meth:`submit`), in ``batch`` order.

        Every envelope in ``batch`` was committed before (read back from the store); an
        ACCEPTED lost to a crash before the batch commit is harmless: the envelope stays
        queued and its resubmission gets the same receipt.
        """
        results = await asyncio.gather(*(self._attempt(m, now) for m in batch))
        accepted = [
            (m.msg_id, r[0]) for m, r in zip(batch, results, strict=True) if isinstance(r, tuple)
        ]
        if accepted:
            await self.store.mark_accepted_many(accepted, format_time(now))
        outcomes: list[str] = []
        for msg, result in zip(batch, results, strict=True):
            if isinstance(result, PocnetError):
                outcomes.append(await self._failed_attempt(msg, result, now))
            else:
                self._log_accepted(msg, result[1])
                outcomes.append("accepted")
        return outcomes

    async def _failed_attempt(self, msg: StoredMessage, error: PocnetError, now: datetime) -> str:
        reason = getattr(error, "reason", error.code)
        # A configuration error (DNS, TLS, wrong URL, our key refused) keeps the envelope
        # queued too: it goes out once the setting is fixed.
        keep = isinstance(error, NotFound | RelayConfigError) or _bad_accepted(error)
        if is_transient(error) or keep:
            attempts = msg.attempts + 1
            hint = error.retry_after if isinstance(error, RelayRateLimited) else None
            when = next_attempt(
                msg.priority,
                attempts,
                now,
                policy=self.retry_policy,
                jitter=self.rand(),
                retry_after=hint,
            )
            delay = (when - now).total_seconds()
            next_at = format_time(when)
            await self.store.mark_retry(
                msg.msg_id, attempts=attempts, next_at=next_at, error=error.code
            )
            self.log.warning(
                "outbox.retry",
                msg_id=msg.msg_id,
                attempts=attempts,
                delay_s=round(delay, 3),
                priority=msg.priority,
                error=error.code,
                reason=reason,
            )
            return "retrying"
        await self.store.mark_failed(msg.msg_id, f"{error.code}: {error.message}")
        self.log.error("outbox.refused", msg_id=msg.msg_id, error=error.code, reason=reason)
        return "failed"

    @property
    def retry_policy(self) -> RetryPolicy:
        """The envelopes' retry delays (``retry``, else ``backoff`` for every priority)."""
        if self.retry is not None:
            return self.retry
        cap = self.backoff.cap
        return RetryPolicy(self.backoff.base, {"emergency": cap, "urgent": cap, "routine": cap})

    async def _due(self, stamp: str, wake: bool) -> list[StoredMessage]:
        if not wake or not stamp:
            return await self.store.due_outgoing(stamp, limit=100)
        # Woken because the relay answers again: what failed before goes now, whatever its
        # backoff said; a fresh envelope still in its grace is left to its 'node send'.
        queued = await self.store.due_outgoing("", limit=1000)
        return [
            m
            for m in queued
            if m.attempts > 0
            or m.next_attempt_at is None
            or format_time(m.next_attempt_at) <= stamp
        ]

    async def flush(
        self, now: datetime, *, everything: bool = False, wake: bool = False
    ) -> FlushReport:
        """Submit every due queued envelope (all of them with ``everything``; with ``wake``,
        also those that failed before and wait for their backoff), emergency first, then
        urgent, then routine, oldest first within each, ``concurrency`` at a time, then
        post pending receipts. Stops after the first batch with an "unreachable" answer:
        the rest wait."""
        report = FlushReport()
        stamp = "" if everything else format_time(now)
        seen: set[str] = set()
        size = max(1, self.concurrency)
        while not report.unreachable:
            due = await self._due(stamp, wake)
            due = [m for m in due if m.msg_id not in seen]
            if not due:
                break
            for start in range(0, len(due), size):
                batch = due[start : start + size]
                outcomes = await self.submit_batch(batch, now)
                for msg, outcome in zip(batch, outcomes, strict=True):
                    seen.add(msg.msg_id)
                    getattr(report, outcome).append(msg.msg_id)
                if "retrying" in outcomes:
                    report.unreachable = True
                    break
        if not report.unreachable:
            await self.post_receipts(now, report, everything=everything or wake)
        report.receipts_pending = len(await self.store.pending_receipts(""))
        return report

    async def post_receipts(
        self, now: datetime, report: FlushReport | None = None, *, everything: bool = False
    ) -> FlushReport:
        """Post receipts this node issued that the relay does not hold yet, a few at a
        time; stop at the first one the relay does not answer."""
        report = report or FlushReport()
        stamp = "" if everything else format_time(now)
        pending = await self.store.pending_receipts(stamp, limit=500)
        for start in range(0, len(pending), RECEIPT_CONCURRENCY):
            chunk = pending[start : start + RECEIPT_CONCURRENCY]
            results = await asyncio.gather(*(self._post_one(item, now) for item in chunk))
            report.receipts_posted += sum(results)
            if not all(results):
                report.unreachable = True
                break
        return report

    async def _post_one(self, item: StoredReceipt, now: datetime) -> bool:
        try:
            await self.transport.post_receipt(item.wire)
        except PocnetError as e:
            if is_transient(e):
                attempts = item.attempts + 1
                delay = self.backoff.delay(attempts, self.rand)
                await self.store.mark_receipt_retry(
                    item.id, attempts=attempts, next_at=format_time(now + timedelta(seconds=delay))
                )
                self.log.warning(
                    "receipt.post_retry", msg_id=item.msg_id, type=item.type, error=e.code
                )
                return False
            # Refused for good (e.g. the relay no longer holds the envelope): keep the
            # receipt locally as issued, stop retrying.
            self.log.error("receipt.post_refused", msg_id=item.msg_id, type=item.type, error=e.code)
        await self.store.mark_receipt_posted(item.id)
        return True


def _bad_accepted(error: PocnetError) -> bool:
    """An ACCEPTED that does not verify: keep the envelope queued and try again later."""
    return isinstance(error, Rejected) and error.reason in (
        "accepted_mismatch",
        "accepted_digest",
        "receipt_signature",
        "receipt_malformed",
        "receipt_unknown_issuer",
        "relay_key_unknown",
    )

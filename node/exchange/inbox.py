"""Handling what arrives from the relay: envelopes for us, receipts about our messages.

For each envelope, in this order (a crash between any two steps is harmless):

1. skip it if its ``msg_id`` is already stored (the relay delivers at least once; the
   officer sees each message once) or this exact envelope was already rejected;
2. open it (:func:`keys.envelope.open_signed_at`, with a ``seen`` check against the store);
3. commit the message together with the ``RETRIEVED`` receipt to post, or the rejection
   together with a ``REJECTED`` receipt (reason code only);
4. raise an alert for urgent and emergency items;
5. post the receipts (the sender learns at once), then acknowledge the download
   (``POST /v1/inbox/ack``: the relay issues ``DELIVERED``).

Receipts about our own messages are verified (relay receipts with the relay's key, node
receipts with the issuer's key, who must be the message's recipient) before they are kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys import receipts
from keys.encoding import canonical, format_time
from keys.envelope import Envelope, Opened, open_signed_at
from keys.errors import PocnetError, Rejected, ValidationError
from keys.identities import RELAY_ID
from keys.limits import ProtocolLimits
from node.exchange.alerts import Alert, Alerter
from node.exchange.context import Exchange
from node.exchange.outbox import Outbox, message_row
from node.exchange.triage import Triage, rejection_reason, triage
from node.relayapi.transport import InboxItem
from node.storage.states import INBOX

ALERT_PRIORITIES = ("urgent", "emergency")
# What the sender learns about a failed opening: crypto failures look the same.
_SENT_REASON = {
    "outer_signature": "verification_failed",
    "inner_signature": "verification_failed",
    "decrypt": "verification_failed",
    "truncated": "verification_failed",
    "header_mismatch": "verification_failed",
    "inner_malformed": "verification_failed",
    "unknown_sender": "unknown_sender",
    "sender_inactive": "unknown_sender",
    "unknown_enc_key": "unknown_key",
    "enc_key_retired": "unknown_key",
    "wrong_recipient": "wrong_recipient",
    "expired": "expired",
    "lifetime": "expired",
    "future": "clock_skew",
    "too_large": "malformed",
    "malformed": "malformed",
    "version": "malformed",
}


def sent_reason(reason: str) -> str:
    """The reason code written in a ``REJECTED`` receipt for an internal reason."""
    return _SENT_REASON.get(reason, "verification_failed")


@dataclass
class InboxReport:
    """What one batch of inbox items did."""

    received: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    duplicates: int = 0
    receipts: int = 0
    ignored: int = 0
    acked: int = 0


@dataclass(kw_only=True, eq=False, repr=False)
class Inbox(Exchange):
    """Opens, verifies, stores and acknowledges inbox items.

    Attributes:
        outbox: posts the receipts the inbox issues.
        alerter: tells the officer about urgent items and refused requests.
        limits: the protocol's limits (clock skew, sizes) for opening envelopes.
    """

    outbox: Outbox
    alerter: Alerter
    limits: ProtocolLimits
    _seen: set[str] = field(default_factory=set, init=False)

    async def handle(self, items: list[InboxItem], now: datetime) -> InboxReport:
        """Process a batch, acknowledge it, then post the receipts it produced."""
        report = InboxReport()
        self._seen = set()
        done: list[str] = []
        refreshed = False
        for item in items:
            if item.type == "envelope":
                refreshed = await self._envelope(item, now, report, refreshed)
            else:
                await self._receipt(item, now, report)
            done.append(item.id)
        # RETRIEVED / REJECTED first (the sender learns at once that its request was
        # opened and verified), then the download confirmation (the relay's DELIVERED).
        # Both are committed here already; an unanswered ack is raised, and the items,
        # delivered again, are skipped as already stored.
        if report.received or report.rejected:
            await self.outbox.post_receipts(now)
        if done:
            report.acked = await self.transport.ack(done)
        return report

    # -- envelopes ----------------------------------------------------------------------

    async def _envelope(
        self, item: InboxItem, now: datetime, report: InboxReport, refreshed: bool
    ) -> bool:
        assert item.envelope is not None
        try:
            env = Envelope.parse(item.envelope, self.limits)
        except (ValidationError, PocnetError) as e:
            report.ignored += 1
            self.log.error("inbox.unreadable", item=item.id, error=e.code)
            sha = _sha_of(item.envelope)
            await self.store.add_rejection(
                _rejection_row(sha, None, None, "unreadable", None, now), None, format_time(now)
            )
            return refreshed
        header = env.header
        stored = await self.store.has_message(header.msg_id)
        decision = triage(
            stored=stored,
            rejected_before=not stored and await self.store.was_rejected(env.sha256),
            sender_known=self.peers.knows(header.sender),
            key_usable=header.enc_key_id in self._decryption_keys(now),  # a newer directory?
            refreshed=refreshed,
        )
        if decision in (Triage.STORED, Triage.REJECTED_BEFORE):
            report.duplicates += 1
            if decision is Triage.STORED:
                self.log.info("inbox.duplicate", msg_id=header.msg_id, sender=header.sender)
            return refreshed
        if decision is Triage.REFRESH_THEN_OPEN:
            refreshed = True
            try:
                await self.peers.refresh(self.transport, now)
            except PocnetError as e:
                self.log.warning("peers.refresh_failed", error=e.code)
        try:
            opened = open_signed_at(
                now,
                env,
                me=self.party,
                sender_keys=self.peers,
                decryption_keys=self._decryption_keys(now),
                seen=self._seen.__contains__,
                limits=self.limits,
            )
        except Rejected as e:
            reason = rejection_reason(
                e.reason,
                enc_key_id=header.enc_key_id,
                own_key_ids=self.keystore.decryption_keys().keys(),
            )
            if reason is None:
                report.duplicates += 1
                return refreshed
            await self._reject(env, reason, now, report)
            return refreshed
        await self._store_received(env, opened, now, report)
        return refreshed

    def _issue(
        self, type: str, env: Envelope, now: datetime, reason: str | None = None
    ) -> receipts.SignedReceipt:
        """A receipt about ``env`` signed by this node."""
        return receipts.issue_at(
            now,
            self.keystore.signing_key,
            type=type,
            msg_id=env.header.msg_id,
            envelope_sha256=env.sha256,
            issuer=self.party,
            reason=reason,
        )

    async def _store_received(
        self, env: Envelope, opened: Opened, now: datetime, report: InboxReport
    ) -> None:
        message = opened.message
        stamp = format_time(now)
        retrieved = self._issue("RETRIEVED", env, now)
        row = message_row(
            direction="in",
            counterpart=message.sender,
            envelope_bytes=env.to_bytes(),
            envelope_sha256=env.sha256,
            message=message,
            message_bytes=canonical(message.to_dict()),
            expires_at=env.header.expires_at,
            state=INBOX.initial,
            now=stamp,
        )
        if not await self.store.add_incoming(row, retrieved, stamp, opened.signature):
            report.duplicates += 1
            return
        self._seen.add(message.msg_id)
        report.received.append(message.msg_id)
        self.log.info(
            "inbox.received",
            msg_id=message.msg_id,
            sender=message.sender,
            kind=message.kind,
            priority=message.priority,
        )
        if message.priority in ALERT_PRIORITIES:
            await self.alerter.raise_alert(
                Alert(
                    type="incoming",
                    msg_id=message.msg_id,
                    kind=message.kind,
                    priority=message.priority,
                    counterpart=message.sender,
                    at=stamp,
                    content=dict(message.body),
                )
            )
            await self.store.set_fields(message.msg_id, alerted_at=stamp)

    async def _reject(self, env: Envelope, reason: str, now: datetime, report: InboxReport) -> None:
        header = env.header
        code = sent_reason(reason)
        rejected = self._issue("REJECTED", env, now, code)
        row = _rejection_row(env.sha256, header.msg_id, header.sender, reason, code, now)
        if await self.store.add_rejection(row, rejected, format_time(now)):
            report.rejected.append(header.msg_id)
            self.log.warning(
                "inbox.rejected",
                msg_id=header.msg_id,
                sender=header.sender,
                reason=reason,
                sent_reason=code,
            )

    # -- receipts about our messages -----------------------------------------------------

    async def _receipt(self, item: InboxItem, now: datetime, report: InboxReport) -> None:
        assert item.receipt is not None
        try:
            signed = self._verify_receipt(item.receipt, now)
            msg = await self.store.get_message(signed.receipt.msg_id)
            r = signed.receipt
            if msg.direction != "out" or r.issuer not in (RELAY_ID, msg.counterpart):
                raise Rejected("receipt_not_ours")
        except PocnetError as e:
            report.ignored += 1
            self.log.warning(
                "receipt.ignored",
                item=item.id,
                msg_id=item.msg_id,
                reason=getattr(e, "reason", e.code),
            )
            return
        stored = await self.store.add_receipt(
            signed, origin="relay" if r.issuer == RELAY_ID else "peer", now=format_time(now)
        )
        if not stored:
            report.duplicates += 1
            return
        report.receipts += 1
        mismatch = r.envelope_sha256 != msg.envelope_sha256
        (self.log.warning if mismatch or r.type == "REJECTED" else self.log.info)(
            "receipt.stored",
            msg_id=r.msg_id,
            type=r.type,
            issuer=r.issuer,
            reason=r.reason,
            digest_matches=not mismatch,
        )
        if r.type == "REJECTED" or (r.type in ("OVERDUE", "EXPIRED") and msg.priority != "routine"):
            await self.alerter.raise_alert(
                Alert.about(
                    msg,
                    "rejected" if r.type == "REJECTED" else "not_acknowledged",
                    format_time(now),
                    {
                        "receipt": r.type,
                        "reason": r.reason,
                        "digest_matches": not mismatch,
                        "phone": self.peers.contact_phone(msg.counterpart),
                    },
                )
            )

    def _verify_receipt(self, wire: receipts.Wire, now: datetime) -> receipts.SignedReceipt:
        return self.peers.verify_receipt(wire)  # the issuer's key valid at issued_at

    def _decryption_keys(self, now: datetime) -> dict[str, Any]:
        """Our private keys that may decrypt at ``now``: with the signed directory, only
        those it lists as valid for us then (the current one and those in overlap)."""
        keys = self.keystore.decryption_keys()
        allowed = self.peers.decryption_key_ids(self.party, now)
        return keys if allowed is None else {k: v for k, v in keys.items() if k in allowed}


def _sha_of(obj: Any) -> str:
    try:
        return hashlib.sha256(canonical(obj)).hexdigest()
    except PocnetError:
        return hashlib.sha256(repr(obj).encode()).hexdigest()


def _rejection_row(
    sha: str, msg_id: str | None, sender: str | None, reason: str, sent: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "envelope_sha256": sha,
        "msg_id": msg_id,
        "sender": sender,
        "reason": reason,
        "sent_reason": sent,
        "received_at": format_time(now),
    }

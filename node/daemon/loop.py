"""``node run``: the daemon.

These loops share one :class:`node.runtime.Node`:

- **inbox**: holds a long-poll to the relay (``GET /v1/inbox?wait=...``; no fixed-interval
  polling) and hands what arrives to :class:`node.exchange.inbox.Inbox`, whose
  acknowledgement (with the receipts it issued) long-polls for the next items in the same
  request (``POST /v1/inbox/ack`` with ``wait``); when the relay does not
  answer it reconnects with exponential, jittered backoff (at most
  ``outbox.probe_interval`` apart while an emergency or urgent envelope waits), probing
  with an immediate (``wait=0``) request, and the moment the relay answers again wakes the
  outbox to retry everything that failed, emergencies first;
- **outbox**: submits queued envelopes and posts issued receipts, sleeping until the next
  attempt is due (or ``outbox.scan_interval``, to see work queued by ``node send``); an
  envelope queued by ``node send`` is due only ``outbox.send_grace_seconds`` later, so the
  daemon submits it only if that command died before the relay answered;
- **watch**: every ``alerts.watch_interval`` seconds, warns about urgent requests not
  acknowledged in time and preservations ending;
- **directory**: fetches the signed directory every ``relay.directory_refresh`` seconds
  (sooner, with backoff, after a failure) and applies it (:mod:`node.trust.directory`). While
  there is no trusted directory, or it has expired, the inbox loop leaves envelopes at the
  relay rather than open them with keys it cannot trust;
- **audit**: every ``audit.check_interval`` seconds, and as soon as receipts arrive, checks
  the relay's audit log (:class:`node.audit.auditor.Auditor`: checkpoint consistency, inclusion of
  the receipts about our messages);
- **statistics** (when ``[statistics] secretariat`` is set): from ``send_day`` of each
  month, sends last month's signed statistics report to the secretariat, once
  (:mod:`node.daemon.statistics`).

The clock against the relay's (``relay.clock``: the offset in seconds, the relay's
signature window, whether the offset is within it) is logged at start, when the relay
answers again after failures, and when it refuses a request's time (``stale``): a
warning when the clock is more than a few seconds off or outside the window.

SIGTERM and SIGINT set the stop event; each loop finishes the item in hand and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from keys.encoding import format_time, parse_time
from keys.errors import PocnetError
from keys.host.command import version
from keys.host.files import keystore_is_encrypted
from node.audit.auditor import auditor_for
from node.daemon.clock import log_reading, relay_clock_probe
from node.daemon.metrics import MetricsServer, NodeMetrics, refresh
from node.daemon.statistics import report_due, send_report, sent_periods
from node.daemon.watch import (
    check_acknowledgements,
    check_directory,
    check_preservations,
    check_reminders,
)
from node.exchange.alerts import Alert
from node.exchange.downloads import downloader_for
from node.exchange.escalation import back_id, unreachable_id
from node.exchange.outbox import Backoff
from node.relayapi.probe import ClockReading
from node.relayapi.transport import ClockOff, InboxItem, is_transient
from node.runtime import Node

T = TypeVar("T")
AUDIT_MIN_GAP = 0.5
"""Seconds between two audit passes at least."""
STATISTICS_CHECK = 3600.0
"""Seconds between two checks whether the monthly statistics report is due."""
AUDIT_SETTLE = 1.0
"""Seconds a message's newest receipt waits before it is checked, so that receipts
arriving together are proven with one evidence request."""


async def pause(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep up to ``seconds``, returning early when ``stop`` (or ``wake``) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> tuple[bool, T | None]:
    """Run ``work`` unless ``stop`` is set first (then ``work`` is cancelled)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, PocnetError):
        await task
    return False, None


class Daemon:
    """The node's long-running loops."""

    def __init__(
        self,
        node: Node,
        *,
        reconnect: Backoff | None = None,
        clock_probe: Callable[[], Awaitable[ClockReading]] | None = None,
    ) -> None:
        self.node = node
        self.clock_probe = clock_probe  # None: the clock is not compared
        relay = node.config.relay
        self.reconnect = reconnect or Backoff(relay.reconnect_base, relay.reconnect_max)
        self.outbox_wake = asyncio.Event()
        # Set on reconnection: the next outbox pass retries what failed, ignoring backoff.
        self.retry_now = False
        self.down_since: datetime | None = None  # the relay's current outage began then
        self.outage_alerted = False
        self.audit_wake = asyncio.Event()
        self.attachments_wake = asyncio.Event()
        self.auditor = auditor_for(node)
        self.log = node.log
        settings = node.config.metrics
        self.metrics = (
            NodeMetrics(node.config.party, version(), node.clock()) if settings.enabled else None
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""
        node = self.node
        encrypted = keystore_is_encrypted(node.config.keystore_path)
        self.log.info(
            "daemon.started",
            party=node.config.party,
            relay=", ".join(node.config.relay.endpoints),
            keystore_encrypted=encrypted,
            **await node.store.counts(),
        )
        if not encrypted:
            self.log.warning(
                "keystore.unencrypted",
                path=str(node.config.keystore_path),
                advice="the private keys are stored without a passphrase (chosen at init)",
            )
        if node.peers.mode != "directory":
            self.log.warning(
                "directory.not_pinned",
                mode=node.peers.mode,
                advice="DEVELOPMENT MODE: no secretariat root is pinned, so other parties' "
                "keys are trusted on first sight from the relay's list; pin the root with "
                "'node directory pin ROOT.json'",
            )
        await self.check_clock("start")
        await self._refresh_directory()
        self.outbox_wake.set()
        tasks = [
            asyncio.create_task(self.inbox_loop(stop), name="inbox"),
            asyncio.create_task(self.outbox_loop(stop), name="outbox"),
            asyncio.create_task(self.watch_loop(stop), name="watch"),
            asyncio.create_task(self.directory_loop(stop), name="directory"),
            asyncio.create_task(self.audit_loop(stop), name="audit"),
            asyncio.create_task(self.attachments_loop(stop), name="attachments"),
        ]
        if node.config.statistics.secretariat:
            tasks.append(asyncio.create_task(self.statistics_loop(stop), name="statistics"))
        server = None
        if self.metrics is not None:
            settings = node.config.metrics
            server = MetricsServer(self.metrics, settings.host, settings.port)
            self.log.info("metrics.listening", host=settings.host, port=settings.port)
            tasks.append(asyncio.create_task(self.metrics_loop(stop), name="metrics"))
        stopper = asyncio.create_task(stop.wait())
        failed: BaseException | None = None
        try:
            await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()  # a loop that ended on its own stops the others
            await asyncio.gather(stopper, *tasks, return_exceptions=True)
            if server is not None:
                await asyncio.to_thread(server.close)
            for t in tasks:
                if not t.cancelled() and t.exception() is not None:
                    failed = t.exception()
                    # Type and code only: an exception's text may quote what it failed on.
                    self.log.error(
                        "daemon.loop_failed",
                        loop=t.get_name(),
                        error_type=type(failed).__name__,
                        error=failed.code if isinstance(failed, PocnetError) else None,
                    )
            self.log.info("daemon.stopped", party=node.config.party)
        if failed is not None:
            raise failed

    async def check_clock(self, when: str) -> ClockReading | None:
        """Compare this machine's clock with the relay's and log it (``relay.clock``,
        :func:`node.daemon.clock.log_reading`); the reading, or None when there is no
        probe or the relay did not answer it."""
        if self.clock_probe is None:
            return None
        try:
            reading = await self.clock_probe()
        except PocnetError as e:
            self.log.info("relay.clock_unknown", when=when, error=e.code)
            return None
        log_reading(self.log, reading, when)
        return reading

    async def _refresh_directory(self) -> bool:
        """Fetch and apply the directory; False if the relay could not be asked."""
        try:
            report = await self.node.peers.refresh(self.node.transport, self.node.clock())
        except PocnetError as e:
            self.log.warning("directory.refresh_failed", error=e.code, detail=e.message[:200])
            return False
        if report.rejected is None:  # a refused file was logged as directory.rejected
            self.log.info("directory.refreshed", **report.to_dict())
        return True

    async def directory_loop(self, stop: asyncio.Event) -> None:
        """Refresh every ``relay.directory_refresh`` seconds; after a failure, retry with
        backoff (never later than the regular refresh)."""
        every = float(self.node.config.relay.directory_refresh)
        failures = 0
        while not stop.is_set():
            delay = every if not failures else min(every, self.reconnect.delay(failures))
            await pause(stop, delay)
            if stop.is_set():
                return
            failures = 0 if await self._refresh_directory() else failures + 1

    async def _hold_inbox(self, stop: asyncio.Event, held: str | None) -> str | None:
        """Why envelopes must wait at the relay now (no trusted directory, or an expired
        one), or None. Logged at error level once per cause; the directory is refreshed
        while holding."""
        node = self.node
        await node.peers.sync()
        reason = node.peers.unusable(node.clock())
        if reason is None:
            if held is not None:
                self.log.info("inbox.resumed", after=held)
            return None
        if reason != held:
            self.log.error(
                "inbox.held",
                reason=reason,
                advice="envelopes stay at the relay until this node holds a valid signed "
                "directory: see 'node directory show' and directory.rejected events",
            )
        await self._refresh_directory()
        if node.peers.unusable(node.clock()) is not None:
            await pause(stop, self.reconnect.cap)
        return reason

    async def inbox_loop(self, stop: asyncio.Event) -> None:
        node = self.node
        failures = 0
        held: str | None = None
        carried: list[InboxItem] | None = None  # answered with the last acknowledgement
        polled = False
        while not stop.is_set():
            try:
                held = await self._hold_inbox(stop, held)
                if held is not None:
                    carried = None  # they stay at the relay, unacknowledged
                    continue
                # At start and after a failure, probe at once (wait=0): the relay's answer
                # is known (and the outbox woken, the metrics told) the moment it comes,
                # not after a long-poll.
                wait = 0 if failures or not polled else node.config.relay.long_poll_wait
                polled = True
                limit = node.config.relay.inbox_batch
                items: list[InboxItem] | None = carried
                carried = None
                if items is None:
                    done, items = await unless_stopped(
                        stop, node.transport.inbox(wait=wait, limit=limit)
                    )
                    if not done:
                        return
                if self.metrics is not None:
                    self.metrics.answered(node.clock())
                if failures:
                    self.log.info("relay.reconnected", after_failures=failures)
                    failures = 0
                    await self._relay_back()
                    await self.check_clock("reconnected")
                    self.retry_now = True
                    self.outbox_wake.set()
                if items:
                    await node.peers.sync()  # a version stored by 'node directory refresh'
                    report = await node.inbox.handle(items, node.clock(), acknowledge=False)
                    if report.receipts:
                        self.audit_wake.set()
                    if report.received:
                        self.attachments_wake.set()
                    self.log.debug(
                        "inbox.batch",
                        received=len(report.received),
                        rejected=len(report.rejected),
                        receipts=report.receipts,
                        duplicates=report.duplicates,
                    )
                    # The acknowledgement, with the receipts issued, also long-polls for
                    # the next items: one request per batch (ADR 0018).
                    ask = node.inbox.hand_over(report.unacked, node.clock(), wait=wait, limit=limit)
                    done, answer = await unless_stopped(stop, ask)
                    if not done or answer is None:
                        # Stopped while it waited: finish the item in hand, without the wait.
                        await node.inbox.hand_over(report.unacked, node.clock())
                        return
                    carried = answer.items  # None from a relay that cannot: poll again
            except PocnetError as e:
                failures += 1
                if self.metrics is not None:
                    self.metrics.failed()
                if isinstance(e, ClockOff) and failures == 1:
                    await self.check_clock("refused_stale")
                await self._relay_down(e)
                delay = await self._reconnect_delay(failures)
                event = "relay.unreachable" if is_transient(e) else "relay.refused"
                log = self.log.warning if failures == 1 or not is_transient(e) else self.log.info
                log(
                    event,
                    error=e.code,
                    detail=e.message[:200],
                    failures=failures,
                    retry_in_s=round(delay, 2),
                )
                await pause(stop, delay)

    async def _relay_down(self, error: PocnetError) -> None:
        """Alert ``relay_unreachable`` after ``alerts.relay_unreachable_after`` seconds of
        failures, and again every ``relay_unreachable_repeat`` while it lasts (``error``:
        the latest failure; a configuration error names its setting)."""
        node, settings = self.node, self.node.config.alerts
        now = node.clock()
        if self.down_since is None:
            self.down_since = now
        aid = unreachable_id(
            self.down_since,
            now,
            after=timedelta(seconds=settings.relay_unreachable_after),
            repeat=timedelta(seconds=settings.relay_unreachable_repeat),
        )
        if aid is None or not await node.store.notice_once(aid, format_time(now)):
            return
        self.outage_alerted = True
        queued = await node.store.due_outgoing("", limit=1000)
        detail = {
            "relay": ", ".join(node.config.relay.endpoints),
            "since": format_time(self.down_since),
            "minutes": round((now - self.down_since).total_seconds() / 60, 1),
            "queued": len(queued),
            "queued_emergency": sum(m.priority == "emergency" for m in queued),
            "error": error.code,
            "setting": getattr(error, "setting", None),
            "advice": "nothing reaches other parties while the relay is unreachable: "
            "call the relay operator; for an emergency, call the recipient's 24/7 phone",
        }
        await node.alerter.raise_alert(
            Alert.network("relay_unreachable", format_time(now), aid, detail)
        )

    async def _relay_back(self) -> None:
        """Close an outage: ``relay_back`` if ``relay_unreachable`` was raised for it."""
        since, alerted = self.down_since, self.outage_alerted
        self.down_since, self.outage_alerted = None, False
        if since is None or not alerted:
            return
        now = self.node.clock()
        detail = {
            "relay": ", ".join(self.node.config.relay.endpoints),
            "since": format_time(since),
            "minutes": round((now - since).total_seconds() / 60, 1),
        }
        await self.node.alerter.raise_alert(
            Alert.network("relay_back", format_time(now), back_id(since), detail)
        )

    async def _reconnect_delay(self, failures: int) -> float:
        """The backoff delay, shortened to ``outbox.probe_interval`` while an emergency or
        urgent envelope is queued."""
        delay = self.reconnect.delay(failures)
        probe = self.node.config.outbox.probe_interval
        if delay > probe:
            first = await self.node.store.due_outgoing("", limit=1)  # emergency first
            if first and first[0].priority in ("emergency", "urgent"):
                return probe
        return delay

    async def outbox_loop(self, stop: asyncio.Event) -> None:
        node = self.node
        scan = node.config.outbox.scan_interval
        while not stop.is_set():
            self.outbox_wake.clear()
            wake, self.retry_now = self.retry_now, False
            now = node.clock()
            try:
                report = await node.outbox.flush(now, wake=wake)
                if report.accepted:
                    self.audit_wake.set()
                if report.accepted or report.receipts_posted:
                    self.log.debug("outbox.flushed", **report.to_dict())
            except PocnetError as e:
                self.log.error("outbox.flush_failed", error=e.code)
            due = await node.store.next_due()
            delay = scan
            if due:
                delay = min(scan, (parse_time(due) - node.clock()).total_seconds())
            await pause(stop, max(delay, 0.05), self.outbox_wake)

    async def attachments_loop(self, stop: asyncio.Event) -> None:
        """Download and verify the attachments of received messages in the background
        (:class:`node.exchange.attachments.Downloader`), when a message arrives and every
        ``outbox.scan_interval`` seconds (a relay that did not answer, a restart)."""
        node = self.node
        downloader = downloader_for(node)
        if downloader is None:  # a relay client without attachments (a test double)
            await stop.wait()  # a loop that ends stops the daemon
            return
        while not stop.is_set():
            self.attachments_wake.clear()
            try:
                if await downloader.run_once(node.clock()):
                    self.outbox_wake.set()  # a REJECTED to post
            except PocnetError as e:
                self.log.warning("attachment.download_failed", error=e.code)
            await pause(stop, node.config.outbox.scan_interval, self.attachments_wake)

    async def watch_loop(self, stop: asyncio.Event) -> None:
        node = self.node
        settings = node.config.alerts
        while not stop.is_set():
            now = node.clock()
            try:
                await node.peers.sync()  # a version stored by 'node directory refresh'
                await check_acknowledgements(node.store, node.alerter, node.peers, settings, now)
                await check_preservations(node.store, node.alerter, settings, now)
                await check_reminders(node.store, node.alerter, settings, now)
                await check_directory(node.store, node.alerter, node.peers, now)
            except PocnetError as e:
                self.log.error("watch.failed", error=e.code)
            await pause(stop, settings.watch_interval)

    async def audit_loop(self, stop: asyncio.Event) -> None:
        """Check the relay's log every ``audit.check_interval`` seconds, and when woken by
        new receipts, at most once per :data:`AUDIT_MIN_GAP` (receipts arriving meanwhile
        are checked together, against one checkpoint)."""
        node = self.node
        interval = node.config.audit.check_interval
        gap = min(AUDIT_MIN_GAP, interval)
        while not stop.is_set():
            self.audit_wake.clear()
            wait = interval
            try:
                report = await self.auditor.run_once(node.clock(), settle=AUDIT_SETTLE)
                if report.next_in is not None:
                    wait = min(interval, max(report.next_in, gap))
            except PocnetError as e:
                self.log.error("audit.failed", error=e.code)
            await pause(stop, gap)
            await pause(stop, wait - gap, self.audit_wake)

    async def metrics_loop(self, stop: asyncio.Event) -> None:
        """Renew the metrics read from the store every ``[metrics] refresh_seconds``."""
        assert self.metrics is not None
        while not stop.is_set():
            try:
                await refresh(self.metrics, self.node)
            except PocnetError as e:
                self.log.error("metrics.refresh_failed", error=e.code)
            await pause(stop, self.node.config.metrics.refresh_seconds)

    async def statistics_loop(self, stop: asyncio.Event) -> None:
        """Send last month's statistics report to ``[statistics] secretariat`` once it is
        due (:func:`node.daemon.statistics.report_due`); check every
        :data:`STATISTICS_CHECK` seconds. A report the relay refused is sent again."""
        while not stop.is_set():
            try:
                await self.statistics_pass()
            except PocnetError as e:
                self.log.error("statistics.failed", error=e.code)
            await pause(stop, STATISTICS_CHECK)

    async def statistics_pass(self) -> str | None:
        """Send the report that is due now, if any; the month sent."""
        node = self.node
        settings = node.config.statistics
        now = node.clock()
        sent = await sent_periods(node, settings.secretariat)
        period = report_due(now, send_day=settings.send_day, sent=sent)
        if period is None:
            return None
        msg_id, outcome, _ = await send_report(node, settings.secretariat, period, now)
        self.log.info(
            "statistics.sent",
            period=period,
            recipient=settings.secretariat,
            msg_id=msg_id,
            outcome=outcome,
        )
        return period


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_daemon(node: Node, *, stop: asyncio.Event | None = None, **kw: Any) -> None:
    """Run the daemon until SIGTERM/SIGINT (or ``stop``), then close the node."""
    stop = stop or asyncio.Event()
    install_signal_handlers(stop)
    kw.setdefault("clock_probe", relay_clock_probe(node))
    try:
        await Daemon(node, **kw).run(stop)
    finally:
        await node.close()

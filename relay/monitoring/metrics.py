"""Prometheus metrics, in a registry of the relay's own (one per app, so tests can build many).

Counters move as things happen, in the process where they happen; the gauges of the
database's state (queues, OVERDUE, the last checkpoint, the directory in force) are read
from the database when ``/metrics`` is scraped (:meth:`RelayMetrics.set_state`,
:mod:`relay.monitoring.state_metrics`), so every relay process reports the same, true
figures. Under ``relay serve --workers N`` the counters, histograms, last polls and start
times go to prometheus-client's multiprocess files (:mod:`relay.monitoring.multiprocess`)
and one scrape of the shared port serves the whole relay's sums: the accepted counter is
every worker's accepts, the last poll the newest any worker saw (ADR 0013).

Label sets are bounded: ``party``/``recipient`` are members of the network (the last-poll
gauge is kept to the current members), ``status`` and ``reason`` are the relay's own codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from relay.monitoring.multiprocess import SharedCollector
from relay.monitoring.state_metrics import StateCollector, StateFigures

CONTENT_TYPE = CONTENT_TYPE_LATEST
LAST_POLL = "pocnet_relay_member_last_poll_timestamp_seconds"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RelayMetrics:
    """The relay's metrics; with ``shared_dir`` (a worker of ``relay serve --workers``,
    :mod:`relay.monitoring.multiprocess`), :meth:`render` serves every worker's figures."""

    def __init__(
        self,
        version: str = "unknown",
        started: datetime | None = None,
        shared_dir: str | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.version = version
        r = self.registry
        self.accepted = Counter(
            "pocnet_relay_envelopes_accepted", "Envelopes durably accepted", registry=r
        )
        self.delivered = Counter(
            "pocnet_relay_envelopes_delivered", "Envelopes whose download was confirmed", registry=r
        )
        self.corrupt = Counter(
            "pocnet_relay_envelopes_corrupt",
            "Envelopes found altered, by where (inbox, evidence, receipt): see envelope.corrupt",
            ["where"],
            registry=r,
        )
        self.directory_rollback = Counter(
            "pocnet_relay_directory_rollback_refused",
            "Times the relay refused a directory older than its audit log's highest installed "
            "version (see directory.rollback_refused)",
            registry=r,
        )
        self.receipts = Counter(
            "pocnet_relay_receipts", "Receipts issued or stored, by type", ["type"], registry=r
        )
        self.rejected = Counter(
            "pocnet_relay_requests_rejected",
            "Requests refused, by status and reason",
            ["status", "reason"],
            registry=r,
        )
        self.responses = Counter(
            "pocnet_relay_http_responses",
            "Responses sent, by status class (2xx, 3xx, 4xx, 5xx)",
            ["code_class"],
            registry=r,
        )
        self.database_errors = Counter(
            "pocnet_relay_database_errors",
            "Database failures seen (unreachable, refused, timed out), by where: request, "
            "metrics, readiness",
            ["where"],
            registry=r,
        )
        self.last_poll = Gauge(
            LAST_POLL,
            "When the member last asked the relay for its inbox (Unix time; the start of the "
            "process serving /metrics until it does)",
            ["party"],
            registry=r,
            multiprocess_mode="max",
        )
        self.started = Gauge(
            "pocnet_relay_started_timestamp_seconds",
            "When this relay process started (Unix time; one sample per live worker, "
            "labelled pid, with --workers)",
            registry=r,
            multiprocess_mode="liveall",
        )
        if started is not None:
            self.started.set(started.timestamp())
        self.latency = Histogram(
            "pocnet_relay_request_seconds",
            "Request latency, by route and method (long-polls included)",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.group_commit = Histogram(
            "pocnet_relay_group_commit_size",
            "Write operations committed together",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self._polls: dict[str, float] = {}
        self._started = None if started is None else started.timestamp()
        self._members: frozenset[str] | None = None  # unknown until a scrape read them
        self._state = StateCollector()
        self._state.figures = StateFigures(version=version)
        self._shared = shared_dir
        if shared_dir is None:
            r.register(self._state)
            self._scrape = r
        else:  # one scrape, every worker's figures: ADR 0013
            self._scrape = CollectorRegistry()
            self._scrape.register(SharedCollector(shared_dir, self._keep))
            self._scrape.register(self._state)

    def set_queues(self, depths: dict[str, int], oldest: datetime | None, now: datetime) -> None:
        """Refresh the queue gauges from the database's figures."""
        age = 0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        self._state.figures = replace(self._state.figures, queues=dict(depths), oldest_age=age)

    def set_state(
        self,
        *,
        now: datetime,
        schema: str | None,
        overdue: dict[str, int],
        checkpoint_size: int | None,
        checkpoint_at: datetime | None,
        directory_version: int | None,
        directory_expires: datetime | None,
        members: Iterable[str],
        disk_free: int | None,
    ) -> None:
        """Refresh the gauges of the database's state and the members' last polls."""
        signed = directory_version is not None and directory_expires is not None
        figures = self._state.figures
        self._state.figures = replace(
            figures,
            read=True,
            schema=schema,
            overdue=dict(overdue),
            checkpoint_size=checkpoint_size or 0,
            checkpoint_age=(
                -1 if checkpoint_at is None else max(0.0, (now - checkpoint_at).total_seconds())
            ),
            directory_version=directory_version or 0,
            directory_expires=directory_expires if signed else None,
            directory_expires_in=(
                (directory_expires - now).total_seconds()
                if directory_expires is not None and signed
                else 0.0
            ),
            disk_free=figures.disk_free if disk_free is None else disk_free,
        )
        self._set_polls(members, now)

    def polled(self, party: str, now: datetime) -> None:
        """``party`` asked for its inbox at ``now``."""
        self._polls[party] = now.timestamp()
        if self._shared is not None:  # the other workers serve scrapes too
            self.last_poll.labels(party=party).set(now.timestamp())

    def _set_polls(self, members: Iterable[str], now: datetime) -> None:
        if self._started is None:
            self._started = now.timestamp()  # built without a start time: the first scrape
        current = frozenset(members)
        self._members = current
        self._polls = {p: t for p, t in self._polls.items() if p in current}
        if self._shared is None:
            self.last_poll.clear()  # with files, _keep leaves former members out instead
        for party in sorted(current):
            self.last_poll.labels(party=party).set(self._polls.get(party, self._started))

    def _keep(self, name: str, labels: dict[str, str]) -> bool:
        if name != LAST_POLL or self._members is None:
            return True
        return labels.get("party") in self._members

    def responded(self, status: int) -> None:
        """Count one response of HTTP ``status``."""
        self.responses.labels(code_class=f"{status // 100}xx").inc()

    def render(self) -> bytes:
        return generate_latest(self._scrape)

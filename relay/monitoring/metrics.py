"""Prometheus metrics, in a registry of the relay's own (one per app, so tests can build many).

Counters move as things happen, in the process where they happen; the gauges of the
database's state (queues, OVERDUE, the last checkpoint, the directory in force) are set when
``/metrics`` is scraped (:meth:`RelayMetrics.set_state`), so several relay processes on one
PostgreSQL all report the same, true figures. Every metric is per process: with several
relay processes, Prometheus scrapes each one (a target per process) and the rules sum the
counters and take the ``max`` of the last-poll gauges (``deploy/prometheus/alerts.yml``).

Label sets are bounded: ``party``/``recipient`` are members of the network (the last-poll
gauge is kept to the current members), ``status`` and ``reason`` are the relay's own codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RelayMetrics:
    """The relay's metrics."""

    def __init__(self, version: str = "unknown", started: datetime | None = None) -> None:
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
        self.queue_depth = Gauge(
            "pocnet_relay_queue_depth",
            "Envelopes waiting in a recipient's inbox",
            ["recipient"],
            registry=r,
        )
        self.overdue = Gauge(
            "pocnet_relay_overdue_pending",
            "Envelopes still undelivered after their OVERDUE receipt, by recipient",
            ["recipient"],
            registry=r,
        )
        self.oldest_undelivered = Gauge(
            "pocnet_relay_oldest_undelivered_seconds",
            "Age of the oldest envelope not yet delivered (0 when none)",
            registry=r,
        )
        self.build_info = Gauge(
            "pocnet_relay_build_info",
            "Always 1: the relay's version and its database's schema revision",
            ["version", "schema"],
            registry=r,
        )
        self.directory_version = Gauge(
            "pocnet_relay_directory_version",
            "Version of the signed directory in force (0: none, the members folder)",
            registry=r,
        )
        self.directory_expiry = Gauge(
            "pocnet_relay_directory_expiry_timestamp_seconds",
            "When the signed directory in force expires (Unix time); absent without one",
            ["version"],
            registry=r,
        )
        self.directory_expires_in = Gauge(
            "pocnet_relay_directory_expires_in_seconds",
            "Seconds until the directory in force expires (negative: expired); absent without one",
            ["version"],
            registry=r,
        )
        self.last_poll = Gauge(
            "pocnet_relay_member_last_poll_timestamp_seconds",
            "When the member last asked this process for its inbox (Unix time; the process's "
            "start until it does)",
            ["party"],
            registry=r,
        )
        self.started = Gauge(
            "pocnet_relay_started_timestamp_seconds",
            "When this relay process started (Unix time)",
            registry=r,
        )
        if started is not None:
            self.started.set(started.timestamp())
        self.checkpoint_size = Gauge(
            "pocnet_relay_checkpoint_tree_size",
            "Entries covered by the last signed audit checkpoint (0: none yet)",
            registry=r,
        )
        self.checkpoint_age = Gauge(
            "pocnet_relay_checkpoint_age_seconds",
            "Age of the last signed audit checkpoint (-1: none yet)",
            registry=r,
        )
        self.disk_free: Gauge | None = None  # registered by the first SQLite figure
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

    def set_queues(self, depths: dict[str, int], oldest: datetime | None, now: datetime) -> None:
        """Refresh the queue gauges from the database's figures."""
        self.queue_depth.clear()
        for party, depth in depths.items():
            self.queue_depth.labels(recipient=party).set(depth)
        self.oldest_undelivered.set(
            0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        )

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
        self.build_info.clear()
        self.build_info.labels(version=self.version, schema=schema or "none").set(1)
        self.overdue.clear()
        for party, count in overdue.items():
            self.overdue.labels(recipient=party).set(count)
        self.checkpoint_size.set(checkpoint_size or 0)
        self.checkpoint_age.set(
            -1 if checkpoint_at is None else max(0.0, (now - checkpoint_at).total_seconds())
        )
        self.directory_version.set(directory_version or 0)
        self.directory_expiry.clear()
        self.directory_expires_in.clear()
        if directory_version is not None and directory_expires is not None:
            label = str(directory_version)
            self.directory_expiry.labels(version=label).set(directory_expires.timestamp())
            self.directory_expires_in.labels(version=label).set(
                (directory_expires - now).total_seconds()
            )
        if disk_free is not None:
            if self.disk_free is None:
                self.disk_free = Gauge(
                    "pocnet_relay_database_disk_free_bytes",
                    "Free bytes on the disk of the SQLite database (absent on PostgreSQL)",
                    registry=self.registry,
                )
            self.disk_free.set(disk_free)
        self._set_polls(members, now)

    def polled(self, party: str, now: datetime) -> None:
        """``party`` asked for its inbox at ``now``."""
        self._polls[party] = now.timestamp()

    def _set_polls(self, members: Iterable[str], now: datetime) -> None:
        if self._started is None:
            self._started = now.timestamp()  # built without a start time: the first scrape
        current = set(members)
        self._polls = {p: t for p, t in self._polls.items() if p in current}
        self.last_poll.clear()
        for party in sorted(current):
            self.last_poll.labels(party=party).set(self._polls.get(party, self._started))

    def responded(self, status: int) -> None:
        """Count one response of HTTP ``status``."""
        self.responses.labels(code_class=f"{status // 100}xx").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics, in a registry of the relay's own (one per app, so tests can build many).

Counters move as things happen; the queue gauges are read from the database when
``/metrics`` is scraped (:meth:`RelayMetrics.set_queues`), so several relay processes on one
PostgreSQL all report the same, true queue.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RelayMetrics:
    """The relay's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.queue_depth = Gauge(
            "pocnet_relay_queue_depth",
            "Envelopes waiting in a recipient's inbox",
            ["recipient"],
            registry=r,
        )
        self.oldest_undelivered = Gauge(
            "pocnet_relay_oldest_undelivered_seconds",
            "Age of the oldest envelope not yet delivered (0 when none)",
            registry=r,
        )
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

    def set_queues(self, depths: dict[str, int], oldest: datetime | None, now: datetime) -> None:
        """Refresh the queue gauges from the database's figures."""
        self.queue_depth.clear()
        for party, depth in depths.items():
            self.queue_depth.labels(recipient=party).set(depth)
        self.oldest_undelivered.set(
            0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

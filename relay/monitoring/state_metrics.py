"""The gauges of the database's state, rendered from the last snapshot a scrape read.

Queues, OVERDUE, the last checkpoint, the directory in force, the schema and the SQLite
disk are read from the database when ``/metrics`` is scraped, so whichever relay process
answers reports the same, true figures. They are kept in this process's memory as one
:class:`StateFigures` value and turned into metric families by :class:`StateCollector`:
they never go through prometheus-client's multiprocess files, where a label that
disappeared (a queue drained, a directory replaced) would stay behind in another
process's file and be served for ever.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class StateFigures:
    """What the last scrape read from the database (empty until the first one)."""

    version: str = "unknown"
    schema: str | None = None
    queues: dict[str, int] = field(default_factory=dict)
    oldest_age: float = 0.0
    overdue: dict[str, int] = field(default_factory=dict)
    checkpoint_size: int = 0
    checkpoint_age: float = 0.0
    directory_version: int = 0
    directory_expires: datetime | None = None
    directory_expires_in: float = 0.0
    disk_free: int | None = None
    read: bool = False  # False until set_state ran once: build_info is absent until then


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def state_families(s: StateFigures) -> Iterator[Metric]:
    """The metric families of ``s`` (a pure function: same figures, same families)."""
    queue = _gauge(
        "pocnet_relay_queue_depth", "Envelopes waiting in a recipient's inbox", ["recipient"]
    )
    for party, depth in sorted(s.queues.items()):
        queue.add_metric([party], depth)
    yield queue
    overdue = _gauge(
        "pocnet_relay_overdue_pending",
        "Envelopes still undelivered after their OVERDUE receipt, by recipient",
        ["recipient"],
    )
    for party, count in sorted(s.overdue.items()):
        overdue.add_metric([party], count)
    yield overdue
    yield GaugeMetricFamily(
        "pocnet_relay_oldest_undelivered_seconds",
        "Age of the oldest envelope not yet delivered (0 when none)",
        value=s.oldest_age,
    )
    build = _gauge(
        "pocnet_relay_build_info",
        "Always 1: the relay's version and its database's schema revision",
        ["version", "schema"],
    )
    if s.read:
        build.add_metric([s.version, s.schema or "none"], 1)
    yield build
    yield GaugeMetricFamily(
        "pocnet_relay_directory_version",
        "Version of the signed directory in force (0: none, the members folder)",
        value=s.directory_version,
    )
    expiry = _gauge(
        "pocnet_relay_directory_expiry_timestamp_seconds",
        "When the signed directory in force expires (Unix time); absent without one",
        ["version"],
    )
    expires_in = _gauge(
        "pocnet_relay_directory_expires_in_seconds",
        "Seconds until the directory in force expires (negative: expired); absent without one",
        ["version"],
    )
    if s.directory_expires is not None:  # set only with a signed directory in force
        label = [str(s.directory_version)]
        expiry.add_metric(label, s.directory_expires.timestamp())
        expires_in.add_metric(label, s.directory_expires_in)
    yield expiry
    yield expires_in
    yield GaugeMetricFamily(
        "pocnet_relay_checkpoint_tree_size",
        "Entries covered by the last signed audit checkpoint (0: none yet)",
        value=s.checkpoint_size,
    )
    yield GaugeMetricFamily(
        "pocnet_relay_checkpoint_age_seconds",
        "Age of the last signed audit checkpoint (-1: none yet)",
        value=s.checkpoint_age,
    )
    if s.disk_free is not None:  # SQLite only: absent on PostgreSQL
        yield GaugeMetricFamily(
            "pocnet_relay_database_disk_free_bytes",
            "Free bytes on the disk of the SQLite database (absent on PostgreSQL)",
            value=s.disk_free,
        )


class StateCollector(Collector):
    """Serves the figures of the last scrape (``figures`` is replaced, never mutated)."""

    def __init__(self) -> None:
        self.figures = StateFigures()

    def collect(self) -> Iterator[Metric]:
        return state_families(self.figures)

"""Prometheus metrics of ``node run`` (``[metrics] enabled = true`` in ``node.toml``).

What a monitoring system needs to page someone about this node: when the signed directory
expires (the ``directory_expiring`` alert's figure), what waits in the outbox by priority,
whether the relay answers and when it last did, and the emergency and urgent requests
received and not yet acknowledged. The daemon's inbox loop reports each answer or failure
of the relay as it happens; the figures read from the store are renewed every
``[metrics] refresh_seconds`` by the daemon's ``metrics`` loop.

Served by prometheus-client's own small HTTP server (a thread) on loopback by default:
the node speaks HTTP with aiohttp only as the relay's client and in its console.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, generate_latest, start_http_server

from keys.errors import ConfigError
from node.runtime import Node

PRIORITIES = ("emergency", "urgent", "routine")


class NodeMetrics:
    """The node's gauges, in a registry of their own."""

    def __init__(self, party: str, version: str, started: datetime) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        info = Gauge(
            "pocnet_node_build_info",
            "Always 1: this node's party and version",
            ["party", "version"],
            registry=r,
        )
        info.labels(party=party, version=version).set(1)
        Gauge(
            "pocnet_node_started_timestamp_seconds",
            "When the daemon started (Unix time)",
            registry=r,
        ).set(started.timestamp())
        self.reachable = Gauge(
            "pocnet_node_relay_reachable",
            "1 when the relay's last answer came, 0 after a failure (and until the first answer)",
            registry=r,
        )
        self.last_poll = Gauge(
            "pocnet_node_last_poll_timestamp_seconds",
            "When the relay last answered an inbox request (Unix time; 0: not yet)",
            registry=r,
        )
        self.queued = Gauge(
            "pocnet_node_outbox_queued",
            "Envelopes queued for the relay, by priority",
            ["priority"],
            registry=r,
        )
        self.unacknowledged = Gauge(
            "pocnet_node_unacknowledged",
            "Emergency and urgent requests received and not yet acknowledged, by priority",
            ["priority"],
            registry=r,
        )
        self.directory_expiry = Gauge(
            "pocnet_node_directory_expiry_timestamp_seconds",
            "When the trusted signed directory expires (Unix time); absent without one",
            ["version"],
            registry=r,
        )
        self.directory_expires_in = Gauge(
            "pocnet_node_directory_expires_in_seconds",
            "Seconds until the trusted directory expires (negative: expired); absent without one",
            ["version"], registry=r,
        )  # fmt: skip

    def answered(self, now: datetime) -> None:
        """The relay answered an inbox request at ``now``."""
        self.reachable.set(1)
        self.last_poll.set(now.timestamp())

    def failed(self) -> None:
        """A request to the relay failed."""
        self.reachable.set(0)

    def set_state(
        self,
        *,
        now: datetime,
        queued: Mapping[str, int],
        unacknowledged: Mapping[str, int],
        directory: tuple[int, datetime] | None,
    ) -> None:
        """Renew the figures read from the store (``directory``: version and expiry)."""
        for priority in PRIORITIES:
            self.queued.labels(priority=priority).set(queued.get(priority, 0))
        for priority in PRIORITIES[:2]:
            self.unacknowledged.labels(priority=priority).set(unacknowledged.get(priority, 0))
        self.directory_expiry.clear()
        self.directory_expires_in.clear()
        if directory is not None:
            version, expires = directory
            self.directory_expiry.labels(version=str(version)).set(expires.timestamp())
            self.directory_expires_in.labels(version=str(version)).set(
                (expires - now).total_seconds()
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """``/metrics`` of a :class:`NodeMetrics`, served from a thread until :meth:`close`."""

    def __init__(self, metrics: NodeMetrics, host: str, port: int) -> None:
        try:
            self._server, self._thread = start_http_server(port, host, metrics.registry)
        except OSError as e:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port}: {e.strerror} (see [metrics] in node.toml)"
            ) from e

    @property
    def server(self) -> WSGIServer:
        return self._server

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and wait (bounded) for the thread."""
        self._server.shutdown()
        self._server.server_close()
        thread: threading.Thread = self._thread
        thread.join(timeout)


async def refresh(metrics: NodeMetrics, node: Node) -> None:
    """Renew ``metrics`` from ``node``'s store and trusted directory."""
    now = node.clock()
    await node.peers.sync()
    queued = await node.store.due_outgoing("", limit=100_000)
    waiting = await node.store.unacknowledged_incoming(PRIORITIES[:2])
    current = getattr(node.peers, "current", None)
    metrics.set_state(
        now=now,
        queued=Counter(m.priority for m in queued),
        unacknowledged=Counter(m.priority for m in waiting),
        directory=None if current is None else (current.version, current.expires),
    )

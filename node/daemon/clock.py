"""The daemon's look at its clock against the relay's.

The relay refuses a signed request whose time is outside its signature window
(``stale``); the daemon logs the offset it measures (``relay.clock``) so that the officer
sees the figure, in seconds, before or while that happens. The reading itself and its
verdict are :class:`node.relayapi.probe.ClockReading`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from node.logs import Logger
from node.relayapi.probe import ClockReading, probe_health
from node.runtime import Node


def relay_clock_probe(node: Node) -> Callable[[], Awaitable[ClockReading]]:
    """The relay's clock against ``node``'s, from its unsigned ``/healthz``."""
    relay = node.config.relay

    async def probe() -> ClockReading:
        # The relay in use: with several URLs, the one the failover transport sticks to.
        url = getattr(node.transport, "url", None) or relay.endpoints[0]
        health = await probe_health(
            url,
            clock=node.clock,
            timeout=min(relay.request_timeout, 10.0),
            ca_file=relay.ca_file or None,
        )
        return health.clock

    return probe


def log_reading(log: Logger, reading: ClockReading, when: str) -> None:
    """``relay.clock`` with the offset, the window and the verdict: ``info`` when the
    clock is right, a ``warning`` with the advice when it is off or unknown."""
    if reading.status == "pass":
        log.info("relay.clock", when=when, **reading.to_dict())
        return
    log.warning(
        "relay.clock",
        when=when,
        **reading.to_dict(),
        detail=reading.describe(),
        advice="set this computer's clock right (NTP): outside the relay's window every "
        "signed request is refused, and is sent again once the clock is right",
    )

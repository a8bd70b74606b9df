"""Connection guards under aiohttp: a cap on concurrent connections per client address and
a deadline for a new connection's first request headers (a half-open or slowloris
connection is closed, not held for ever). Body reads are bounded in
:func:`relay.http.routes.read_body`; idle keep-alive connections, partial headers
included, by aiohttp's ``keepalive_timeout``.

:class:`AddressCounts` decides (pure, no I/O); :class:`GuardedHandler` applies it to each
connection. :func:`guard` turns an ``AppRunner``'s server into one that makes guarded
handlers (``relay serve`` calls it after ``runner.setup()``).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from relay.monitoring.logging import get_logger

log = get_logger("relay.http.connections")


@dataclass(frozen=True)
class ConnectionLimits:
    """``max_per_address`` open connections per client address (0: no cap); a new
    connection must send complete request headers within ``header_timeout`` seconds."""

    max_per_address: int
    header_timeout: float
    retry_after: int = 5


class AddressCounts:
    """Open connections per address; :meth:`admit` says whether one more may open."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: Counter[str] = Counter()
        self.refused = 0

    def admit(self, address: str) -> bool:
        if self.cap and self._open[address] >= self.cap:
            self.refused += 1
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]

    def open(self, address: str) -> int:
        return self._open[address]


def _refusal(retry_after: int) -> bytes:
    body = json.dumps(
        {"error": "unavailable", "message": "too many connections from this address"}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: {retry_after}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, with the cap and the header deadline."""

    guard_limits: ConnectionLimits
    guard_counts: AddressCounts

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._guard_address: str | None = str(peer[0]) if peer else None
        self._guard_timer: asyncio.TimerHandle | None = None
        if self._guard_address is not None and not self.guard_counts.admit(self._guard_address):
            address, self._guard_address = self._guard_address, None
            log.warning("http.connection_refused", peer=address, reason="per_address_cap")
            write = getattr(transport, "write", None)  # uvloop's transports are not asyncio's
            if callable(write):
                write(_refusal(self.guard_limits.retry_after))
            self.force_close()
            transport.close()
            return
        if self.guard_limits.header_timeout > 0:
            loop = asyncio.get_running_loop()
            self._guard_timer = loop.call_later(
                self.guard_limits.header_timeout, self._guard_headers_late
            )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._guard_timer is not None and self._request_started():
            self._guard_timer.cancel()
            self._guard_timer = None

    def _request_started(self) -> bool:
        return bool(getattr(self, "_messages", None)) or self._request_count > 0

    def _guard_headers_late(self) -> None:
        self._guard_timer = None
        if self._request_started() or self.transport is None:
            return
        peer = self.transport.get_extra_info("peername")
        log.info("http.header_timeout", peer=str(peer[0]) if peer else None)
        self.force_close()
        self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        timer = getattr(self, "_guard_timer", None)
        if timer is not None:
            timer.cancel()
        address = getattr(self, "_guard_address", None)
        if address is not None:
            self.guard_counts.release(address)
            self._guard_address = None
        super().connection_lost(exc)


def guard(server: Any, limits: ConnectionLimits) -> AddressCounts:
    """Make ``server`` (an aiohttp ``web.Server``, ``runner.server``) hand out guarded
    handlers; return the counts it keeps."""
    assert isinstance(server, web.Server)
    counts = AddressCounts(limits.max_per_address)
    handler_class = type(
        "BoundGuardedHandler",
        (GuardedHandler,),
        {"guard_limits": limits, "guard_counts": counts},
    )

    def make_handler(self: web.Server) -> RequestHandler:
        handler: RequestHandler = handler_class(self, loop=self._loop, **self._kwargs)
        return handler

    # asyncio calls the server object as its protocol factory, so the override must be on
    # its class: a subclass that differs only in the handler it makes.
    server.__class__ = type("GuardedServer", (type(server),), {"__call__": make_handler})
    return counts

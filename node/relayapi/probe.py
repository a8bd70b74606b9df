"""Unsigned probes of the relay for ``node doctor``: does it answer, and what time is it there?

``GET /healthz`` needs no signature, so it tells reachability apart from identity (a signed
request tells whether the relay accepts this node's key). The relay's clock comes from the
answer's ``Date`` header (whole seconds), compared with the midpoint of the request here.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp

from keys.host.command import Unreachable
from node.relayapi.misconfig import connection_error

MAX_PROBE_BYTES = 4096


@dataclass(frozen=True)
class HealthProbe:
    """The relay's answer to ``GET /healthz``.

    Attributes:
        status: the HTTP status.
        offset_s: the relay's clock minus ours, in seconds (None without a ``Date``).
        round_trip_s: how long the request took.
    """

    status: int
    offset_s: float | None
    round_trip_s: float


async def probe_health(
    base_url: str,
    *,
    clock: Callable[[], datetime],
    timeout: float,
    ca_file: str | None = None,
) -> HealthProbe:
    """``GET {base_url}/healthz``.

    Raises:
        RelayConfigError: DNS or TLS failure (the setting named).
        Unreachable: no answer.
    """
    tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
    url = base_url.rstrip("/") + "/healthz"
    started, wall = time.monotonic(), clock()
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp,
        ):
            await resp.content.read(MAX_PROBE_BYTES)
            status, date = resp.status, resp.headers.get("Date")
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        misconfigured = connection_error(e, base_url)
        if misconfigured is not None:
            raise misconfigured from e
        raise Unreachable(f"the relay at {base_url} did not answer ({type(e).__name__})") from e
    elapsed = time.monotonic() - started
    offset = None
    if date:
        try:
            theirs = parsedate_to_datetime(date)
            offset = (theirs - (wall + timedelta(seconds=elapsed / 2))).total_seconds()
        except (TypeError, ValueError):
            offset = None
    return HealthProbe(status, offset, elapsed)

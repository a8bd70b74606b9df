"""Unsigned probes of the relay for ``node doctor`` and the daemon: does it answer, and
what time is it there?

``GET /healthz`` needs no signature, so it tells reachability apart from identity (a signed
request tells whether the relay accepts this node's key). The relay's clock comes from the
answer's ``time`` (Unix seconds, to the millisecond; from an older relay, the ``Date``
header, whole seconds), compared with the midpoint of the request here; the answer's
``signature_window_seconds`` says how far off a clock may be before the relay refuses
this node's signed requests as ``stale`` (:class:`ClockReading`).
"""

from __future__ import annotations

import json
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from keys.host.command import Unreachable
from node.relayapi.misconfig import connection_error

MAX_PROBE_BYTES = 4096


MAX_PLAUSIBLE_SECONDS = 10**11  # a Unix time or window beyond this is not one
CLOCK_WARN_S = 5.0  # seconds off the relay's clock: worth a warning
CLOCK_FAIL_S = 60.0  # seconds off: a failure, even inside a wider signature window


@dataclass(frozen=True)
class ClockReading:
    """This machine's clock against the relay's: a decision of values, no I/O.

    Attributes:
        offset_s: the relay's clock minus ours, in seconds (None: unknown).
        window_s: how far off a request's signature time may be before the relay refuses
            it as ``stale`` (None: the relay did not say).
    """

    offset_s: float | None
    window_s: float | None

    @property
    def within_window(self) -> bool | None:
        """True if the relay accepts signatures made by this clock (None: unknown)."""
        if self.offset_s is None or self.window_s is None:
            return None
        return abs(self.offset_s) < self.window_s

    @property
    def status(self) -> str:
        """``pass``, ``warn`` (unknown, or more than CLOCK_WARN_S off) or ``fail``
        (outside the relay's window, or more than CLOCK_FAIL_S off)."""
        if self.offset_s is None:
            return "warn"
        if self.within_window is False or abs(self.offset_s) > CLOCK_FAIL_S:
            return "fail"
        return "warn" if abs(self.offset_s) > CLOCK_WARN_S else "pass"

    def describe(self) -> str:
        """For a person: how far off this clock is, and whether the relay accepts it."""
        if self.offset_s is None:
            return "the relay did not say its time: offset unknown"
        way = "behind" if self.offset_s > 0 else "ahead of"
        text = f"this machine is {abs(self.offset_s):.1f} s {way} the relay"
        if self.window_s is None:
            return text
        verdict = "within" if self.within_window else "OUTSIDE"
        return f"{text}, {verdict} its signature window of ±{self.window_s:g} s"

    def to_dict(self) -> dict[str, Any]:
        """For ``--json`` and log lines."""
        return {
            "offset_seconds": None if self.offset_s is None else round(self.offset_s, 3),
            "window_seconds": self.window_s,
            "within_window": self.within_window,
            "status": self.status,
        }


@dataclass(frozen=True)
class HealthProbe:
    """The relay's answer to ``GET /healthz``.

    Attributes:
        status: the HTTP status.
        offset_s: the relay's clock minus ours, in seconds (None if it did not say).
        round_trip_s: how long the request took.
        window_s: the relay's signature window in seconds (None if it did not say).
    """

    status: int
    offset_s: float | None
    round_trip_s: float
    window_s: float | None = None

    @property
    def clock(self) -> ClockReading:
        return ClockReading(self.offset_s, self.window_s)


def _number(value: Any) -> float | None:
    """A plausible, finite, non-negative JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number < MAX_PLAUSIBLE_SECONDS else None


def relay_clock(body: bytes, date: str | None) -> tuple[datetime | None, float | None]:
    """The relay's time (from the body's ``time``, else the ``Date`` header) and its
    signature window, from a ``/healthz`` answer; None for what it did not say."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    fields = doc if isinstance(doc, dict) else {}
    window = _number(fields.get("signature_window_seconds"))
    stamp = _number(fields.get("time"))
    if stamp is not None:
        return datetime.fromtimestamp(stamp, UTC), window
    if date:
        try:
            return parsedate_to_datetime(date), window
        except (TypeError, ValueError):
            pass
    return None, window


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
            body = await resp.content.read(MAX_PROBE_BYTES)
            status, date = resp.status, resp.headers.get("Date")
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        misconfigured = connection_error(e, base_url)
        if misconfigured is not None:
            raise misconfigured from e
        raise Unreachable(f"the relay at {base_url} did not answer ({type(e).__name__})") from e
    elapsed = time.monotonic() - started
    theirs, window = relay_clock(body, date)
    offset = None
    if theirs is not None:
        offset = (theirs - (wall + timedelta(seconds=elapsed / 2))).total_seconds()
    return HealthProbe(status, offset, elapsed, window)

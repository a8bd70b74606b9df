"""aiohttp's own protocol errors (malformed HTTP, a bad chunk, a peer that vanished) as one
``warning`` line with the peer's address and the error's type: no traceback, and at most
one line per ``every`` seconds (with the count of those left out), so an unauthenticated
client cannot flood the log. Given to aiohttp's request handler as its ``logger``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from relay.monitoring.logging import get_logger

log = get_logger("relay.http.protocol")


class ProtocolErrorLog(logging.Logger):
    """A stand-in for the ``aiohttp.server`` logger."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("aiohttp.server.pocnet")
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self.suppressed = 0
        self.seen = 0

    def _record(self, msg: object, args: tuple[Any, ...], exc_info: Any) -> None:
        self.seen += 1
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            self.suppressed += 1
            return
        peer = args[0] if args and isinstance(args[0], str) else None
        error = type(exc_info).__name__ if isinstance(exc_info, BaseException) else None
        log.warning(
            "http.protocol_error",
            peer=peer,
            error=error or str(msg)[:80],
            suppressed=self.suppressed,
        )
        self._last = now
        self.suppressed = 0

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **_kw: Any) -> None:
        self._record(msg, args, exc_info)

    def error(self, msg: object, *args: Any, **kw: Any) -> None:
        self._record(msg, args, kw.get("exc_info"))

    def warning(self, msg: object, *args: Any, **kw: Any) -> None:
        self._record(msg, args, kw.get("exc_info"))

    def debug(self, msg: object, *args: Any, **_kw: Any) -> None:
        return  # aiohttp's debug lines (premature disconnects) are not worth a line

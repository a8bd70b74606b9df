"""Login throttling, as data: at most ``max_failures`` failed logins per key (a name, or
a client address) in ``window``; a success clears the name's count."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

MAX_KEYS = 10_000


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window: timedelta = timedelta(minutes=5)) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, keys: tuple[str, ...], now: datetime) -> bool:
        """Whether any of ``keys`` has used up its failures in the window."""
        return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def failed(self, keys: tuple[str, ...], now: datetime) -> None:
        if len(self._failures) >= MAX_KEYS:  # bounded memory: forget the oldest key
            self._failures.pop(next(iter(self._failures)))
        for k in keys:
            self._failures.setdefault(k, deque()).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

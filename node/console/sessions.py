"""Console sessions and CSRF tokens, as data: no clock, no randomness of their own.

A session token is 32 random bytes given by the caller; only its SHA-256 is kept, so the
table (and a memory dump of it) does not hold usable cookies, and a lookup by digest does
not compare secrets byte by byte. Each session has its own CSRF token, compared in
constant time. A session ends after ``idle`` without a request, after ``absolute`` in any
case, or at logout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

TOKEN_BYTES = 32


@dataclass(frozen=True)
class Session:
    officer: str
    role: str
    csrf: str
    created: datetime
    last_seen: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class SessionBook:
    """Open sessions of one console process."""

    def __init__(self, idle: timedelta, absolute: timedelta = timedelta(hours=12)) -> None:
        self.idle = idle
        self.absolute = absolute
        self._open: dict[str, Session] = {}

    def open(self, officer: str, role: str, now: datetime, token: bytes, csrf: bytes) -> str:
        """Start a session; returns the cookie value."""
        if len(token) < TOKEN_BYTES or len(csrf) < TOKEN_BYTES:
            raise ValueError("session and CSRF tokens need 32 random bytes")
        cookie = _b64(token)
        self._open[_digest(cookie)] = Session(officer, role, _b64(csrf), now, now)
        return cookie

    def get(self, cookie: str | None, now: datetime) -> Session | None:
        """The live session of ``cookie`` (its idle clock restarted), else None."""
        if not cookie or len(cookie) > 128:
            return None
        key = _digest(cookie)
        found = self._open.get(key)
        if found is None:
            return None
        if now - found.last_seen > self.idle or now - found.created > self.absolute:
            del self._open[key]
            return None
        found = replace(found, last_seen=now)
        self._open[key] = found
        return found

    def peek(self, cookie: str | None, now: datetime) -> Session | None:
        """The live session of ``cookie`` without restarting its idle clock (for the
        live feed, which is no sign that someone is at the screen)."""
        if not cookie or len(cookie) > 128:
            return None
        found = self._open.get(_digest(cookie))
        if found is None:
            return None
        if now - found.last_seen > self.idle or now - found.created > self.absolute:
            return None
        return found

    def close(self, cookie: str | None) -> Session | None:
        """End the session of ``cookie`` (logout); the cookie is worthless afterwards."""
        if not cookie or len(cookie) > 128:
            return None
        return self._open.pop(_digest(cookie), None)

    def close_officer(self, officer: str) -> int:
        """End every session of ``officer`` (password changed, account disabled)."""
        keys = [k for k, s in self._open.items() if s.officer == officer]
        for k in keys:
            del self._open[k]
        return len(keys)

    def __len__(self) -> int:
        return len(self._open)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    if not submitted or len(submitted) > 128:
        return False
    return hmac.compare_digest(session.csrf.encode("ascii"), submitted.encode("utf-8", "replace"))

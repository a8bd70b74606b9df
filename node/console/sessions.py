"""Console sessions and CSRF tokens: the rules as pure functions, the rows in the node's
database (:class:`node.storage.sessionstore.SessionRecords`), so a session survives a
restart of the console; no clock and no randomness of their own.

A session token is 32 random bytes given by the caller; only its SHA-256 is stored, so the
table (and a copy of the database) holds no usable cookie, and a lookup by digest does not
compare secrets byte by byte. Each session has its own CSRF token, compared in constant
time. A session ends after ``idle`` without a request, after ``absolute`` in any case, or
at logout. ``last_seen`` is written at most every :data:`TOUCH_EVERY`, so a busy console
does not write the database on every page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from keys.encoding import format_time, parse_time
from node.storage.sessionstore import StoredSession

TOKEN_BYTES = 32
MAX_COOKIE = 128
TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Session:
    officer: str
    role: str
    csrf: str
    created: datetime
    last_seen: datetime


class SessionTable(Protocol):
    """Where sessions are kept (the node's store; a dictionary in tests)."""

    async def session_put(self, s: StoredSession) -> None: ...
    async def session_get(self, digest: str) -> StoredSession | None: ...
    async def session_touch(self, digest: str, last_seen: str) -> None: ...
    async def session_delete(self, digest: str) -> StoredSession | None: ...
    async def session_delete_officer(self, officer: str) -> int: ...
    async def session_delete_before(self, *, last_seen: str, created_at: str) -> int: ...


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def digest_of(cookie: str | None) -> str | None:
    """The key of a cookie's session, or None for a value that cannot be one."""
    if not cookie or len(cookie) > MAX_COOKIE:
        return None
    return hashlib.sha256(cookie.encode("utf-8", "replace")).hexdigest()


def alive(s: Session, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
    """Whether ``s`` is still open at ``now``."""
    return now - s.last_seen <= idle and now - s.created <= absolute


def needs_touch(s: Session, now: datetime) -> bool:
    """Whether ``last_seen`` is stale enough to be written again."""
    return now - s.last_seen >= TOUCH_EVERY


def _session(row: StoredSession) -> Session:
    return Session(
        row.officer, row.role, row.csrf, parse_time(row.created_at), parse_time(row.last_seen)
    )


class SessionBook:
    """The open sessions of a node's console."""

    def __init__(
        self, table: SessionTable, idle: timedelta, absolute: timedelta = timedelta(hours=12)
    ) -> None:
        self.table = table
        self.idle = idle
        self.absolute = absolute

    async def open(self, officer: str, role: str, now: datetime, token: bytes, csrf: bytes) -> str:
        """Start a session (and forget the sessions that have ended meanwhile); returns
        the cookie value."""
        if len(token) < TOKEN_BYTES or len(csrf) < TOKEN_BYTES:
            raise ValueError("session and CSRF tokens need 32 random bytes")
        await self.table.session_delete_before(
            last_seen=format_time(now - self.idle), created_at=format_time(now - self.absolute)
        )
        cookie = _b64(token)
        digest = digest_of(cookie)
        assert digest is not None
        stamp = format_time(now)
        await self.table.session_put(StoredSession(digest, officer, role, _b64(csrf), stamp, stamp))
        return cookie

    async def get(self, cookie: str | None, now: datetime) -> Session | None:
        """The live session of ``cookie`` (its idle clock restarted), else None."""
        digest = digest_of(cookie)
        row = None if digest is None else await self.table.session_get(digest)
        if digest is None or row is None:
            return None
        found = _session(row)
        if not alive(found, now, self.idle, self.absolute):
            await self.table.session_delete(digest)
            return None
        if needs_touch(found, now):
            await self.table.session_touch(digest, format_time(now))
            found = replace(found, last_seen=now)
        return found

    async def peek(self, cookie: str | None, now: datetime) -> Session | None:
        """The live session of ``cookie`` without restarting its idle clock (for the
        live feed, which is no sign that someone is at the screen)."""
        digest = digest_of(cookie)
        row = None if digest is None else await self.table.session_get(digest)
        if row is None:
            return None
        found = _session(row)
        return found if alive(found, now, self.idle, self.absolute) else None

    async def close(self, cookie: str | None) -> Session | None:
        """End the session of ``cookie`` (logout); the cookie is worthless afterwards."""
        digest = digest_of(cookie)
        row = None if digest is None else await self.table.session_delete(digest)
        return None if row is None else _session(row)

    async def close_officer(self, officer: str) -> int:
        """End every session of ``officer`` (password changed, account disabled)."""
        return await self.table.session_delete_officer(officer)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    if not submitted or len(submitted) > MAX_COOKIE:
        return False
    return hmac.compare_digest(session.csrf.encode("ascii"), submitted.encode("utf-8", "replace"))

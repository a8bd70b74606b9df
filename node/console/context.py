"""What every console handler shares, built once by :func:`node.console.app.build_app`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from keys.encoding import format_time
from node.console.board import AckDeadlines
from node.console.sessions import Session, SessionBook
from node.console.throttle import LoginThrottle
from node.exchange.outbox import Outbox
from node.forms import FormDefaults
from node.storage.store import Store
from node.trust.peers import PeerKeys

COOKIE = "pocnet_session"
LOGIN_COOKIE = "pocnet_login"


@dataclass(frozen=True)
class ConsoleOptions:
    """The ``[console]`` limits (see :mod:`node.console.settings` for the TOML section)."""

    idle_minutes: int = 15
    absolute_hours: int = 12
    login_failures: int = 5
    login_window_minutes: int = 5
    secure_cookies: bool = False  # set when served over TLS
    poll_interval: float = 0.2  # seconds between looks at the store for live updates
    board_rows: int = 200  # rows rendered at once (open work first); the rest are counted


@dataclass
class Console:
    """The parts a handler uses; no global state."""

    party: str
    store: Store
    peers: PeerKeys
    outbox: Outbox | None  # None: read-only (no keys unlocked)
    signing_key: Any
    ack: AckDeadlines
    settings: ConsoleOptions
    log: Any
    clock: Callable[[], datetime]
    defaults: FormDefaults = field(default_factory=FormDefaults)
    random: Callable[[int], bytes] = secrets.token_bytes
    sessions: SessionBook = field(init=False)
    throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.sessions = SessionBook(
            self.store, timedelta(minutes=s.idle_minutes), timedelta(hours=s.absolute_hours)
        )
        self.throttle = LoginThrottle(s.login_failures, timedelta(minutes=s.login_window_minutes))

    def stamp(self) -> str:
        return format_time(self.clock())

    async def record(
        self, session: Session | str, action: str, msg_id: str = "", detail: str | None = None
    ) -> None:
        """One line in the node's append-only access log, with the officer's name."""
        name = session if isinstance(session, str) else session.officer
        await self.store.record_access(
            action=action,
            msg_id=msg_id,
            os_user=f"officer:{name}"[:64],
            now=self.stamp(),
            detail=None if detail is None else detail[:200],
        )


CONSOLE_KEY = web.AppKey("console", Console)
SESSION_KEY = web.RequestKey("session", Session)

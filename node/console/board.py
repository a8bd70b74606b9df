"""The inbox board, as pure functions: which row comes first, what deadline it runs
against, and which rows sound the alarm. No I/O: the view passes in the stored messages,
the set of sent messages the peer acknowledged, the deadlines and ``now``.

Order: rank 0 is what needs someone now (an open incoming emergency, an open incoming
urgent request, an outgoing request gone OVERDUE); rank 1 other open work; rank 2 the
rest. Within ranks 0 and 1 the oldest first (it has waited longest), within rank 2 the
newest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from node.storage.consolequeries import BoardItem
from node.storage.states import LIVE_OUTGOING, OPEN_INCOMING, InboxState

OPEN_IN = OPEN_INCOMING
OPEN_OUT = LIVE_OUTGOING
ALARM_PRIORITIES = ("urgent", "emergency")


@dataclass(frozen=True)
class AckDeadlines:
    """Minutes within which an urgent or emergency request should be acknowledged
    (the node's ``[alerts] ack_deadline_*``)."""

    urgent: int = 60
    emergency: int = 15

    def for_priority(self, priority: str) -> timedelta | None:
        minutes = {"urgent": self.urgent, "emergency": self.emergency}.get(priority)
        return None if minutes is None else timedelta(minutes=minutes)


@dataclass(frozen=True)
class Row:
    """One line of the inbox board."""

    msg: BoardItem
    rank: int
    age: timedelta
    deadline_label: str | None  # "OVERDUE" or "EXPIRED": what happens at deadline_at
    deadline_at: datetime | None
    overdue: bool
    alarm: bool

    @property
    def is_open(self) -> bool:
        return self.rank < 2


def _time(value: str) -> datetime:
    """A stored time (RFC 3339 UTC, as written by :func:`keys.encoding.format_time`); the
    C parser, as the board reads two per message."""
    return datetime.fromisoformat(value)


def is_open(msg: BoardItem) -> bool:
    """Whether someone still has to act on it (received: not yet answered; sent: not yet
    refused or given up)."""
    return msg.state in (OPEN_IN if msg.direction == "in" else OPEN_OUT)


def _row(msg: BoardItem, acked: frozenset[str], ack: AckDeadlines, now: datetime) -> Row:
    created = _time(msg.created_at)
    expires = _time(msg.expires_at)
    incoming = msg.direction == "in"
    is_open = msg.state in (OPEN_IN if incoming else OPEN_OUT)
    waiting_ack = (
        (msg.acknowledged_at is None and msg.state == InboxState.NEW)
        if incoming
        else (is_open and msg.msg_id not in acked)
    )
    window = ack.for_priority(msg.priority)
    label: str | None = None
    at: datetime | None = None
    if is_open and waiting_ack and window is not None and created + window < expires:
        label, at = "OVERDUE", created + window
    elif is_open:
        label, at = "EXPIRED", expires
    overdue = label == "OVERDUE" and at is not None and at <= now
    alarm = bool(
        (incoming and waiting_ack and msg.priority in ALARM_PRIORITIES)
        or (not incoming and overdue)
    )
    if alarm or (incoming and is_open and msg.priority == "emergency"):
        rank = 0
    elif is_open:
        rank = 1
    else:
        rank = 2
    return Row(msg, rank, now - created, label, at, overdue, alarm)


def board(
    messages: Iterable[BoardItem], acked: frozenset[str], ack: AckDeadlines, now: datetime
) -> list[Row]:
    """The rows in board order (see the module's docstring)."""
    rows = [_row(m, acked, ack, now) for m in messages]
    urgent_first = sorted((r for r in rows if r.rank < 2), key=lambda r: (r.rank, -r.age))
    rest = sorted((r for r in rows if r.rank == 2), key=lambda r: r.age)
    return urgent_first + rest


def board_page(
    newest_first: list[BoardItem],
    acked: frozenset[str],
    ack: AckDeadlines,
    now: datetime,
    limit: int,
) -> list[Row]:
    """The first ``limit`` rows of :func:`board`. The closed messages must come newest
    first among themselves (as the store returns them): a closed message is always rank 2
    and rank 2 is newest first, so only the open ones are sorted and only the closed ones
    shown get a :class:`Row`."""
    open_rows = [_row(m, acked, ack, now) for m in newest_first if is_open(m)]
    open_rows.sort(key=lambda r: (r.rank, -r.age))
    room = max(0, limit - len(open_rows))
    closed: list[Row] = []
    for m in newest_first:
        if len(closed) >= room:
            break
        if not is_open(m):
            closed.append(_row(m, acked, ack, now))
    return (open_rows + closed)[:limit]


@dataclass(frozen=True)
class Filters:
    """What the officer narrowed the board to (every value already bounded)."""

    state: str = ""
    kind: str = ""
    counterpart: str = ""
    priority: str = ""
    since: str = ""  # YYYY-MM-DD
    text: str = ""  # full text: applied by the store query (ConsoleQueries.board_items)

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        def get(name: str, limit: int = 64) -> str:
            return str(query.get(name, "")).strip()[:limit]

        return cls(
            get("state"), get("kind"), get("counterpart"), get("priority"),
            get("since", 10), get("q", 200),
        )  # fmt: skip

    def keep(self, m: BoardItem) -> bool:
        """The filter's meaning, as a function (the store applies the same in SQL:
        ``ConsoleQueries.board_slice``; a test holds the two together), text aside."""
        if self.state == "open" and not is_open(m):
            return False
        if self.state and self.state != "open" and m.state != self.state:
            return False
        if self.kind and m.kind != self.kind:
            return False
        if self.counterpart and m.counterpart.lower() != self.counterpart.lower():
            return False
        if self.priority and m.priority != self.priority:
            return False
        return not (self.since and m.created_at[:10] < self.since)


def alarms(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.alarm]

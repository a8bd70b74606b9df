"""When an alert is due again: pure decisions for the alerts that repeat until someone acts.

Each function takes values and ``now`` and returns the alert's stable id (or None when
nothing is due); the daemon raises an id at most once (the store's ``notices``), so a hook
can de-duplicate on it and a restart does not repeat what was already said.

- **reminders** for an incoming urgent or emergency request not acknowledged: the n-th is
  due ``n * every`` after it was received (``[alerts] remind_every_emergency``,
  ``remind_every_urgent``, minutes), until it is acknowledged;
- **relay_unreachable**: the first after ``relay_unreachable_after`` seconds of failures,
  then every ``relay_unreachable_repeat`` seconds while it lasts; ``relay_back`` once when
  the relay answers after at least one of them;
- **directory_expiring**: once at each of 30, 7 and 1 days before the directory in force
  expires (per directory version); ``directory_renewed`` once when a later one is installed.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

DIRECTORY_STAGES = (30, 7, 1)
"""Days before expiry at which ``directory_expiring`` fires."""


def reminder_id(msg_id: str, received_at: datetime, every: timedelta, now: datetime) -> str | None:
    """The id of the latest reminder due for an unacknowledged request, or None.

    The n-th reminder (n >= 1) is due at ``received_at + n * every``; only the latest is
    returned, so a daemon that was stopped for a while reminds once, not n times.
    """
    if every <= timedelta(0) or now < received_at + every:
        return None
    n = math.floor((now - received_at) / every)
    return f"reminder:{msg_id}:{n}"


def unreachable_id(
    down_since: datetime, now: datetime, *, after: timedelta, repeat: timedelta
) -> str | None:
    """The id of the latest ``relay_unreachable`` alert due in an outage that began at
    ``down_since``, or None before ``after`` has passed."""
    if now < down_since + after:
        return None
    k = 1 if repeat <= timedelta(0) else 1 + math.floor((now - down_since - after) / repeat)
    return f"relay_unreachable:{down_since:%Y%m%dT%H%M%S.%f}:{k}"


def back_id(down_since: datetime) -> str:
    """The id of the ``relay_back`` alert closing the outage that began at ``down_since``."""
    return f"relay_back:{down_since:%Y%m%dT%H%M%S.%f}"


def directory_stage(expires: datetime, now: datetime) -> int | None:
    """The smallest of :data:`DIRECTORY_STAGES` (days) that the time left has reached,
    or None while more than 30 days are left (or once it has expired: that is an error,
    reported as the inbox being held)."""
    left = expires - now
    if left <= timedelta(0):
        return None
    reached = [d for d in DIRECTORY_STAGES if left <= timedelta(days=d)]
    return min(reached) if reached else None


def expiring_id(version: int, stage: int) -> str:
    return f"directory_expiring:{version}:{stage}"

"""When the outbox tries an envelope again: a pure decision, capped per priority.

An emergency queued while the relay is down must not wait behind an exponential backoff
built for routine mail: the delay after the n-th failed attempt doubles from ``base`` but
never exceeds the cap of the message's priority (``[outbox] retry_max_emergency``,
``retry_max_urgent``, ``retry_max`` for routine). Jitter is "equal jitter" (half fixed,
half random) and is passed in as a number, so the decision is a function of values only;
the daemon also wakes the outbox the moment the relay answers again, so these caps bound
the wait only while the relay still fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

PRIORITY_RANK: Mapping[str, int] = MappingProxyType({"emergency": 0, "urgent": 1, "routine": 2})
"""Sending order: lower first; an unknown priority is sent last."""


def _default_caps() -> Mapping[str, float]:
    return MappingProxyType({"emergency": 5.0, "urgent": 30.0, "routine": 300.0})


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts: ``base`` doubled per failure, capped per priority.

    Attributes:
        base: the delay after the first failed attempt, in seconds.
        caps: the longest delay per priority, in seconds; a priority not listed gets the
            largest cap.
    """

    base: float = 1.0
    caps: Mapping[str, float] = field(default_factory=_default_caps)

    def cap_for(self, priority: str) -> float:
        """The longest delay for ``priority``."""
        if priority in self.caps:
            return self.caps[priority]
        return max(self.caps.values(), default=300.0)


def retry_delay(
    priority: str,
    attempts: int,
    *,
    policy: RetryPolicy,
    jitter: float,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 for the first).

    ``jitter`` in ``[0, 1]`` picks a delay in ``[d/2, d]`` where
    ``d = min(cap, base * 2**(attempts-1))``. A relay's ``Retry-After`` hint lengthens the
    delay, but never beyond the priority's cap.
    """
    cap = policy.cap_for(priority)
    exp = min(cap, policy.base * float(2 ** max(0, min(attempts - 1, 30))))
    delay = exp / 2 + min(1.0, max(0.0, jitter)) * exp / 2
    if retry_after:
        delay = max(delay, min(retry_after, cap))
    return min(delay, cap)


def next_attempt(
    priority: str,
    attempts: int,
    now: datetime,
    *,
    policy: RetryPolicy,
    jitter: float,
    retry_after: float | None = None,
) -> datetime:
    """When to try again after the ``attempts``-th failure at ``now`` (see
    :func:`retry_delay`)."""
    return now + timedelta(
        seconds=retry_delay(
            priority, attempts, policy=policy, jitter=jitter, retry_after=retry_after
        )
    )


def sending_order(priority: str, created_at: str) -> tuple[int, str]:
    """Sort key of queued envelopes: emergency first, then urgent, then routine; oldest
    first within a priority."""
    return PRIORITY_RANK.get(priority, len(PRIORITY_RANK)), created_at

"""Which relay to ask next, when a node knows several (``[relay] urls``): a pure policy.

The node sticks to the relay that last answered (:attr:`current`); when it fails (no
answer, or a 5xx such as the 503 of a relay that lost its database) the node tries the
others in the configured order, in the same call. A relay that failed recently is *cooling*
for ``base * 2**(failures - 1)`` seconds (at most ``cap``): it is tried after every relay
that is not cooling, oldest failure first, so a call still tries every relay before it
gives up, but does not start with one that just failed. An answer resets a relay's record.

Every relay serves the same database, so which one answers changes nothing the node
keeps: receipts, evidence and the audit log are the same (docs/adr/0014).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    """What the node remembers of one relay URL.

    Attributes:
        failures: consecutive failed calls (0: it answered last time, or was never tried).
        failed_at: when the last failure happened (monotonic seconds), or None.
    """

    failures: int = 0
    failed_at: float | None = None


def cooling(health: Health, now: float, *, base: float, cap: float) -> bool:
    """Whether a relay that failed is still in its cooling time at ``now``."""
    if health.failures == 0 or health.failed_at is None:
        return False
    pause: float = min(base * 2 ** (health.failures - 1), cap)
    return now - health.failed_at < pause


def try_order(
    current: int, health: Sequence[Health], now: float, *, base: float, cap: float
) -> tuple[int, ...]:
    """The indices of the relays to try, in order, for one call.

    The current relay first, then the others in configured order; every cooling relay
    after every other, the one that failed longest ago first. Each index once.
    """
    preferred = [current, *(i for i in range(len(health)) if i != current)]
    ready = [i for i in preferred if not cooling(health[i], now, base=base, cap=cap)]
    cooled = [i for i in preferred if i not in ready]
    cooled.sort(key=lambda i: health[i].failed_at or 0.0)
    return (*ready, *cooled)


def failed(health: Health, now: float) -> Health:
    """The record of a relay after a failed call at ``now``."""
    return Health(health.failures + 1, now)


__all__ = ["Health", "cooling", "failed", "try_order"]

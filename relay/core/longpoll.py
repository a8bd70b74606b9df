"""The inbox long poll's decisions: how many items, how long to wait, when to answer.

Pure functions of values and the event loop's clock reading (``now``, in seconds, a
monotonic clock); :meth:`relay.core.service.RelayService.inbox` reads the clock, fetches
and waits. A poll answers at once with what there is; with nothing, it waits for a wake-up
(:class:`relay.storage.notify.Notifier`) until its deadline, then answers empty. It never
waits past ``longpoll_max_seconds``, and answers at once while the relay shuts down.
"""

from __future__ import annotations


def item_limit(requested: int, most: int) -> int:
    """The number of items a poll may return: at least one, at most ``most``."""
    return max(1, min(requested, most))


def poll_deadline(now: float, requested_wait: float, most_wait: float) -> float:
    """When a poll started at ``now`` must answer: ``now`` plus the wait asked for, within
    ``[0, most_wait]`` (a negative wait is no wait)."""
    return now + max(0.0, min(requested_wait, most_wait))


def wait_or_answer(*, has_items: bool, deadline: float, now: float, closing: bool) -> float | None:
    """What a poll does after a look at the inbox.

    Returns:
        None to answer now (there are items, the deadline has come, or the relay is
        closing), else the seconds to wait for a wake-up before answering empty.
    """
    remaining = deadline - now
    if has_items or remaining <= 0 or closing:
        return None
    return remaining


__all__ = ["item_limit", "poll_deadline", "wait_or_answer"]

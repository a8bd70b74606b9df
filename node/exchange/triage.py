"""The inbox's triage of an incoming envelope: pure decisions of values the inbox gathered.

:class:`node.exchange.inbox.Inbox` parses an envelope, looks up what it needs (is this
``msg_id`` stored, was this exact envelope rejected, do we know the sender and hold the key
it was sealed to) and asks :func:`triage` what to do before opening it; when opening fails,
:func:`rejection_reason` says whether that is a replay (skip it) or which reason to record.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum


class Triage(StrEnum):
    """What to do with a parsed envelope before opening it."""

    STORED = "stored"  # its msg_id is already stored: the relay delivered it again
    REJECTED_BEFORE = "rejected_before"  # this exact envelope was already refused
    REFRESH_THEN_OPEN = "refresh_then_open"  # a new sender or key: fetch the directory first
    OPEN = "open"


def triage(
    *,
    stored: bool,
    rejected_before: bool,
    sender_known: bool,
    key_usable: bool,
    refreshed: bool,
) -> Triage:
    """Decide what to do with an envelope, in this order: a stored ``msg_id`` is skipped
    (the officer sees each message once), an envelope already rejected is skipped (one
    REJECTED receipt per envelope), an unknown sender or a key we cannot use calls for one
    directory refresh per batch (``refreshed``: already done), else it is opened.

    Args:
        stored: a message with this ``msg_id`` is stored.
        rejected_before: this envelope's digest is among the stored rejections.
        sender_known: the directory lists its sender.
        key_usable: the key it was sealed to is one of ours valid now.
        refreshed: the directory was already refreshed during this batch.
    """
    if stored:
        return Triage.STORED
    if rejected_before:
        return Triage.REJECTED_BEFORE
    if not refreshed and not (sender_known and key_usable):
        return Triage.REFRESH_THEN_OPEN
    return Triage.OPEN


def rejection_reason(reason: str, *, enc_key_id: str, own_key_ids: Collection[str]) -> str | None:
    """The reason to record for an envelope that failed to open, or None for a replay
    (already opened in this batch: counted as a duplicate, no receipt).

    An envelope sealed to a key this node holds but may no longer use (its overlap window
    is over) is ``enc_key_retired``, not ``unknown_enc_key``.
    """
    if reason == "replay":
        return None
    if reason == "unknown_enc_key" and enc_key_id in own_key_ids:
        return "enc_key_retired"
    return reason


__all__ = ["Triage", "rejection_reason", "triage"]

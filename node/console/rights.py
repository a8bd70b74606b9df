"""What each console role may do, as data, and the one check of it (pure).

An ``officer`` does the night's work: reads, acknowledges, answers, sends, prints, keeps
drafts. A ``supervisor`` does that and also what changes who can work or what was already
decided: managing officers (disable, enable), reading the access log (Protocol Art.
14(8): who saw what), and sending a failed request again. The server checks every such
action (:func:`node.console.supervisor_views.require`); the pages only hide the links.
"""

from __future__ import annotations

from enum import StrEnum


class Right(StrEnum):
    MANAGE_OFFICERS = "manage_officers"
    READ_ACCESS_LOG = "read_access_log"
    RESEND_FAILED = "resend_failed"


RIGHTS: dict[Right, frozenset[str]] = {
    Right.MANAGE_OFFICERS: frozenset({"supervisor"}),
    Right.READ_ACCESS_LOG: frozenset({"supervisor"}),
    Right.RESEND_FAILED: frozenset({"supervisor"}),
}


def allowed(role: str, right: Right) -> bool:
    """Whether ``role`` holds ``right`` (an unknown role holds none)."""
    return role in RIGHTS[right]


def rights_of(role: str) -> frozenset[Right]:
    return frozenset(r for r in Right if allowed(role, r))

"""relay.core.node_receipts: which node receipts the relay stores, as a table of named cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keys.encoding import format_time
from keys.errors import NotFound, PocnetError, Rejected, ValidationError
from keys.receipts import Receipt
from relay.core.node_receipts import check_node_receipt
from relay.storage.store import StoredEnvelope

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
MSG = "0" * 31 + "1"
ACCEPTED_SHA = "a" * 64
OTHER_SHA = "b" * 64

ENV = StoredEnvelope(
    msg_id=MSG,
    sender="FR",
    recipient="DE",
    priority="urgent",
    state="pending",
    envelope_sha256=ACCEPTED_SHA,
    header=b"{}",
    accepted_receipt=b"{}",
    expires_at=NOW + timedelta(days=1),
    accepted_at=NOW - timedelta(hours=1),
    overdue_at=None,
)


def receipt(
    type: str = "RETRIEVED",
    *,
    sha: str = ACCEPTED_SHA,
    issued: datetime = NOW,
    issuer: str = "DE",
) -> Receipt:
    reason = "verification_failed" if type == "REJECTED" else None
    return Receipt(type, MSG, sha, issuer, format_time(issued), reason=reason)


# name: (receipt, caller, envelope, expected: bool digest_differs | (error class, code/reason))
CASES: dict[str, tuple[Receipt, str, StoredEnvelope | None, Any]] = {
    "retrieved": (receipt("RETRIEVED"), "DE", ENV, False),
    "acknowledged": (receipt("ACKNOWLEDGED"), "DE", ENV, False),
    "rejected-same-digest": (receipt("REJECTED"), "DE", ENV, False),
    "rejected-other-digest-is-stored-and-flagged": (
        receipt("REJECTED", sha=OTHER_SHA),
        "DE",
        ENV,
        True,
    ),
    "issued-at-the-skew-edge": (receipt(issued=NOW + SKEW), "DE", ENV, False),
    "issued-long-ago": (receipt(issued=NOW - timedelta(days=30)), "DE", ENV, False),
    "relay-type": (
        receipt("DELIVERED", issuer="relay"),
        "DE",
        ENV,
        (ValidationError, "bad_receipt_type"),
    ),
    "relay-type-beats-missing-envelope": (
        receipt("EXPIRED", issuer="relay"),
        "DE",
        None,
        (ValidationError, "bad_receipt_type"),
    ),
    "future": (receipt(issued=NOW + SKEW + timedelta(seconds=1)), "DE", ENV, (Rejected, "future")),
    "future-beats-missing-envelope": (
        receipt(issued=NOW + timedelta(hours=1)),
        "DE",
        None,
        (Rejected, "future"),
    ),
    "no-such-envelope": (receipt(), "DE", None, (NotFound, "not_found")),
    "caller-is-the-sender": (receipt(issuer="FR"), "FR", ENV, (NotFound, "not_found")),
    "caller-is-a-third-party": (receipt(issuer="IT"), "IT", ENV, (NotFound, "not_found")),
    "retrieved-other-digest": (
        receipt("RETRIEVED", sha=OTHER_SHA),
        "DE",
        ENV,
        (Rejected, "envelope_mismatch"),
    ),
    "acknowledged-other-digest": (
        receipt("ACKNOWLEDGED", sha=OTHER_SHA),
        "DE",
        ENV,
        (Rejected, "envelope_mismatch"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_node_receipt_checks(name: str) -> None:
    r, caller, env, expected = CASES[name]

    def decide() -> bool:
        verdict = check_node_receipt(r, caller=caller, envelope=env, now=NOW, clock_skew=SKEW)
        assert verdict.envelope is env
        return verdict.digest_differs

    if isinstance(expected, bool):
        assert decide() is expected
        return
    cls, code = expected
    with pytest.raises(PocnetError) as e:
        decide()
    assert type(e.value) is cls
    assert getattr(e.value, "reason", e.value.code) == code
    if cls is Rejected:
        assert str(e.value) == "rejected"  # opaque to the peer

"""``node respond``: only a received message can be answered, and only by a kind that
answers its kind (:func:`node.exchange.answer.answerable`)."""

from __future__ import annotations

import pytest

from keys.host.command import EXIT_INVALID, exit_code_for
from node.exchange.answer import answerable

# (name, original kind, direction, reply kind, refusal code or None)
PR, PRESP, EDR = "preservation_request", "preservation_response", "emergency_disclosure_request"
MISMATCH = "reply_kind_mismatch"
CASES = [
    ("preservation answered", PR, "in", PRESP, None),
    ("disclosure answers preservation", PR, "in", "traffic_data_disclosure", None),
    ("determination answers emergency", EDR, "in", "emergency_determination", None),
    ("status update answers anything", "assistance_request", "in", "status_update", None),
    ("supplementary request answers any", "subscriber_info_request", "in",
     "supplementary_info_request", None),
    ("supplementary reply answers its request", "supplementary_info_request", "in",
     "supplementary_info_reply", None),
    ("extension answers a response", PRESP, "in", "preservation_extension", None),
    ("own sent request", PR, "out", PRESP, "not_received"),
    ("own sent request, any-kind reply", "assistance_request", "out", "status_update",
     "not_received"),
    ("response to an emergency", EDR, "in", PRESP, MISMATCH),
    ("a request is not a reply", PR, "in", PR, MISMATCH),
    ("determination to a preservation", PR, "in", "emergency_determination", MISMATCH),
    ("supplementary reply without request", "assistance_request", "in",
     "supplementary_info_reply", MISMATCH),
    ("ping is no reply", "ping", "in", "ping", MISMATCH),
]  # fmt: skip


@pytest.mark.parametrize(
    ("original", "direction", "reply", "refusal"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_answerable(original: str, direction: str, reply: str, refusal: str | None) -> None:
    error = answerable(original, direction, reply)
    if refusal is None:
        assert error is None
        return
    assert error is not None and error.code == refusal
    assert error.fault == "input" and exit_code_for(error) == EXIT_INVALID
    assert "caused by your input" in error.diagnostics()


def test_a_mismatch_names_the_kinds_that_fit() -> None:
    error = answerable(EDR, "in", PRESP)
    assert error is not None
    assert "emergency_determination" in error.message and "status_update" in error.message

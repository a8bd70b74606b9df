"""End to end with real processes: requests other than preservation, acknowledged and answered.

One relay and two ``node run`` daemons (FR, DE) on loopback are shared by the module. For
each request -> reply pair, FR sends, DE acknowledges and responds, and FR's timeline must
show ACKNOWLEDGED and the reply, its ``inbox --sent`` and ``status`` the progress
(acknowledged, then replied), and the reply must carry
the request's priority (replies inherit it unless ``--priority`` says otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# request kind, reply kind, the priority the request is sent with (None: the kind's default)
PAIRS = [
    pytest.param("emergency_disclosure_request", "emergency_determination", None, id="emergency"),
    pytest.param(
        "subscriber_info_request", "supplementary_info_request", "urgent", id="subscriber"
    ),
    pytest.param("assistance_request", "status_update", "urgent", id="assistance"),
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork.create(
        tmp_path_factory.mktemp("e2e-replies"),
        ["FR", "DE"],
        relay_limits={"rate_per_second": 1000.0, "rate_burst": 1000.0},
    )
    with network.running("FR", "DE"):
        yield network


def _form(node: NodeProcess, kind: str) -> Path:
    path = node.data / f"{kind}-{datetime.now(UTC).timestamp()}.json"
    path.write_text(json.dumps(example(kind, datetime.now(UTC), node.party)))
    return path


def _has(node: NodeProcess, msg_id: str, *types: str) -> bool:
    return set(types) <= set(node.receipt_types(msg_id))


@pytest.mark.parametrize(("request_kind", "reply_kind", "priority"), PAIRS)
def test_request_acknowledged_and_answered(
    net: LocalNetwork, request_kind: str, reply_kind: str, priority: str | None
) -> None:
    fr, de = net["FR"], net["DE"]
    extra = ["--priority", priority] if priority else []
    code, sent = fr.call(
        "send", "--to", "DE", "--kind", request_kind,
        "--form", str(_form(fr, request_kind)), "--no-input", *extra,
    )  # fmt: skip
    assert code == 0, sent
    msg_id, sent_priority = sent["msg_id"], sent["priority"]
    wait_for(lambda: _has(fr, msg_id, "RETRIEVED"), 20, f"RETRIEVED for {msg_id}")
    code, acked = de.call("ack", msg_id)
    assert code == 0 and acked["acknowledged"], acked
    wait_for(lambda: _has(fr, msg_id, "ACKNOWLEDGED"), 20, f"ACKNOWLEDGED for {msg_id}")
    code, out = fr.call("inbox", "--sent")
    assert code == 0
    assert {m["msg_id"]: m["state"] for m in out["messages"]}[msg_id] == "acknowledged"

    code, replied = de.call(
        "respond", msg_id, "--kind", reply_kind, "--form", str(_form(de, reply_kind)),
        "--no-input",
    )  # fmt: skip
    assert code == 0, replied
    reply_id = replied["msg_id"]
    assert replied["priority"] == sent_priority  # inherited from the request
    wait_for(lambda: any(m.msg_id == reply_id for m in fr.messages("in")), 20, "the reply")
    reply = next(m for m in fr.messages("in") if m.msg_id == reply_id)
    assert (reply.kind, reply.in_reply_to, reply.priority) == (reply_kind, msg_id, sent_priority)

    code, timeline = fr.call("status", msg_id)
    assert code == 0 and timeline["all_signatures_valid"], timeline
    assert timeline["state"] == "replied"
    events = [e["event"] for e in timeline["entries"]]
    assert {"sent", "ACCEPTED", "RETRIEVED", "ACKNOWLEDGED", "reply"} <= set(events)
    assert events[0] == "sent" and events[-1] == "reply"
    assert events.index("ACKNOWLEDGED") < events.index("reply")
    code, out = fr.call("inbox", "--sent")
    assert {m["msg_id"]: m["state"] for m in out["messages"]}[msg_id] == "replied"


def test_only_what_was_received_can_be_answered_and_only_by_a_fitting_kind(
    net: LocalNetwork,
) -> None:
    fr, de = net["FR"], net["DE"]
    code, sent = fr.call(
        "send", "--to", "DE", "--kind", "preservation_request",
        "--form", str(_form(fr, "preservation_request")), "--no-input",
    )  # fmt: skip
    assert code == 0, sent
    msg_id = sent["msg_id"]
    wait_for(lambda: _has(fr, msg_id, "RETRIEVED"), 20, f"RETRIEVED for {msg_id}")
    # FR answering its own request: refused, nothing sent, the request not marked replied.
    before = len(fr.messages("out"))
    code, out = fr.call(
        "respond", msg_id, "--kind", "preservation_response",
        "--form", str(_form(fr, "preservation_response")), "--no-input",
    )  # fmt: skip
    assert (code, out["error"]) == (5, "not_received"), out
    assert len(fr.messages("out")) == before
    # DE answering with a kind that does not answer a preservation request: refused.
    code, out = de.call(
        "respond", msg_id, "--kind", "emergency_determination",
        "--form", str(_form(de, "emergency_determination")), "--no-input",
    )  # fmt: skip
    assert (code, out["error"]) == (5, "reply_kind_mismatch"), out
    assert "preservation_response" in out["message"]
    assert not [m for m in de.messages("out") if m.in_reply_to == msg_id]
    received = next(m for m in de.messages("in") if m.msg_id == msg_id)
    assert received.acknowledged_at is None  # a refused answer acknowledges nothing
    result = de.cli("respond", msg_id[:10], "--kind", "withdrawal", "--no-input")
    assert result.returncode == 5 and "caused by your input" in result.stderr

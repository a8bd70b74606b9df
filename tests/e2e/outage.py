"""An emergency queued while the relay is down, then the relay restarted: how long after
the relay answers again does the sender hold ``ACCEPTED``?

Shared by ``tests/e2e/test_node_emergency_e2e.py`` (one bounded measurement) and
``python -m tests.bench emergency`` (p50/p99 over several outages). The sender's daemon
runs with production-like retry settings (:data:`PRODUCTION_RETRY`): a routine backoff
doubling to 300 s, reconnection backoff to 30 s, so only the per-priority cap, the probe
and the wake-up on reconnection can make the emergency fast.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.support.processes import wait_for

PRODUCTION_RETRY: dict[str, dict[str, Any]] = {
    "relay": {"reconnect_base": 0.5, "reconnect_max": 30.0},
    "outbox": {
        "retry_base": 1.0,
        "retry_max": 300.0,
        "retry_max_urgent": 30.0,
        "retry_max_emergency": 5.0,
        "probe_interval": 1.0,
        "scan_interval": 5.0,
    },
}
GOAL_S = 2.0
"""The issue's goal: ACCEPTED within 2 s of the relay answering again."""


def queue_emergency(sender: NodeProcess, to: str) -> dict[str, Any]:
    """``node send`` an emergency disclosure request while the relay is down (it queues);
    its JSON answer."""
    kind = "emergency_disclosure_request"
    form = sender.data / f"{kind}-{datetime.now(UTC).timestamp()}.json"
    form.write_text(json.dumps(example(kind, datetime.now(UTC), sender.party)))
    code, out = sender.call(
        "send", "--to", to, "--kind", kind, "--form", str(form), "--no-input",
        "--priority", "emergency",
    )  # fmt: skip
    assert code == 0 and out.get("queued"), out
    return dict(out)


def accepted(sender: NodeProcess, msg_id: str) -> bool:
    return "ACCEPTED" in sender.receipt_types(msg_id)


def emergency_after_outage(
    net: LocalNetwork, sender: str, to: str, *, failures: int = 3
) -> tuple[float, dict[str, Any]]:
    """Stop the relay, queue an emergency at ``sender``, wait until its daemon has failed
    ``failures`` attempts, restart the relay; seconds from the relay answering (its
    ``/healthz`` answered: :meth:`RelayProcess.start` returned) to ``ACCEPTED`` stored at
    the sender, measured by polling the sender's store (bounded by 30 s); and what
    ``node send`` answered."""
    node = net[sender]
    net.relay.stop()
    try:
        sent = queue_emergency(node, to)
        msg_id = str(sent["msg_id"])

        def failed_enough() -> bool:
            msg = next(m for m in node.messages("out") if m.msg_id == msg_id)
            return msg.attempts >= failures

        wait_for(failed_enough, 60, f"{failures} failed attempts")
    finally:
        net.relay.start()
    answered = time.monotonic()
    wait_for(lambda: accepted(node, msg_id), 30, f"ACCEPTED for {msg_id}")
    return time.monotonic() - answered, sent

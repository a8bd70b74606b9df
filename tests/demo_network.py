"""``make demo``: a relay and three nodes on loopback, two real requests end to end.

In a fresh folder under ``var/``:

1. ``relay init`` and ``node init`` for FR, DE and BR (SQLite everywhere; unencrypted
   keystores, as for unattended daemons: each daemon says so when it starts); the nodes'
   public bundles are added to the relay;
2. the relay and the three daemons start (``relay serve``, ``node run``);
3. FR sends an urgent expedited preservation request (Convention Art. 29) to DE, and BR an
   emergency disclosure request (Protocol Art. 9) to DE;
4. DE's daemon retrieves and verifies both and sends ``RETRIEVED``; DE's officer
   acknowledges them and responds: data preserved for 90 days, disclosure granted;
5. the demo prints FR's and BR's timelines (every receipt and reply, each signature checked)
   and DE's statistics, stops every process it started, and exits 0.

Run: ``make demo`` or ``python -m tests.demo_network``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess, wait_for

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"log": {"level": "info"}, "alerts": {"watch_interval": 5.0}}


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def show(result_text: str) -> None:
    print("   " + result_text.rstrip().replace("\n", "\n   "), flush=True)


def form(node: NodeProcess, kind: str, party: str) -> Path:
    path = node.data / f"{kind}.json"
    path.write_text(json.dumps(example(kind, datetime.now(UTC), party), indent=2))
    return path


def send(node: NodeProcess, to: str, kind: str, priority: str | None = None) -> str:
    extra = ["--priority", priority] if priority else []
    code, out = node.call(
        "send",
        "--to",
        to,
        "--kind",
        kind,
        "--form",
        str(form(node, kind, node.party)),
        "--no-input",
        *extra,
    )
    if code != 0:
        raise RuntimeError(f"node send failed ({code}): {out}")
    show(
        f"{node.party} -> {to}: {kind} ({out['priority']}), msg_id {out['msg_id']}: {out['state']}"
    )
    return str(out["msg_id"])


def respond(node: NodeProcess, msg_id: str, kind: str) -> str:
    code, out = node.call(
        "respond", msg_id, "--kind", kind, "--form", str(form(node, kind, node.party)), "--no-input"
    )
    if code != 0:
        raise RuntimeError(f"node respond failed ({code}): {out}")
    show(f"{node.party} answers {msg_id[:12]} with {kind}: msg_id {out['msg_id']}")
    return str(out["msg_id"])


def main() -> int:
    started = time.monotonic()
    root = ROOT / "var" / f"demo-network-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    step(f"a relay and three nodes (FR, DE, BR) in {root.relative_to(ROOT)}")
    net = LocalNetwork.create(root, ["FR", "DE", "BR"], options=QUIET)
    fr, de, br = net["FR"], net["DE"], net["BR"]
    with net.running("FR", "DE", "BR"):
        show(f"relay on {net.relay.url}; daemons of FR, DE and BR running")
        step("two requests to DE")
        preservation = send(fr, "DE", "preservation_request", "urgent")
        emergency = send(br, "DE", "emergency_disclosure_request")

        step("DE's daemon retrieves and verifies them")
        wait_for(
            lambda: {preservation, emergency} <= {m.msg_id for m in de.messages("in")},
            30,
            "both requests at DE",
        )
        show(de.cli("inbox", "--open").stdout)
        alerts = [e["msg_id"][:12] for e in de.events() if e["event"] == "alert.incoming"]
        show(f"alerts raised at DE (urgent and emergency items): {', '.join(alerts)}")

        step("DE's officer acknowledges and responds")
        for msg_id in (emergency, preservation):
            code, out = de.call("ack", msg_id)
            show(f"ACKNOWLEDGED {msg_id[:12]}" if code == 0 else f"ack failed: {out}")
        respond(de, emergency, "emergency_determination")
        respond(de, preservation, "preservation_response")
        for node, msg_id in ((fr, preservation), (br, emergency)):
            wait_for(
                lambda n=node, m=msg_id: (
                    "ACKNOWLEDGED" in n.receipt_types(m)
                    and any(x.in_reply_to == m for x in n.messages("in"))
                ),
                30,
                f"{node.party}'s acknowledgement and reply",
            )

        step("FR's timeline of its preservation request")
        show(fr.cli("status", preservation).stdout)
        step("BR's timeline of its emergency disclosure request")
        show(br.cli("status", emergency).stdout)
        step("DE's statistics")
        show(de.cli("stats").stdout)
    step(f"all processes stopped; demo done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

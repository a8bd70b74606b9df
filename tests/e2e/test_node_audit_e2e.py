"""End to end: the daemons check the real relay's audit log (``relay serve`` + two ``node
run`` on loopback).

FR sends requests to DE. FR's daemon proves every receipt of its requests in the relay's
log (entry, leaf, inclusion proof against a checkpoint it verified) and keeps its trusted
checkpoint advancing by consistency proofs; the evidence bundle carries the proofs and
verifies offline, with the bundle's keys and with FR's pins; a tampered proof fails
(exit 7); ``relay audit verify`` agrees with what the nodes saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import b64u_decode, b64u_encode
from keys.host.command import EXIT_REFUSED
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.integration.relayproc import relay_cli
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
ALARM_EVENTS = {
    "audit.fork",
    "audit.rollback",
    "audit.inclusion_failed",
    "audit.checkpoint_rejected",
}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    root = tmp_path_factory.mktemp("audit-e2e")
    network = LocalNetwork.create(
        root,
        ["FR", "DE"],
        relay_limits={"rate_per_second": 1000.0, "rate_burst": 1000.0},
        options={"audit": {"check_interval": 1.0}},
    )
    with network.running("FR", "DE"):
        yield network


def send_ping(net: LocalNetwork) -> str:
    fr = net["FR"]
    form = fr.data / f"ping-{datetime.now(UTC).timestamp()}.json"
    form.write_text("{}")
    code, out = fr.call("send", "--to", "DE", "--kind", "ping", "--form", str(form), "--no-input")
    assert code == 0, out
    return str(out["msg_id"])


def wait_proven(node: NodeProcess, msg_id: str, count: int = 3) -> list[Any]:
    return wait_for(
        lambda: (p := node.audit_proofs(msg_id)) and len(p) >= count and p,
        30,
        f"{count} receipts of {msg_id} proven in the relay's log",
    )


def status(node: NodeProcess) -> dict[str, Any]:
    code, out = node.call("audit", "status")
    assert code == 0, out
    return dict(out)


def test_evidence_bundle_carries_proofs_that_verify_offline(
    net: LocalNetwork, tmp_path: Path
) -> None:
    fr = net["FR"]
    msg_id = send_ping(net)
    proofs = wait_proven(fr, msg_id)
    assert {p.receipt_type for p in proofs} == {"ACCEPTED", "DELIVERED", "RETRIEVED"}
    out = tmp_path / "evidence.json"
    code, exported = fr.call("evidence", msg_id, "--out", str(out))
    assert code == 0 and exported["audit_proofs"] == 3, exported
    bundle = json.loads(out.read_text())
    assert len(bundle["audit"]["checkpoints"]) >= 1
    # --fetch checks again with the relay first and adds its own record.
    fetched = tmp_path / "fetched.json"
    code, exported = fr.call("evidence", msg_id, "--out", str(fetched), "--fetch")
    assert code == 0 and exported["audit_proofs"] == 3, exported
    relay_record = json.loads(fetched.read_text())["relay_evidence"]
    assert {p["leaf_index"] for p in relay_record["proofs"]} == {p.leaf_index for p in proofs}

    # Offline, by someone who is no node: the bundle's own keys.
    outsider = NodeProcess(tmp_path / "outsider", "XX")
    (tmp_path / "outsider").mkdir()
    code, report = outsider.call("evidence", "verify", str(out), "--included-keys")
    assert code == 0 and report["valid"], report
    logged = [c for c in report["checks"] if c["check"].endswith("relay's audit log")]
    assert len(logged) == 3 and all(c["ok"] for c in logged)
    # And by FR with the keys it trusts.
    code, report = fr.call("evidence", "verify", str(out))
    assert code == 0 and report["key_source"] == "pinned"
    assert report["content"] is None and bundle["content"] is None  # no plaintext by default

    # With content, exported by the recipient: the outsider reads what FR signed.
    with_content = tmp_path / "with-content.json"
    code, exported = net["DE"].call(
        "evidence", msg_id, "--out", str(with_content), "--with-content"
    )
    assert code == 0 and exported["with_content"], exported
    assert oct(with_content.stat().st_mode & 0o777) == "0o600"
    code, report = outsider.call("evidence", "verify", str(with_content), "--included-keys")
    assert code == 0 and report["valid"], report
    assert report["content"]["msg_id"] == msg_id and report["content"]["sender"] == "FR"
    assert {"check": "content signed by FR for this message", "ok": True} in report["checks"]

    # A proof hash flipped: not valid, exit 7, and the check says why.
    proof = next(p for p in bundle["audit"]["proofs"] if p["hashes"])
    raw = bytearray(b64u_decode(proof["hashes"][0]))
    raw[3] ^= 0x10
    proof["hashes"][0] = b64u_encode(bytes(raw))
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bundle))
    code, report = outsider.call("evidence", "verify", str(bad), "--included-keys")
    assert code == EXIT_REFUSED and not report["valid"]
    assert any(
        "does not lead to the checkpoint's root" in c.get("note", "")
        for c in report["checks"]
        if not c["ok"]
    )


def test_trusted_checkpoint_advances_consistently(net: LocalNetwork) -> None:
    fr, de = net["FR"], net["DE"]
    first = send_ping(net)
    wait_proven(fr, first)
    before = status(fr)["checkpoint"]["tree_size"]
    second = send_ping(net)
    wait_proven(fr, second)
    after = status(fr)
    assert after["checkpoint"]["tree_size"] > before
    assert after["alarm_count"] == 0 and after["pending"] == 0
    # A check on demand agrees, and the relay's own verification of its database too.
    code, checked = fr.call("audit", "check")
    assert code == 0 and checked["check"]["alarms"] == [], checked
    verified = relay_cli("audit", "verify", "--data", str(net.relay.data))
    assert verified["entries"] >= checked["checkpoint"]["tree_size"]
    events = [e.get("event") for e in fr.events()]
    assert "audit.checkpoint_advanced" in events
    assert not ALARM_EVENTS & set(events)
    # DE holds no relay receipts of its own requests, but follows the log all the same.
    de_status = status(de)
    assert de_status["checkpoint"] is not None and de_status["alarm_count"] == 0
    assert not ALARM_EVENTS & {e.get("event") for e in de.events()}

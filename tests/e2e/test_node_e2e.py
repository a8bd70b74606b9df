"""End to end with real processes: ``relay serve`` and two ``node run`` daemons on loopback.

One relay and two nodes (FR, DE) are shared by the module; each test starts from what the
previous ones left, on its own messages. Covered: the full life of a preservation request
(send, retrieve, acknowledge, respond, timeline, evidence, statistics), every kind
delivered, the relay stopped during a send, daemons killed with SIGKILL, an envelope
altered in the relay's database, and the CLI's error paths that need a relay.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import b64u_decode, b64u_encode, canonical
from keys.host.command import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNREACHABLE
from node.forms import KINDS
from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
NODE_TYPES = {"RETRIEVED", "ACKNOWLEDGED", "REJECTED"}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    root = tmp_path_factory.mktemp("e2e")
    network = LocalNetwork.create(
        root,
        ["FR", "DE", "IT"],
        relay_limits={"rate_per_second": 1000.0, "rate_burst": 1000.0},
        options={"contacts": {"DE": "+49 30 5555 0100"}},
    )
    with network.running("FR", "DE"):
        yield network


def write_form(folder: Path, kind: str, body: dict[str, object]) -> Path:
    path = folder / f"{kind}-{datetime.now(UTC).timestamp()}.json"
    path.write_text(json.dumps(body))
    return path


def send(
    net: LocalNetwork, kind: str, *, sender: str = "FR", to: str = "DE", priority: str | None = None
) -> str:
    node = net[sender]
    form = write_form(node.data, kind, example(kind, datetime.now(UTC), sender))
    extra = ["--priority", priority] if priority else []
    code, out = node.call(
        "send", "--to", to, "--kind", kind, "--form", str(form), "--no-input", *extra
    )
    assert code == 0, out
    return str(out["msg_id"])


def receipts_arrive(node: NodeProcess, msg_id: str, *types: str, timeout: float = 20) -> None:
    wait_for(
        lambda: set(types) <= set(node.receipt_types(msg_id)), timeout, f"{types} for {msg_id}"
    )


def test_full_life_of_a_preservation_request(net: LocalNetwork) -> None:
    fr, de = net["FR"], net["DE"]
    msg_id = send(net, "preservation_request", priority="urgent")
    receipts_arrive(fr, msg_id, "ACCEPTED", "DELIVERED", "RETRIEVED")
    # DE's officer works the inbox.
    code, inbox = de.call("inbox", "--open")
    assert code == 0 and msg_id in [m["msg_id"] for m in inbox["messages"]]
    code, shown = de.call("show", msg_id[:10])
    assert code == 0 and shown["message"]["body"]["necessity"].startswith("the provider keeps")
    code, acked = de.call("ack", msg_id)
    assert code == 0 and acked["acknowledged"] and not acked["queued"]
    receipts_arrive(fr, msg_id, "ACKNOWLEDGED")
    answer = write_form(de.data, "resp", example("preservation_response", datetime.now(UTC), "DE"))
    code, out = de.call(
        "respond", msg_id, "--kind", "preservation_response", "--form", str(answer), "--no-input"
    )
    assert code == 0, out
    reply_id = out["msg_id"]
    wait_for(lambda: any(m.msg_id == reply_id for m in fr.messages("in")), what="the reply at FR")
    reply = next(m for m in fr.messages("in") if m.msg_id == reply_id)
    assert (reply.in_reply_to, reply.conversation_id) == (msg_id, msg_id)
    assert reply.body["request_reference"] == "FR-2025-0042"  # filled in by node respond
    # The sender's timeline: every receipt and the reply, every signature checked.
    code, timeline = fr.call("status", msg_id)
    assert (
        code == 0
        and timeline["all_signatures_valid"]
        and not timeline["envelope_altered_in_transit"]
    )
    events = [e["event"] for e in timeline["entries"]]
    assert events[0] == "sent" and events[-1] == "reply"
    assert set(events) == {"sent", "ACCEPTED", "DELIVERED", "RETRIEVED", "ACKNOWLEDGED", "reply"}
    # Evidence: exported, then verified offline.
    bundle = fr.data / "evidence.json"
    code, _ = fr.call("evidence", msg_id, "--out", str(bundle), "--fetch")
    assert code == 0
    doc = json.loads(bundle.read_text())
    assert doc["relay_evidence"]["envelope_sha256"] == doc["envelope_sha256"]
    code, report = de.call("evidence", "verify", str(bundle))
    assert code == 0 and report["valid"] and report["key_source"] == "pinned"
    # Statistics and the preservation clock on both sides; access records at DE.
    code, stats = fr.call("stats")
    assert stats["time_to_acknowledge"]["sent"]["count"] >= 1
    assert any(
        c["request_msg_id"] == msg_id and c["role"] == "requested"
        for c in stats["open_preservations"]
    )
    code, stats = de.call("stats")
    assert any(
        c["request_msg_id"] == msg_id and c["role"] == "executed"
        for c in stats["open_preservations"]
    )
    code, access = de.call("access", "--msg", msg_id)
    assert [r["action"] for r in access["access_records"]] == ["display", "acknowledge", "answer"]
    # The urgent request raised an alert at DE; nothing of its content is in DE's log.
    assert any(e["event"] == "alert.incoming" and e["msg_id"] == msg_id for e in de.events())
    assert "the provider keeps" not in de.output() and "203.0.113.7" not in de.output()


def test_every_kind_is_delivered_and_retrieved(net: LocalNetwork) -> None:
    fr, de = net["FR"], net["DE"]
    sent = {kind: send(net, kind) for kind in KINDS}
    for msg_id in sent.values():
        receipts_arrive(fr, msg_id, "RETRIEVED")
    received = {m.msg_id: m.kind for m in de.messages("in")}
    assert all(received[msg_id] == kind for kind, msg_id in sent.items())
    assert {m.msg_id: m.priority for m in de.messages("in")}[
        sent["emergency_mla_request"]
    ] == "emergency"


def test_relay_stopped_during_a_send_then_delivered(net: LocalNetwork) -> None:
    fr, de = net["FR"], net["DE"]
    net.relay.stop()
    try:
        result = fr.cli("send", "--to", "DE", "--kind", "ping", "--no-input")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("queued: the relay did not answer")
        msg_id = fr.messages("out")[0].msg_id
        assert fr.messages("out")[0].state == "queued"
        code, out = fr.call("directory", "refresh")
        assert code == EXIT_UNREACHABLE and out["error"] == "relay_unreachable"
    finally:
        net.relay.start()
    receipts_arrive(fr, msg_id, "ACCEPTED", "RETRIEVED", timeout=30)
    assert [m.msg_id for m in de.messages("in")].count(msg_id) == 1
    assert any(e["event"] == "relay.reconnected" for e in fr.events())


def test_daemons_killed_lose_nothing_and_show_nothing_twice(net: LocalNetwork) -> None:
    fr, de = net["FR"], net["DE"]
    before_in = len(de.messages("in"))
    # The recipient dies (SIGKILL) in the middle of a stream of arrivals.
    ids = [send(net, "ping") for _ in range(3)]
    de.kill()
    ids += [send(net, "ping") for _ in range(5)]
    de.start()
    wait_for(lambda: len(de.messages("in")) >= before_in + 8, 30, "8 messages at DE")
    de.kill()
    de.start()
    for msg_id in ids:
        receipts_arrive(fr, msg_id, "RETRIEVED", "DELIVERED")
    received = [m.msg_id for m in de.messages("in")]
    assert len(received) == len(set(received)) == before_in + 8
    # The sender dies with envelopes queued while the relay is away; restarted, it
    # delivers each exactly once.
    net.relay.stop()
    queued = [send(net, "ping") for _ in range(3)]
    fr.kill()
    net.relay.start()
    fr.start()
    for msg_id in queued:
        receipts_arrive(fr, msg_id, "ACCEPTED", "RETRIEVED", timeout=30)
    received = [m.msg_id for m in de.messages("in")]
    assert len(received) == len(set(received)) == before_in + 11
    node_receipts = [(r.msg_id, r.type) for r in fr.all_receipts() if r.type in NODE_TYPES]
    assert len(node_receipts) == len(set(node_receipts))


def _alter_in_relay_db(db: Path, msg_id: str, *, fix_digest: bool) -> None:
    with sqlite3.connect(db) as conn:
        (raw,) = conn.execute(
            "SELECT envelope FROM envelopes WHERE msg_id = ?", (msg_id,)
        ).fetchone()
        wire = json.loads(raw)
        ct = bytearray(b64u_decode(wire["ciphertext"]))
        ct[100] ^= 0x01
        wire["ciphertext"] = b64u_encode(bytes(ct))
        data = canonical(wire)
        conn.execute("UPDATE envelopes SET envelope = ? WHERE msg_id = ?", (data, msg_id))
        if fix_digest:
            digest = hashlib.sha256(data).hexdigest()
            conn.execute(
                "UPDATE envelopes SET envelope_sha256 = ? WHERE msg_id = ?", (digest, msg_id)
            )


def _relay_events(net: LocalNetwork, event: str) -> list[dict[str, Any]]:
    """The relay's log lines named ``event`` (every log file in its data folder)."""
    found = []
    for path in sorted(net.relay.data.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                entry = json.loads(line)
                if entry.get("event") == event:
                    found.append(entry)
    return found


def test_envelope_altered_in_the_relay_database_is_rejected(net: LocalNetwork) -> None:
    fr, de = net["FR"], net["DE"]
    de.stop()
    msg_id = send(net, "emergency_disclosure_request")
    receipts_arrive(fr, msg_id, "ACCEPTED")
    net.relay.stop()
    _alter_in_relay_db(net.relay.data / "relay.db", msg_id, fix_digest=True)
    net.relay.start()
    de.start()
    receipts_arrive(fr, msg_id, "REJECTED", "DELIVERED")
    assert msg_id not in [m.msg_id for m in de.messages("in")]
    assert any(
        e["event"] == "inbox.rejected" and e["reason"] == "outer_signature" for e in de.events()
    )
    code, timeline = fr.call("status", msg_id)
    assert code == 0 and timeline["envelope_altered_in_transit"]
    rejected = next(e for e in timeline["entries"] if e["event"] == "REJECTED")
    assert rejected["detail"] == {"digest": "differs", "reason": "verification_failed"}
    assert rejected["signature"] == "valid" and rejected["issuer"] == "DE"
    assert "altered" in fr.cli("status", msg_id).stdout
    assert any(e["event"] == "alert.rejected" for e in fr.events())
    # The relay's operator learns of it: its ACCEPTED receipt names another digest.
    corrupt = [e for e in _relay_events(net, "envelope.corrupt") if e["msg_id"] == msg_id]
    assert {(e["where"], e["check"], e["level"]) for e in corrupt} >= {
        ("inbox", "accepted_digest", "error")
    }


def test_envelope_bytes_altered_without_the_digest_are_never_shown(net: LocalNetwork) -> None:
    """Only the stored bytes changed: DE still refuses them. The relay serves them (and
    logs ``envelope.corrupt``), then accepts DE's REJECTED although it names the digest of
    the altered bytes, and forwards it: the sender's timeline shows the envelope altered."""
    fr, de = net["FR"], net["DE"]
    de.stop()
    msg_id = send(net, "assistance_request")
    receipts_arrive(fr, msg_id, "ACCEPTED")
    net.relay.stop()
    _alter_in_relay_db(net.relay.data / "relay.db", msg_id, fix_digest=False)
    net.relay.start()
    de.start()
    receipts_arrive(fr, msg_id, "REJECTED", "DELIVERED")
    assert msg_id not in [m.msg_id for m in de.messages("in")]
    assert "RETRIEVED" not in fr.receipt_types(msg_id)
    code, timeline = fr.call("status", msg_id)
    assert code == 0 and timeline["envelope_altered_in_transit"]
    rejected = next(e for e in timeline["entries"] if e["event"] == "REJECTED")
    assert rejected["detail"]["digest"] == "differs" and rejected["signature"] == "valid"
    corrupt = [e for e in _relay_events(net, "envelope.corrupt") if e["msg_id"] == msg_id]
    assert {(e["where"], e["check"]) for e in corrupt} >= {("inbox", "bytes_digest")}
    [differs] = [e for e in _relay_events(net, "receipt.digest_differs") if e["msg_id"] == msg_id]
    assert differs["altered"] == "relay_storage"


def test_cli_error_paths_with_a_relay(net: LocalNetwork) -> None:
    fr = net["FR"]
    code, out = fr.call("send", "--to", "PT", "--kind", "ping", "--no-input")
    assert code == EXIT_NOT_FOUND and "unknown party PT" in out["message"]
    result = fr.cli("send", "--to", "PT", "--kind", "ping", "--no-input")
    assert result.returncode == EXIT_NOT_FOUND and "node directory refresh" in result.stderr
    code, out = fr.call("directory", "refresh")
    assert code == 0 and out["parties"] == 4  # FR, DE, IT and the relay
    # A suspended member is refused by the relay: the message is kept as failed.
    from tests.integration.relayproc import relay_cli

    relay_cli("members", "suspend", "FR", "--data", str(net.relay.data))
    assert net.relay.proc is not None
    net.relay.proc.send_signal(signal.SIGHUP)
    try:
        code, out = wait_for(
            lambda: (
                (r := fr.call("send", "--to", "IT", "--kind", "ping", "--no-input"))[0]
                == EXIT_REFUSED
                and r
            ),
            10,
            "suspension",
        )
        assert out["state"] == "failed" and out["error"].startswith("forbidden")
    finally:
        relay_cli("members", "resume", "FR", "--data", str(net.relay.data))
        net.relay.proc.send_signal(signal.SIGHUP)

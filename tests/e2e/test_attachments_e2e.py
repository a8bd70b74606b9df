"""Sealed attachments end to end with real processes: ``relay serve`` and two ``node run``
daemons on loopback. A multi-chunk file FR -> DE arrives intact and is saved 0600; a chunk
changed in the relay's database makes DE reject the request with a reason."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys.host.command import EXIT_NOT_FOUND
from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork.create(
        tmp_path_factory.mktemp("att"),
        ["FR", "DE"],
        relay_limits={"rate_per_second": 1000.0, "rate_burst": 1000.0},
    )
    with network.running("FR", "DE"):
        yield network


def make_file(path: Path, size: int, seed: str) -> str:
    """A file of ``size`` pseudo-random bytes (SHAKE-256 of ``seed``); its SHA-256."""
    digest = hashlib.sha256()
    block = hashlib.shake_256(seed.encode()).digest(MIB)
    with open(path, "wb") as f:
        left = size
        while left:
            part = block[: min(left, MIB)]
            f.write(part)
            digest.update(part)
            left -= len(part)
            block = hashlib.sha256(block).digest() * (MIB // 32)
    return digest.hexdigest()


def send_with(node: NodeProcess, to: str, *files: Path) -> str:
    form = node.data / f"form-{datetime.now(UTC).timestamp()}.json"
    form.write_text(json.dumps(example("assistance_request", datetime.now(UTC), node.party)))
    attach = [a for f in files for a in ("--attach", str(f))]
    code, out = node.call(
        "send",
        "--to",
        to,
        "--kind",
        "assistance_request",
        "--form",
        str(form),
        "--no-input",
        *attach,
    )
    assert code == 0, out
    return str(out["msg_id"])


def attachment_states(node: NodeProcess, msg_id: str) -> list[dict[str, Any]]:
    """The node's attachments of ``msg_id`` (none while the message has not arrived)."""
    code, out = node.call("attachment", "list", msg_id)
    if code == EXIT_NOT_FOUND:
        return []
    assert code == 0, out
    return list(out["attachments"])


def test_a_multi_chunk_file_arrives_intact_and_is_saved_private(
    net: LocalNetwork, tmp_path: Path
) -> None:
    fr, de = net["FR"], net["DE"]
    source = tmp_path / "capture.pcap"
    sha = make_file(source, 3 * MIB + 12345, "small")
    small = tmp_path / "note.txt"
    small.write_text("a short note\n")
    msg_id = send_with(fr, "DE", source, small)
    sent = attachment_states(fr, msg_id)
    assert {a["state"] for a in sent} == {"complete"}  # the relay accepted every chunk
    assert not list((fr.data / "attachments" / "out").glob("*.sealed"))  # spool dropped
    wait_for(
        lambda: {a["state"] for a in attachment_states(de, msg_id)} == {"complete"},
        60,
        "DE verified both files",
    )
    out = tmp_path / "saved.pcap"
    code, saved = de.call("attachment", "save", msg_id[:10], "capture.pcap", "--out", str(out))
    assert code == 0, saved
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha
    assert out.stat().st_mode & 0o777 == 0o600
    stored = de.data / "attachments" / "files" / msg_id
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in stored.iterdir())
    code, shown = de.call("show", msg_id)
    assert code == 0 and [f["name"] for f in shown["attachment_files"]] == [
        "capture.pcap",
        "note.txt",
    ]
    assert all("key" not in a for a in shown["message"]["attachments"])
    assert "capture.pcap" in de.cli("show", msg_id).stdout
    wait_for(lambda: "RETRIEVED" in fr.receipt_types(msg_id), 20, "RETRIEVED")
    # Progress lines name ids and counts, never a file name.
    lines = [e for e in de.events() if str(e.get("event", "")).startswith("attachment.")]
    assert any(e["event"] == "attachment.verified" for e in lines)
    assert not any("capture" in json.dumps(e) for e in lines)


def _flip_chunk(db: Path, att_id: str, idx: int) -> None:
    with sqlite3.connect(db) as conn:
        (raw,) = conn.execute(
            "SELECT data FROM attachment_chunks WHERE att_id = ? AND idx = ?", (att_id, idx)
        ).fetchone()
        data = bytearray(raw)
        data[len(data) // 2] ^= 0x01
        conn.execute(
            "UPDATE attachment_chunks SET data = ? WHERE att_id = ? AND idx = ?",
            (bytes(data), att_id, idx),
        )


def test_a_chunk_changed_at_the_relay_makes_the_request_rejected(
    net: LocalNetwork, tmp_path: Path
) -> None:
    fr, de = net["FR"], net["DE"]
    de.stop()
    source = tmp_path / "disk.img"
    make_file(source, 2 * MIB + 7, "tampered")
    msg_id = send_with(fr, "DE", source)
    (att,) = attachment_states(fr, msg_id)
    _flip_chunk(net.relay.data / "relay.db", att["att_id"], 1)
    de.start()
    wait_for(lambda: "REJECTED" in fr.receipt_types(msg_id), 60, "REJECTED at FR")
    (got,) = attachment_states(de, msg_id)
    assert got["state"] == "rejected" and got["reason"] == "attachment_chunk"
    code, timeline = fr.call("status", msg_id)
    rejected = next(e for e in timeline["entries"] if e["event"] == "REJECTED")
    assert rejected["detail"]["reason"] == "attachment_failed"
    assert not (de.data / "attachments" / "files" / msg_id / att["att_id"]).exists()
    code, _ = de.call("attachment", "save", msg_id, "disk.img", "--out", str(tmp_path / "x"))
    assert code != 0


def test_a_response_carries_an_attachment_back(net: LocalNetwork, tmp_path: Path) -> None:
    fr, de = net["FR"], net["DE"]
    request_id = send_with(fr, "DE")
    wait_for(lambda: request_id in [m.msg_id for m in de.messages("in")], 30, "request at DE")
    answer = tmp_path / "subscriber-records.csv"
    sha = make_file(answer, MIB + 1, "answer")
    form = de.data / "answer.json"
    form.write_text(json.dumps(example("status_update", datetime.now(UTC), "DE")))
    code, out = de.call(
        "respond",
        request_id,
        "--kind",
        "status_update",
        "--form",
        str(form),
        "--no-input",
        "--attach",
        str(answer),
    )
    assert code == 0, out
    reply_id = out["msg_id"]
    wait_for(
        lambda: (
            [a["state"] for a in attachment_states(fr, reply_id)] == ["complete"]
            if reply_id in [m.msg_id for m in fr.messages("in")]
            else False
        ),
        60,
        "FR verified the reply's file",
    )
    saved = tmp_path / "got.csv"
    code, _ = fr.call("attachment", "save", reply_id, "subscriber-records.csv", "--out", str(saved))
    assert code == 0 and hashlib.sha256(saved.read_bytes()).hexdigest() == sha

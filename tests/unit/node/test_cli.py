"""The ``node`` command in-process: set-up, forms, and the error paths with their exit codes
(the relay is absent here: see tests/e2e for the paths that need it)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from keys.host.command import (
    EXIT_CONFIG,
    EXIT_INVALID,
    EXIT_KEYSTORE,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle, verify_bundle
from node.cli.main import main
from node.forms import KINDS
from node.storage.store import Store
from tests.support.processes import free_port


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fr(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised node FR whose relay is not running, with DE's key pinned."""
    monkeypatch.delenv("POCNET_PASSPHRASE", raising=False)
    data = tmp_path / "fr"
    url = f"http://127.0.0.1:{free_port()}"
    code, out, _ = run(
        capsys,
        "init",
        "--party",
        "FR",
        "--relay",
        url,
        "--data",
        str(data),
        "--no-passphrase",
        "--json",
    )
    assert code == 0, out
    ks = Keystore(
        "DE",
        SigningKey.generate(),
        (StoredEncryptionKey(EncryptionPrivateKey.generate("x25519"), "2025-01-01T00:00:00.000Z"),),
    )
    bundle = make_bundle(ks, datetime.now(UTC))
    info = verify_bundle(bundle)

    async def pin() -> None:
        store = await Store.open(data / "node.db")
        await store.pin(
            "DE",
            bundle,
            info.signing_key.to_b64(),
            info.signing_key.key_id,
            "2025-01-01T00:00:00.000Z",
        )
        await store.close()

    asyncio.run(pin())
    return data


def test_init_creates_keys_config_and_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "n"
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    code, out, _ = run(
        capsys,
        "init",
        "--party",
        "US-DOJ",
        "--relay",
        "https://relay.example",
        "--data",
        str(data),
        "--passphrase-file",
        str(pw),
        "--kdf",
        "interactive",
        "--json",
    )
    assert code == 0
    info = json.loads(out)
    assert info["keystore_encrypted"] is True and info["party"] == "US-DOJ"
    for name in ("keys/keystore.json", "node.db"):
        assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600, name
    assert (data / "keys" / "bundle.json").exists()
    assert 'url = "https://relay.example"' in (data / "node.toml").read_text()
    code, out, err = run(
        capsys,
        "init",
        "--party",
        "US-DOJ",
        "--relay",
        "https://x",
        "--data",
        str(data),
        "--no-passphrase",
    )
    assert code == EXIT_CONFIG and "already holds a node" in err


def test_no_node_here_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "inbox", "--data", str(tmp_path))
    assert code == EXIT_CONFIG and "node init" in err
    code, out, _ = run(capsys, "inbox", "--data", str(tmp_path), "--json")
    assert code == EXIT_CONFIG and json.loads(out)["error"] == "not_initialised"


def test_locked_keystore_and_wrong_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POCNET_PASSPHRASE", raising=False)
    data = tmp_path / "n"
    pw = tmp_path / "pw"
    pw.write_text("right\n")
    assert (
        run(
            capsys,
            "init",
            "--party",
            "FR",
            "--relay",
            "http://127.0.0.1:9",
            "--data",
            str(data),
            "--passphrase-file",
            str(pw),
            "--kdf",
            "interactive",
        )[0]
        == 0
    )
    code, _, err = run(capsys, "send", "--to", "DE", "--kind", "ping", "--data", str(data))
    assert code == EXIT_KEYSTORE and "passphrase" in err
    pw.write_text("wrong\n")
    code, _, err = run(
        capsys,
        "send",
        "--to",
        "DE",
        "--kind",
        "ping",
        "--data",
        str(data),
        "--passphrase-file",
        str(pw),
    )
    assert code == EXIT_KEYSTORE and "wrong passphrase" in err


def test_unknown_party_with_the_relay_unreachable(
    fr: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "send", "--to", "IT", "--kind", "ping", "--data", str(fr))
    assert code == EXIT_UNREACHABLE and "did not answer" in err


def test_send_with_the_relay_down_is_queued_and_exits_0(
    fr: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "send", "--to", "DE", "--kind", "ping", "--priority", "urgent", "--data", str(fr)
    )
    assert code == 0 and out.startswith("queued: the relay did not answer")
    code, out, _ = run(capsys, "inbox", "--sent", "--data", str(fr), "--json")
    [row] = json.loads(out)["messages"]
    assert (row["state"], row["priority"], row["counterpart"]) == ("queued", "urgent", "DE")
    code, out, _ = run(capsys, "flush", "--data", str(fr), "--json")
    assert code == EXIT_UNREACHABLE and json.loads(out)["still_queued"] == 1


def test_invalid_form_lists_every_problem(
    fr: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "req.json"
    form.write_text(json.dumps({"reference": "FR-1", "request_status": "sometimes"}))
    argv = [
        "send",
        "--to",
        "DE",
        "--kind",
        "preservation_request",
        "--form",
        str(form),
        "--data",
        str(fr),
    ]
    code, _, err = run(capsys, *argv)
    assert code == EXIT_INVALID
    assert "request_status: must be one of new, extension" in err
    assert "summary_of_facts: missing" in err and "requesting_authority: missing" in err
    code, out, _ = run(capsys, *argv, "--json")
    doc = json.loads(out)
    assert code == EXIT_INVALID and doc["exit_code"] == EXIT_INVALID
    assert {"field": "mla_to_follow", "problem": doc["problems"][-1]["problem"]} in doc["problems"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "0123456789abcdef0123456789abcdef"], "is not in this node"),
        (["show", "xyz"], "is not a message id"),
        (["status", "abcdef12"], "is not in this node"),
        (["access", "--msg", "abcdef12"], "is not in this node"),
    ],
)
def test_message_not_found(
    fr: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv, "--data", str(fr))
    assert code == EXIT_NOT_FOUND and message in err and "node inbox" in err


def test_missing_files(fr: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "send",
        "--to",
        "DE",
        "--kind",
        "ping",
        "--form",
        str(tmp_path / "none.json"),
        "--data",
        str(fr),
    )
    assert code == EXIT_NOT_FOUND and "no form file" in err
    code, _, err = run(capsys, "evidence", "verify", str(tmp_path / "none.json"), "--data", str(fr))
    assert code == EXIT_NOT_FOUND and "no evidence file" in err


def test_forms_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "forms", "--json")
    assert code == 0 and [k["kind"] for k in json.loads(out)["kinds"]] == list(KINDS)
    code, out, _ = run(capsys, "forms", "withdrawal")
    assert code == 0 and set(json.loads(out)) >= {"reference", "request_reference", "text"}
    code, out, _ = run(capsys, "forms", "preservation_response", "--example")
    assert json.loads(out)["outcome"] == "preserved"
    code, out, _ = run(capsys, "forms", "preservation_response", "--describe")
    assert "preserved_until" in out and "request + 60 days" in out
    code, out, _ = run(capsys, "forms", "preservation_request", "--describe", "--lang", "fr")
    assert code == 0 and "Conservation rapide de données informatiques stockées" in out
    assert "ip_port (adresse IP et port)" in out
    code, out, _ = run(capsys, "forms", "--lang", "fr", "--json")
    titles = {k["kind"]: k["title"] for k in json.loads(out)["kinds"]}
    assert titles["withdrawal"] == "Retrait d'une demande"
    with pytest.raises(SystemExit) as info:
        main(["forms", "teleport"])
    assert info.value.code == EXIT_USAGE


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["send", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "6  relay unreachable" in out and "--json" in out


def test_stats_help_says_days_and_months_are_utc(capsys: pytest.CaptureFixture[str]) -> None:
    # An officer in Paris at 01:00 would otherwise read --until as a local day.
    with pytest.raises(SystemExit):
        main(["stats", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "YYYY-MM-DD (UTC day)" in out and "YYYY-MM-DD (UTC day, included)" in out
    assert "the month, in UTC" in out


def test_stats_and_access_on_a_new_node(fr: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "--data", str(fr), "--json")
    assert code == 0 and json.loads(out)["sent"]["total"] == 0
    code, out, _ = run(
        capsys, "stats", "--data", str(fr), "--format", "csv", "--since", "2025-01-01"
    )
    assert code == 0 and out.startswith("period,kind,counterpart,metric,value\n")
    code, _, err = run(capsys, "stats", "--data", str(fr), "--since", "yesterday")
    assert code == 0
    code, _, err = run(capsys, "stats", "--data", str(fr), "--since", "last tuesday")
    assert code == EXIT_INVALID and "--since" in err and "7d" in err and "your input" in err
    code, out, _ = run(capsys, "stats", "--data", str(fr), "--until", "2025-01-31", "--json")
    assert code == 0 and json.loads(out)["until"] == "2025-01-31"
    code, _, err = run(
        capsys, "stats", "--data", str(fr), "--since", "2025-02-01", "--until", "2025-01-31"
    )
    assert code == EXIT_INVALID and "--until" in err
    code, out, _ = run(capsys, "access", "--data", str(fr), "--format", "csv")
    assert code == 0 and out == "id,at,os_user,action,msg_id,detail\n"


def test_directory_show_lists_pins(fr: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "directory", "--data", str(fr), "--json")
    assert code == 0 and {p["party"] for p in json.loads(out)["parties"]} == {"FR", "DE"}


def test_failed_requests_are_sent_again_by_retry_and_flush_failed(
    fr: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        code, _, _ = run(capsys, "send", "--to", "DE", "--kind", "ping", "--data", str(fr))
        assert code == 0
    _, out, _ = run(capsys, "inbox", "--sent", "--data", str(fr), "--json")
    ids = sorted(row["msg_id"] for row in json.loads(out)["messages"])

    async def fail_all() -> None:
        store = await Store.open(fr / "node.db")
        for msg_id in ids:
            await store.mark_failed(msg_id, "stale: this computer's clock is off")
        await store.close()

    asyncio.run(fail_all())
    code, _, err = run(capsys, "retry", "0" * 32, "--data", str(fr))
    assert code != 0 and "not in this node" in err
    code, out, _ = run(capsys, "retry", ids[0][:8], "--data", str(fr), "--json")
    report = json.loads(out)
    assert code == EXIT_UNREACHABLE and report["requeued"] == [ids[0]]
    assert report["still_queued"] == 1  # the relay is down: queued again, not failed
    code, _, err = run(capsys, "retry", ids[0], "--data", str(fr))
    assert code != 0 and "not a sent request that failed" in err
    code, out, _ = run(capsys, "flush", "--failed", "--data", str(fr), "--json")
    assert json.loads(out)["requeued"] == [ids[1]] and json.loads(out)["still_queued"] == 2
    _, out, _ = run(capsys, "inbox", "--sent", "--data", str(fr), "--json")
    assert {row["state"] for row in json.loads(out)["messages"]} == {"queued"}

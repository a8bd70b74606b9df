"""``relay directory install / show / status`` in-process: outputs, refusals, exit codes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keys.encoding import canonical
from keys.host.files import read_keystore
from relay.cli.main import main
from tests.integration.directorykit import DAY, World, admin_root, install_file, make_world
from tests.integration.relaykit import make_member


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, Any]:
    code = main([*[str(a) for a in args], "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else None


@pytest.fixture
def relay_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data = tmp_path / "relay"
    assert _run(capsys, "init", "--data", data, "--no-passphrase")[0] == 0
    assert _run(capsys, "db", "upgrade", "--data", data)[0] == 0
    return data


def _world(data: Path, start: datetime, **kw: Any) -> World:
    return make_world(start, relay=read_keystore(data / "keystore.json", None), **kw)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_install_show_status_and_refusals(
    relay_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data", str(relay_data)]
    now = datetime.now(UTC)
    w = _world(relay_data, now - timedelta(hours=1))
    root = _write(tmp_path / "root.json", canonical(w.root.to_file()))
    v1 = _write(tmp_path / "v1.json", w.signed())

    assert _run(capsys, "directory", "status", *d) == (0, {"mode": "members_folder", "ok": True})
    code, out = _run(capsys, "directory", "show", *d)
    assert (code, out["error"]) == (4, "no_directory")
    code, out = _run(capsys, "directory", "install", v1, *d)
    assert (code, out["error"]) == (8, "no_trusted_root")

    code, out = _run(capsys, "directory", "install", v1, "--trust-root", root, *d)
    assert code == 0 and out["installed"] and out["version"] == 1 and out["parties"] == 3
    assert out["payload_sha256"] == w.directory.payload_sha256 and out["previous_version"] is None
    code, out = _run(capsys, "directory", "install", v1, *d)
    assert code == 0 and not out["installed"]

    w.change(lambda x: x, now)
    v2_one = _write(tmp_path / "v2-one.json", w.signed(signers=(0,)))
    v2 = _write(tmp_path / "v2.json", w.signed())
    w.change(lambda x: x, now)
    v3 = _write(tmp_path / "v3.json", w.signed())

    code, out = _run(capsys, "directory", "install", v2_one, *d)
    assert (code, out["error"]) == (7, "threshold_not_met")
    assert "1 of 2 required signatures" in out["message"] and "needs 1 more" in out["message"]
    assert _run(capsys, "directory", "install", v3, *d)[0] == 0
    code, out = _run(capsys, "directory", "install", v2, *d)
    assert (code, out["error"]) == (7, "rollback") and "lower than the trusted" in out["message"]

    w.change(lambda x: x, now - 200 * DAY, validity=180 * DAY)
    expired = _write(tmp_path / "expired.json", w.signed())
    code, out = _run(capsys, "directory", "install", expired, *d)
    assert (code, out["error"]) == (7, "expired")

    _, other_root = admin_root()
    other = _write(tmp_path / "other-root.json", canonical(other_root.to_file()))
    code, out = _run(capsys, "directory", "install", v3, "--trust-root", other, *d)
    assert (code, out["error"]) == (7, "root_mismatch")

    code, out = _run(capsys, "directory", "show", *d)
    assert code == 0 and out["version"] == 3 and out["signatures"]["state"] == "signed"
    assert [p["id"] for p in out["parties"]] == ["DE", "FR", "IT"] and out["leaf_index"] == 1
    code, out = _run(capsys, "directory", "status", *d)
    assert code == 0 and out["ok"] and out["version"] == 3 and out["relay_key"]["listed"]
    assert out["parties"] == {"total": 3, "active": 3} and not out["expired"]

    assert _run(capsys, "directory", "install", tmp_path / "nothing.json", *d)[0] == 4
    junk = _write(tmp_path / "junk-root.json", b'{"format": "x"}')
    assert _run(capsys, "directory", "install", v3, "--trust-root", junk, *d)[0] == 5


def test_text_output_explains_a_refusal(
    relay_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = _world(relay_data, datetime.now(UTC) - timedelta(hours=1))
    root = _write(tmp_path / "root.json", canonical(w.root.to_file()))
    under = _write(tmp_path / "under.json", w.signed(signers=(2,)))
    code = main(
        ["directory", "install", str(under), "--trust-root", str(root), "--data", str(relay_data)]
    )
    err = capsys.readouterr().err
    assert code == 7
    assert "directory refused: threshold_not_met" in err and "XX-ADMIN3" in err


def test_status_exits_7_for_an_expired_directory(
    relay_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime.now(UTC) - 200 * DAY
    w = _world(relay_data, start, validity=180 * DAY)
    url = f"sqlite+aiosqlite:///{(relay_data / 'relay.db').resolve()}"
    asyncio.run(install_file(url, w.signed(), start + DAY, w, pin=True))  # then, still valid
    code, out = _run(capsys, "directory", "status", "--data", relay_data)
    assert code == 7 and out["expired"] and not out["ok"]
    code = main(["directory", "status", "--data", str(relay_data)])
    assert code == 7 and "EXPIRED since" in capsys.readouterr().out


def test_status_exits_7_when_the_relay_key_is_not_listed(
    relay_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = _world(relay_data, datetime.now(UTC) - timedelta(hours=1))
    url = f"sqlite+aiosqlite:///{(relay_data / 'relay.db').resolve()}"
    asyncio.run(install_file(url, w.signed(), datetime.now(UTC), w, pin=True))
    assert _run(capsys, "directory", "status", "--data", relay_data)[0] == 0
    # The operator replaces the relay's key (relay init --force) without a new directory.
    assert _run(capsys, "init", "--data", relay_data, "--no-passphrase", "--force")[0] == 0
    code, out = _run(capsys, "directory", "status", "--data", relay_data)
    assert code == 7 and not out["relay_key"]["listed"]


def test_members_add_warns_that_a_directory_takes_precedence(
    relay_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _write(tmp_path / "fr.json", make_member("FR").bundle)
    code, out = _run(capsys, "members", "add", "--data", relay_data, bundle)
    assert code == 0 and "takes precedence" in out["warning"]

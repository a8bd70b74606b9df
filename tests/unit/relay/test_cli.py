"""The relay command in-process: init, members, db status, help, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.cli.main import main
from relay.storage.database import head_revision
from tests.integration.relaykit import make_member


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


def test_init_members_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "relay"
    code, info = _run(capsys, "init", "--data", str(data), "--no-passphrase")
    assert code == 0 and info["encrypted"] is False and (data / "relay.toml").exists()
    assert (data / "keystore.json").stat().st_mode & 0o777 == 0o600
    code, err = _run(capsys, "init", "--data", str(data), "--no-passphrase")
    assert code == 3 and err["error"] == "keystore_exists"

    fr = make_member("FR")
    (tmp_path / "fr.json").write_bytes(fr.bundle)
    code, added = _run(capsys, "members", "add", "--data", str(data), str(tmp_path / "fr.json"))
    assert code == 0 and added["signing_key"]["fingerprint"] == fr.key.public.fingerprint
    assert _run(capsys, "members", "suspend", "--data", str(data), "FR")[0] == 0
    code, listed = _run(capsys, "members", "list", "--data", str(data))
    assert [(m["party"], m["status"]) for m in listed["members"]] == [("FR", "suspended")]
    assert _run(capsys, "members", "resume", "--data", str(data), "FR")[0] == 0
    assert _run(capsys, "members", "suspend", "--data", str(data), "GB")[0] == 4

    (tmp_path / "junk.json").write_text('{"payload": "x", "sig": "y"}')
    assert _run(capsys, "members", "add", "--data", str(data), str(tmp_path / "junk.json"))[0] == 5
    other = make_member("FR")
    (tmp_path / "fr2.json").write_bytes(other.bundle)
    code, err = _run(capsys, "members", "add", "--data", str(data), str(tmp_path / "fr2.json"))
    assert code == 8 and err["error"] == "member_exists"


def test_db_status_then_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "relay"
    code, status = _run(capsys, "db", "status", "--data", str(data))
    assert code == 8 and status["up_to_date"] is False
    code, up = _run(capsys, "db", "upgrade", "--data", str(data))
    assert code == 0 and (up["before"], up["after"]) == (None, head_revision())
    code, status = _run(capsys, "db", "status", "--data", str(data))
    assert code == 0 and status["current"] == head_revision()
    assert _run(capsys, "db", "upgrade", "--data", str(data))[1]["before"] == head_revision()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["init"],
        ["serve"],
        ["db", "upgrade"],
        ["db", "status"],
        ["members", "add"],
        ["members", "list"],
        ["logs"],
    ],
)
def test_every_command_explains_itself(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([*args, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: relay")
    assert "--json" in out or not args


def test_unknown_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["serve", "--bogus"])
    assert e.value.code == 2


def test_serve_opens_an_encrypted_keystore_only_with_its_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from keys.errors import ConfigError, WrongPassphrase
    from relay.cli.main import _open_keystore

    data = tmp_path / "relay"
    secret = tmp_path / "pass"
    secret.write_text("correct horse battery staple\n")
    code, info = _run(capsys, "init", "--data", str(data), "--passphrase-file", str(secret))
    assert code == 0 and info["encrypted"] is True
    assert b"signing_key" not in (data / "keystore.json").read_bytes()
    keystore, _, encrypted = _open_keystore(argparse.Namespace(data=data, passphrase_file=secret))
    assert encrypted and keystore.party == "relay"
    wrong = tmp_path / "wrong"
    wrong.write_text("incorrect\n")
    with pytest.raises(WrongPassphrase):
        _open_keystore(argparse.Namespace(data=data, passphrase_file=wrong))
    with pytest.raises(ConfigError, match="relay init"):
        _open_keystore(argparse.Namespace(data=tmp_path / "nowhere", passphrase_file=secret))

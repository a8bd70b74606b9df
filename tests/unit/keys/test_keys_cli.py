"""The ``keys`` command: generate, show and verify-bundle, text and ``--json``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keys.cli import main as cli
from keys.encoding import b64u_decode, b64u_encode, canonical, loads_strict
from keys.host.command import (
    EXIT_INVALID,
    EXIT_KEYSTORE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
)
from keys.host.files import read_keystore
from keys.host.passphrase import ENV_VAR

PASS = "a long enough demo passphrase"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    """Run ``keys`` in-process; return the exit code, parsed JSON (or text), stderr."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    parsed = json.loads(out) if "--json" in argv and out.strip() else out
    assert PASS not in out and PASS not in err
    return code, parsed, err


def passfile(tmp_path: Path, text: str = PASS) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def generate(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Any:
    code, out, err = run(
        ["generate", "--party", "FR", "--out", str(tmp_path / "keys"), "--json", *extra], capsys
    )
    assert code == EXIT_OK, (out, err)
    return out


def test_generate_with_a_passphrase_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = generate(tmp_path, capsys, "--passphrase-file", str(passfile(tmp_path)))
    assert out["party"] == "FR" and out["encrypted"] is True
    assert out["signing_key"]["key_id"].startswith("ed25519:")
    assert len(out["signing_key"]["fingerprint"]) == 39
    assert [k["suite"] for k in out["encryption_keys"]] == ["mlkem768-x25519"]
    ks_path, bundle_path = Path(out["keystore"]), Path(out["bundle"])
    assert stat.S_IMODE(ks_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle_path.stat().st_mode) == 0o644
    ks = read_keystore(ks_path, PASS.encode())
    assert ks.signing_key.public.key_id == out["signing_key"]["key_id"]
    assert PASS.encode() not in ks_path.read_bytes()


def test_generate_with_the_environment_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, PASS)
    out = generate(tmp_path, capsys, "--suite", "x25519")
    assert out["encrypted"] is True
    assert [k["suite"] for k in out["encryption_keys"]] == ["x25519"]
    assert read_keystore(Path(out["keystore"]), PASS.encode()).party == "FR"


def test_generate_unencrypted_by_explicit_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = generate(tmp_path, capsys, "--no-passphrase")
    assert out["encrypted"] is False
    assert read_keystore(Path(out["keystore"]), None).party == "FR"


def test_generate_text_output_says_what_was_done(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(
        ["generate", "--party", "DE", "--out", str(tmp_path), "--no-passphrase"], capsys
    )
    assert code == EXIT_OK
    assert "fingerprint" in out and "UNENCRYPTED by your choice" in out
    assert "give it to the secretariat" in out


def test_generate_without_any_passphrase_source(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Standard input is not a terminal under pytest: there is nobody to ask.
    code, out, _ = run(["generate", "--party", "FR", "--out", str(tmp_path), "--json"], capsys)
    assert code == EXIT_KEYSTORE
    assert out == {
        "ok": False,
        "error": "passphrase_missing",
        "message": out["message"],
        "exit_code": EXIT_KEYSTORE,
    }
    assert not (tmp_path / "keystore.json").exists()


def test_generate_refuses_to_overwrite_keys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first = generate(tmp_path, capsys, "--no-passphrase")
    code, out, _ = run(
        ["generate", "--party", "FR", "--out", str(tmp_path / "keys"), "--json", "--no-passphrase"],
        capsys,
    )
    assert code == EXIT_KEYSTORE and out["error"] == "keystore_exists"
    second = generate(tmp_path, capsys, "--no-passphrase", "--force")
    assert second["signing_key"]["key_id"] != first["signing_key"]["key_id"]


def test_generate_relay_keys_have_no_encryption_key(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(
        ["generate", "--party", "relay", "--out", str(tmp_path), "--json", "--no-passphrase"],
        capsys,
    )
    assert code == EXIT_OK and out["party"] == "relay" and out["encryption_keys"] == []


@pytest.mark.parametrize("party", ["france", "fr", "FR-"])
def test_generate_refuses_a_bad_party_id(
    tmp_path: Path, capsys: pytest.CaptureFixture, party: str
) -> None:
    code, out, _ = run(
        ["generate", "--party", party, "--out", str(tmp_path), "--json", "--no-passphrase"],
        capsys,
    )
    assert code == EXIT_INVALID and out["error"] == "bad_party_id"


def test_show_json_and_check_keystore_with_env(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = generate(tmp_path, capsys, "--passphrase-file", str(passfile(tmp_path)))
    folder = str(tmp_path / "keys")
    code, out, _ = run(["show", folder, "--json"], capsys)
    assert code == EXIT_OK
    assert out["signing_key"] == made["signing_key"]
    assert out["encryption_keys"] == made["encryption_keys"]
    assert "keystore" not in out
    monkeypatch.setenv(ENV_VAR, PASS)
    code, out, _ = run(["show", folder, "--check-keystore", "--json"], capsys)
    assert code == EXIT_OK and out["keystore"] == "opens and matches the bundle"
    # Given the bundle file rather than the folder, it finds the keystore next to it.
    code, out, _ = run(["show", made["bundle"], "--check-keystore", "--json"], capsys)
    assert code == EXIT_OK and out["keystore"] == "opens and matches the bundle"


def test_show_check_keystore_with_a_wrong_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    generate(tmp_path, capsys, "--passphrase-file", str(passfile(tmp_path)))
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    code, out, _ = run(
        [
            "show",
            str(tmp_path / "keys"),
            "--check-keystore",
            "--json",
            "--passphrase-file",
            str(wrong),
        ],
        capsys,
    )
    assert code == EXIT_KEYSTORE and out["error"] == "wrong_passphrase"


def test_show_check_keystore_of_an_unencrypted_keystore_needs_no_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    generate(tmp_path, capsys, "--no-passphrase")
    code, out, _ = run(["show", str(tmp_path / "keys"), "--check-keystore", "--json"], capsys)
    assert code == EXIT_OK and out["keystore"] == "opens and matches the bundle"


def test_show_refuses_a_keystore_others_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    made = generate(tmp_path, capsys, "--no-passphrase")
    Path(made["keystore"]).chmod(0o644)
    code, out, _ = run(["show", str(tmp_path / "keys"), "--check-keystore", "--json"], capsys)
    assert code == EXIT_KEYSTORE and out["error"] == "keystore_mode"


def test_show_text_lists_fingerprints(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    made = generate(tmp_path, capsys, "--no-passphrase")
    code, out, _ = run(["show", str(tmp_path / "keys")], capsys)
    assert code == EXIT_OK
    assert made["signing_key"]["fingerprint"] in out
    assert made["encryption_keys"][0]["key_id"] in out


def test_show_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["show", str(tmp_path / "nothing"), "--json"], capsys)
    assert code == EXIT_NOT_FOUND and out["error"] == "not_found"


def test_verify_bundle_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    made = generate(tmp_path, capsys, "--no-passphrase")
    code, out, _ = run(["verify-bundle", made["bundle"], "--json"], capsys)
    assert code == EXIT_OK and out["valid"] is True and out["party"] == "FR"
    code, out, _ = run(["verify-bundle", made["bundle"]], capsys)
    assert code == EXIT_OK and out.startswith("bundle OK")


def test_verify_bundle_refuses_a_tampered_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    made = generate(tmp_path, capsys, "--no-passphrase")
    doc = json.loads(Path(made["bundle"]).read_bytes())
    statement = loads_strict(b64u_decode(doc["payload"]))
    statement["party"] = "DE"
    doc["payload"] = b64u_encode(canonical(statement))
    forged = tmp_path / "forged.json"
    forged.write_bytes(canonical(doc))
    code, out, err = run(["verify-bundle", str(forged), "--json"], capsys)
    assert code == EXIT_INVALID and out["error"] == "bad_signature"
    code, _, err = run(["verify-bundle", str(forged)], capsys)
    assert code == EXIT_INVALID and err.startswith("error: ")


def test_verify_bundle_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["verify-bundle", str(tmp_path / "none.json"), "--json"], capsys)
    assert code == EXIT_NOT_FOUND and out["error"] == "not_found"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["generate", "--out", "x"])  # --party missing
    assert info.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as info:
        cli.main(["generate", "--party", "FR", "--out", "x", "--suite", "rsa"])
    assert info.value.code == EXIT_USAGE
    capsys.readouterr()


def test_real_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env[ENV_VAR] = PASS
    env["PYTHONPATH"] = str(ROOT)
    out_dir = tmp_path / "de"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keys",
            "generate",
            "--json",
            "--party",
            "DE",
            "--out",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["party"] == "DE" and out["encrypted"] is True
    assert PASS not in done.stdout + done.stderr
    assert stat.S_IMODE((out_dir / "keystore.json").stat().st_mode) == 0o600
    assert read_keystore(out_dir / "keystore.json", PASS.encode()).party == "DE"

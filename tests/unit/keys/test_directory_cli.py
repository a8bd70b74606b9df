"""``keys directory``: the secretariat's whole flow through ``keys.cli.main.main``.

Administrators' keys are real encrypted keystores (Argon2id, the fast profile); the
parties' bundles are made with the keystore API, as a party's own ``keys`` or ``node``
tooling would.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keys.cli.main import main
from keys.directory import RootKeys, TrustedDirectory
from keys.encoding import format_time, loads_strict
from keys.host.files import write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle

PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCNET_PASSPHRASE", PASS)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, Any]:
    """Run ``keys directory …`` with --json; return the exit code and the parsed output."""
    code = main(["directory", *[str(a) for a in argv], "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else None


def run_text(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["directory", *[str(a) for a in argv]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def party_keys(folder: Path, pid: str, *, rotate_from: Path | None = None) -> Path:
    """A party's keystore and bundle; with ``rotate_from``, the same signing key and a
    new encryption key (what a party sends for rotate-encryption-key)."""
    now = datetime.now(UTC)
    if rotate_from is None:
        enc = StoredEncryptionKey(EncryptionPrivateKey.generate("x25519"), format_time(now))
        ks = Keystore(pid, SigningKey.generate(), (enc,))
    else:
        old = Keystore.from_bytes((rotate_from / "keystore.json").read_bytes(), None)
        ks = old.with_new_encryption_key(EncryptionPrivateKey.generate("x25519"), now)
    write_private(folder / "keystore.json", ks.to_bytes(None))
    write_public(folder / "bundle.json", make_bundle(ks, now))
    return folder


@pytest.fixture(scope="module")
def admins(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four administrators' key folders, made once per module (Argon2id takes time)."""
    base = tmp_path_factory.mktemp("admins")
    folders = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POCNET_PASSPHRASE", PASS)
        for i in (1, 2, 3, 4):
            folder = base / f"admin{i}"
            argv = ["directory", "admin-key", "--name", f"XX-ADMIN{i}", "--out", str(folder)]
            assert main([*argv, "--kdf", "interactive", "--json"]) == 0
            folders.append(folder)
    return folders


def test_admin_key_writes_an_encrypted_private_keystore_and_a_public_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "admin"
    code, out = run(
        capsys, "admin-key", "--name", "XX-ADMIN9", "--out", folder, "--kdf", "interactive"
    )
    assert code == 0, out
    assert out["name"] == "XX-ADMIN9" and len(out["fingerprint"]) == 39
    assert stat.S_IMODE((folder / "keystore.json").stat().st_mode) == 0o600
    assert b'"encrypted":true' in (folder / "keystore.json").read_bytes()
    assert PASS.encode() not in (folder / "keystore.json").read_bytes()
    assert stat.S_IMODE((folder / "bundle.json").stat().st_mode) == 0o644


def test_secretariat_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], admins: list[Path]
) -> None:
    a1, a2, a3, a4 = admins
    d = tmp_path / "directory.json"
    fr = party_keys(tmp_path / "FR", "FR")
    de = party_keys(tmp_path / "DE", "DE")
    relay = tmp_path / "relay"
    relay_ks = Keystore("relay", SigningKey.generate())
    write_public(relay / "bundle.json", make_bundle(relay_ks, datetime.now(UTC)))

    # init 2-of-3, then the relay and two parties: each edit bumps the version
    code, out = run(
        capsys, "init", "--threshold", "2", "--admin", a1, "--admin", a2, "--admin", a3, "--out", d
    )
    assert code == 0 and out["version"] == 1
    assert out["signatures"] == {
        "state": "unsigned",
        "valid": 0,
        "required": 2,
        "signers": [],
        "missing": ["XX-ADMIN1", "XX-ADMIN2", "XX-ADMIN3"],
        "ignored_entries": 0,
    }
    code, out = run(capsys, "set-relay", d, "--bundle", relay / "bundle.json")
    assert code == 0 and out["version"] == 2
    code, out = run(
        capsys,
        "add-party",
        d,
        "--bundle",
        fr,
        "--authority",
        "OCLCTIC",
        "--phone",
        "+33 1 23 45 67 89",
        "--email",
        "poc@interieur.gouv.fr",
        "--tz",
        "Europe/Paris",
        "--languages",
        "en,fr",
    )
    assert code == 0 and out["version"] == 3
    assert {"op": "added", "path": "parties.FR", "old": None, "new": "OCLCTIC"} in out["changes"]
    code, out = run(
        capsys,
        "add-party",
        d,
        "--bundle",
        de / "bundle.json",
        "--authority",
        "BKA",
        "--phone",
        "+49 611 55 0",
        "--email",
        "poc@bka.bund.de",
        "--tz",
        "Europe/Berlin",
        "--languages",
        "de, en",
    )
    assert code == 0 and out["version"] == 4

    # two administrators sign separately, from the same unsigned file
    code, out = run(capsys, "sign", d, "--key", a1, "--out", tmp_path / "s1.json")
    assert (
        code == 0 and out["signatures"]["state"] == "incomplete" and out["signed_by"] == "XX-ADMIN1"
    )
    code, out = run(capsys, "sign", d, "--key", a3 / "keystore.json", "--out", tmp_path / "s3.json")
    assert code == 0 and out["signatures"]["signers"] == ["XX-ADMIN3"]

    # show, as text and JSON, says how far from the threshold a file is
    code, text, _ = run_text(capsys, "show", d)
    assert code == 0 and "UNSIGNED (0 of 2 required signatures)" in text
    code, text, _ = run_text(capsys, "show", tmp_path / "s1.json")
    assert "INCOMPLETE: 1 of 2 required signatures; signed by XX-ADMIN1" in text
    assert "FR" in text and "Europe/Paris" in text and "+49 611 55 0" in text
    code, out = run(capsys, "show", tmp_path / "s1.json")
    assert out["version"] == 4 and [p["id"] for p in out["parties"]] == ["DE", "FR"]
    assert out["parties"][0]["contact"]["languages"] == ["de", "en"]
    assert "key" not in out["parties"][0]["signing_keys"][0]

    # verify an incomplete file: refused, and says why
    code, out = run(capsys, "verify", tmp_path / "s1.json")
    assert code == 7 and out["valid"] is False and out["reason"] == "threshold_not_met"
    code, text, _ = run_text(capsys, "verify", tmp_path / "s1.json")
    assert "INVALID: threshold_not_met" in text and "1 of 2" in text

    # combine, verify (own root, then a pinned root file)
    v4 = tmp_path / "v4.json"
    code, out = run(capsys, "combine", tmp_path / "s1.json", tmp_path / "s3.json", "--out", v4)
    assert code == 0 and out["signatures"]["state"] == "signed"
    assert out["signatures"]["signers"] == ["XX-ADMIN1", "XX-ADMIN3"]
    code, out = run(capsys, "verify", v4)
    assert code == 0 and out["valid"] is True and out["version"] == 4
    root_file = tmp_path / "root.json"
    code, out = run(capsys, "export-root", v4, "--out", root_file)
    assert code == 0 and out["threshold"] == 2 and len(out["keys"]) == 3
    code, out = run(capsys, "verify", v4, "--trusted-root", root_file)
    assert code == 0 and out["valid"] is True
    code, out = run(capsys, "verify", v4, "--at", "2099-01-01T00:00:00Z")
    assert code == 7 and out["reason"] == "expired"

    # revoke DE, rotate FR's encryption key; sign; verify against the published version
    revoked = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    revoked_at = revoked.isoformat()
    code, out = run(
        capsys,
        "revoke",
        v4,
        "--party",
        "DE",
        "--reason",
        "key compromise",
        "--at",
        revoked_at,
        "--out",
        tmp_path / "v5.json",
    )
    assert code == 0 and out["version"] == 5 and out["dropped_signatures"] == 2
    assert out["signatures"]["state"] == "unsigned"
    fr2 = party_keys(tmp_path / "FR2", "FR", rotate_from=fr)
    v6 = tmp_path / "v6.json"
    code, out = run(
        capsys,
        "rotate-encryption-key",
        tmp_path / "v5.json",
        "--party",
        "FR",
        "--bundle",
        fr2,
        "--overlap",
        "30d",
        "--out",
        v6,
    )
    assert code == 0 and out["version"] == 6
    code, out = run(capsys, "diff", v4, v6)
    assert code == 0 and (out["old_version"], out["new_version"]) == (4, 6)
    paths = {c["path"] for c in out["changes"]}
    assert "parties.DE.status.state" in paths
    assert any(p.startswith("parties.FR.encryption_keys.") for p in paths)
    for admin in (a2, a1):
        assert run(capsys, "sign", v6, "--key", admin)[0] == 0
    code, out = run(capsys, "verify", v6, "--previous", v4)
    assert code == 0 and out["valid"] is True
    code, out = run(capsys, "verify", v4, "--previous", v6)
    assert code == 7 and out["reason"] == "rollback"

    # what a node does with the result: pin the root file, accept v4 then v6, ask queries
    pinned = RootKeys.from_file(loads_strict(root_file.read_bytes()))
    trusted = TrustedDirectory(pinned)
    now = datetime.now(UTC)
    trusted.update(v4.read_bytes(), now)
    current = trusted.update(v6.read_bytes(), now)
    assert current.version == 6
    de_key = Keystore.from_bytes((de / "keystore.json").read_bytes(), None).signing_key.public
    assert current.signing_key_for("DE", revoked - timedelta(seconds=1)) == de_key
    assert not current.is_active("DE", revoked)
    fr_ks = Keystore.from_bytes((fr2 / "keystore.json").read_bytes(), None)
    fr_ids = list(fr_ks.decryption_keys())
    assert current.decryption_key_ids_valid("FR", now) == frozenset(fr_ids)
    assert current.decryption_key_ids_valid("FR", now + timedelta(days=31)) == frozenset(
        fr_ids[-1:]
    )
    assert current.relay_key == relay_ks.signing_key.public

    # root rotation: ADMIN3 leaves, ADMIN4 joins; needs the old and the new threshold
    v7 = tmp_path / "v7.json"
    code, out = run(
        capsys,
        "set-root",
        v6,
        "--threshold",
        "2",
        "--admin",
        a1,
        "--admin",
        a2,
        "--admin",
        a4,
        "--out",
        v7,
    )
    assert code == 0 and out["signatures"]["missing"] == ["XX-ADMIN1", "XX-ADMIN2", "XX-ADMIN4"]
    code, out = run(capsys, "sign", v7, "--key", a3)
    assert code == 5 and out["error"] == "not_root_key"
    assert run(capsys, "sign", v7, "--key", a1)[0] == 0
    assert run(capsys, "sign", v7, "--key", a4)[0] == 0
    code, out = run(capsys, "verify", v7, "--previous", v6)
    assert code == 7 and out["reason"] == "threshold_not_met"  # only ADMIN1 of the old root
    assert run(capsys, "sign", v7, "--key", a3, "--previous", v6)[0] == 0
    code, out = run(capsys, "verify", v7, "--previous", v6)
    assert code == 0 and out["valid"] is True


def test_reinstate_suspend_update_and_renew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], admins: list[Path]
) -> None:
    d = tmp_path / "d.json"
    assert run(capsys, "init", "--threshold", "1", "--admin", admins[0], "--out", d)[0] == 0
    fr = party_keys(tmp_path / "FR", "FR")
    add = [
        "add-party",
        d,
        "--bundle",
        fr,
        "--authority",
        "OCLCTIC",
        "--phone",
        "+33 1 23 45 67 89",
        "--email",
        "poc@example.fr",
        "--tz",
        "Europe/Paris",
        "--languages",
        "fr",
    ]
    assert run(capsys, *add)[0] == 0
    code, out = run(capsys, *add)
    assert code == 5 and out["error"] == "party_exists"
    code, out = run(capsys, "suspend", d, "--party", "FR", "--reason", "audit")
    assert code == 0
    code, out = run(capsys, "reinstate", d, "--party", "FR")
    assert code == 0
    code, out = run(capsys, "update-party", d, "--party", "FR", "--email", "new@example.fr")
    assert (
        code == 0
        and {
            "op": "changed",
            "path": "parties.FR.contact.email",
            "old": "poc@example.fr",
            "new": "new@example.fr",
        }
        in out["changes"]
    )
    code, out = run(capsys, "renew", d, "--expires-in", "2w")
    assert code == 0 and out["version"] == 6
    expires = datetime.fromisoformat(out["expires"])
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14)
    code, out = run(capsys, "update-party", d, "--party", "IT", "--email", "a@b.it")
    assert code == 4 and out["error"] == "unknown_party"


ERRORS: dict[str, tuple[list[str], int, str]] = {
    "missing directory file": (["show", "{tmp}/nope.json"], 4, "not_found"),
    "not a directory file": (["show", "{tmp}/junk.json"], 5, "not_directory_file"),
    "unknown time zone": (
        [
            "add-party",
            "{d}",
            "--bundle",
            "{fr}",
            "--authority",
            "x",
            "--phone",
            "+33 1 23 45 67 89",
            "--email",
            "a@b.fr",
            "--tz",
            "Europe/Pariss",
            "--languages",
            "fr",
        ],
        5,
        "bad_timezone",
    ),
    "bad phone": (
        [
            "add-party",
            "{d}",
            "--bundle",
            "{fr}",
            "--authority",
            "x",
            "--phone",
            "0123",
            "--email",
            "a@b.fr",
            "--tz",
            "Europe/Paris",
            "--languages",
            "fr",
        ],
        5,
        "bad_phone",
    ),
    "bad duration": (["renew", "{d}", "--expires-in", "soon"], 5, "bad_duration"),
    "bad time": (
        ["revoke", "{d}", "--party", "FR", "--reason", "x", "--at", "yesterday"],
        5,
        "bad_time",
    ),
    "time without zone": (
        ["revoke", "{d}", "--party", "FR", "--reason", "x", "--at", "2026-01-01T00:00:00"],
        5,
        "bad_time",
    ),
    "party bundle as administrator": (
        ["init", "--threshold", "1", "--admin", "{fr}", "--out", "{tmp}/x.json"],
        5,
        "not_admin_bundle",
    ),
    "threshold above admins": (
        ["init", "--threshold", "2", "--admin", "{a1}", "--out", "{tmp}/x.json"],
        5,
        "bad_threshold",
    ),
    "init over an existing file": (
        ["init", "--threshold", "1", "--admin", "{a1}", "--out", "{d}"],
        5,
        "file_exists",
    ),
    "party key signing the directory": (["sign", "{d}", "--key", "{fr}"], 5, "not_root_key"),
    "combine different versions": (
        ["combine", "{d}", "{d2}", "--out", "{tmp}/c.json"],
        5,
        "payload_mismatch",
    ),
    "previous version not signed": (["verify", "{d2}", "--previous", "{d}"], 5, "previous_invalid"),
    "not a root file": (["verify", "{d}", "--trusted-root", "{tmp}/junk.json"], 5, "bad_root_file"),
    "bad administrator name": (
        ["admin-key", "--name", "ADMIN1", "--out", "{tmp}/adm"],
        5,
        "bad_admin_name",
    ),
    "existing administrator keystore": (
        ["admin-key", "--name", "XX-A", "--out", "{a1}"],
        3,
        "keystore_exists",
    ),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_explain_what_to_do(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], admins: list[Path]
) -> None:
    d = tmp_path / "d.json"
    assert run(capsys, "init", "--threshold", "1", "--admin", admins[0], "--out", d)[0] == 0
    assert run(capsys, "renew", d, "--out", tmp_path / "d2.json")[0] == 0
    (tmp_path / "junk.json").write_text("{}")
    fr = party_keys(tmp_path / "FR", "FR")
    names = {
        "tmp": str(tmp_path),
        "d": str(d),
        "d2": str(tmp_path / "d2.json"),
        "fr": str(fr),
        "a1": str(admins[0]),
    }
    argv, exit_code, error = ERRORS[name]
    code, out = run(capsys, *[a.format(**names) for a in argv])
    assert (code, out["error"]) == (exit_code, error), out
    code, _, err = run_text(capsys, *[a.format(**names) for a in argv])
    assert code == exit_code and err.startswith("error: ")
    assert "caused by this installation" in err


def test_wrong_passphrase(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    admins: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = tmp_path / "d.json"
    assert run(capsys, "init", "--threshold", "1", "--admin", admins[0], "--out", d)[0] == 0
    monkeypatch.setenv("POCNET_PASSPHRASE", "wrong")
    code, out = run(capsys, "sign", d, "--key", admins[0])
    assert code == 3 and out["error"] == "wrong_passphrase"
    assert PASS not in json.dumps(out)


def test_sign_refuses_an_expired_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], admins: list[Path]
) -> None:
    d = tmp_path / "d.json"
    assert (
        run(
            capsys,
            "init",
            "--threshold",
            "1",
            "--admin",
            admins[0],
            "--out",
            d,
            "--expires-in",
            "1m",
        )[0]
        == 0
    )
    assert run(capsys, "renew", d, "--expires-in", "1m")[0] == 0
    # a directory whose expiry is in the past, written by the pure API
    from dataclasses import replace

    from keys.directory import SignedDirectory

    signed = SignedDirectory.from_bytes(d.read_bytes())
    old = replace(signed.unverified_directory(), expires=datetime(2020, 1, 1, tzinfo=UTC))
    d.write_bytes(SignedDirectory.unsigned(old).to_bytes())
    code, out = run(capsys, "sign", d, "--key", admins[0])
    assert code == 5 and out["error"] == "expired"


def test_directory_files_are_public_and_newline_terminated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], admins: list[Path]
) -> None:
    d = tmp_path / "d.json"
    assert run(capsys, "init", "--threshold", "1", "--admin", admins[0], "--out", d)[0] == 0
    assert stat.S_IMODE(d.stat().st_mode) == 0o644
    data = d.read_bytes()
    assert data.endswith(b"}\n") and set(loads_strict(data)) == {"payload", "signatures"}

"""``node init --root``, ``node directory show | refresh --file | verify | pin`` and
``node rotate-key``, run in-process on a data folder (no relay needed)."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from keys.directory import Contact, Directory, RootKeys, edit, sign_directory
from keys.encoding import canonical, loads_strict
from keys.host.command import EXIT_CONFIG, EXIT_INVALID, EXIT_REFUSED
from keys.host.files import read_keystore
from keys.keystore import KDF_PROFILES, verify_bundle
from node.cli.main import main
from tests.unit.node.test_directory import admins

CONTACT = Contact("+33 1 40 00 00 01", "poc@fr.example.org", "Europe/Paris", ("en", "fr"))


def node(data: Path, *argv: str | Path) -> tuple[int, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*[str(a) for a in argv], "--data", str(data), "--json"])
    structlog.reset_defaults()
    text = out.getvalue().strip()
    return code, json.loads(text.splitlines()[-1]) if text else err.getvalue()


class Secretariat:
    """Two of three administrators, and the versions they signed."""

    def __init__(self) -> None:
        self.keys, self.root = admins(3, 2)
        self.directory: Directory | None = None

    def root_file(self, folder: Path, root: RootKeys | None = None) -> Path:
        path = folder / "root.json"
        path.write_bytes(canonical((root or self.root).to_file()))
        return path

    def version(self, folder: Path, bundle: bytes, **kw: Any) -> Path:
        now = datetime.now(UTC)
        if self.directory is None:
            d = edit.new_directory(self.root, now)
            d = edit.add_party(
                d, verify_bundle(bundle), authority="OCLCTIC", contact=CONTACT, now=now
            )
        else:
            d = edit.next_version(
                edit.update_party(
                    self.directory, "FR", phone=f"+33 1 40 00 00 {self.directory.version + 10}"
                ),
                self.directory,
                now,
                kw.get("validity", timedelta(days=180)),
            )
        self.directory = d
        path = folder / f"v{d.version}.json"
        path.write_bytes(sign_directory(d, kw.get("signers", self.keys[:2])).to_bytes())
        return path


@pytest.fixture
def sec() -> Secretariat:
    return Secretariat()


def init(data: Path, sec: Secretariat | None, *extra: str) -> dict[str, Any]:
    root = ["--root", str(sec.root_file(data.parent))] if sec else []
    code, out = node(
        data, "init", "--party", "FR", "--relay", "http://127.0.0.1:9", "--no-passphrase",
        "--kdf", "interactive", *root, *extra,
    )  # fmt: skip
    assert code == 0, out
    return dict(out)


def test_init_with_root_prints_fingerprints_and_refresh_from_files(
    tmp_path: Path, sec: Secretariat
) -> None:
    data = tmp_path / "fr"
    out = init(data, sec)
    assert out["mode"] == "directory"
    assert [k["fingerprint"] for k in out["root"]["keys"]] == [
        k.key.fingerprint for k in sorted(sec.root.keys, key=lambda k: k.name)
    ]
    code, shown = node(data, "directory", "show")
    assert code == 0 and shown["directory"] is None
    bundle = (data / "keys" / "bundle.json").read_bytes()
    v1 = sec.version(tmp_path, bundle)
    code, report = node(data, "directory", "refresh", "--file", v1)
    assert code == 0 and report["updated"] and report["version"] == 1
    v2 = sec.version(tmp_path, bundle, signers=[sec.keys[2]])  # one signature of two
    code, report = node(data, "directory", "refresh", "--file", v2)
    assert (code, report["rejected"], report["version"]) == (EXIT_REFUSED, "threshold_not_met", 1)

    code, shown = node(data, "directory", "show")
    assert code == 0 and shown["mode"] == "directory" and shown["usable"]
    assert shown["directory"]["version"] == 1
    assert (shown["signatures"]["valid"], shown["signatures"]["required"]) == (2, 2)
    [party] = shown["directory"]["parties"]
    assert party["id"] == "FR" and party["status"] == {"state": "active"}
    assert party["signing_keys"][0]["fingerprint"] == out["fingerprint"]
    code, verified = node(data, "directory", "verify")
    assert code == 0 and verified["valid"] and verified["versions_checked"] == 1


def test_verify_replays_the_chain_and_finds_an_altered_version(
    tmp_path: Path, sec: Secretariat
) -> None:
    data = tmp_path / "fr"
    init(data, sec)
    bundle = (data / "keys" / "bundle.json").read_bytes()
    for _ in range(3):
        code, _ = node(data, "directory", "refresh", "--file", sec.version(tmp_path, bundle))
        assert code == 0
    code, verified = node(data, "directory", "verify")
    assert code == 0 and verified["versions_checked"] == 3
    with sqlite3.connect(data / "node.db") as db:  # someone edits an old version on disk
        (file,) = db.execute("SELECT file FROM directory_versions WHERE version = 2").fetchone()
        doc = loads_strict(file)
        doc["signatures"] = doc["signatures"][:1]
        db.execute("UPDATE directory_versions SET file = ? WHERE version = 2", (canonical(doc),))
    code, verified = node(data, "directory", "verify")
    assert (code, verified["reason"], verified["valid"]) == (
        EXIT_REFUSED,
        "threshold_not_met",
        False,
    )


def test_verify_reports_an_expired_directory(
    tmp_path: Path, sec: Secretariat, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "fr"
    init(data, sec)
    bundle = (data / "keys" / "bundle.json").read_bytes()
    node(data, "directory", "refresh", "--file", sec.version(tmp_path, bundle))
    later = datetime.now(UTC) + timedelta(days=200)
    monkeypatch.setattr("node.cli.directory.now", lambda: later)
    code, verified = node(data, "directory", "verify")
    assert code == EXIT_REFUSED
    assert (verified["reason"], verified["signatures_valid"]) == ("expired", True)


def test_development_mode_then_pin(tmp_path: Path, sec: Secretariat) -> None:
    data = tmp_path / "fr"
    assert init(data, None)["mode"] == "development"
    code, shown = node(data, "directory", "show")
    assert code == 0 and shown["mode"] == "development"
    code, out = node(data, "directory", "verify")
    assert (code, out["error"]) == (EXIT_CONFIG, "root_not_pinned")
    root = sec.root_file(tmp_path)
    code, pinned = node(data, "directory", "pin", root)
    assert code == 0 and pinned["pinned"] is True and pinned["root"]["threshold"] == 2
    code, again = node(data, "directory", "pin", root)
    assert code == 0 and again["pinned"] is False
    (tmp_path / "other").mkdir()
    other = sec.root_file(tmp_path / "other", admins(2, 1, first=7)[1])
    code, out = node(data, "directory", "pin", other)
    assert (code, out["error"]) == (EXIT_CONFIG, "root_pinned")
    code, out = node(data, "directory", "pin", other, "--force")
    assert code == 0 and out["pinned"] and out["root"]["threshold"] == 1
    code, shown = node(data, "directory", "show")
    assert shown["mode"] == "directory" and shown["pinned_root"]["threshold"] == 1


def test_init_refuses_a_file_that_is_not_a_root(tmp_path: Path) -> None:
    bad = tmp_path / "root.json"
    bad.write_text(json.dumps({"format": "pocnet-bundle", "v": 1}))
    code, out = node(
        tmp_path / "fr", "init", "--party", "FR", "--relay", "http://127.0.0.1:9",
        "--no-passphrase", "--root", bad,
    )  # fmt: skip
    assert (code, out["error"]) == (EXIT_INVALID, "bad_root_file")
    assert not (tmp_path / "fr" / "node.toml").exists()


def test_rotate_key_keeps_the_old_key_and_writes_a_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POCNET_PASSPHRASE", "correct horse battery staple")
    data = tmp_path / "fr"
    code, out = node(
        data, "init", "--party", "FR", "--relay", "http://127.0.0.1:9", "--kdf", "interactive"
    )
    assert code == 0, out
    before = read_keystore(data / "keys" / "keystore.json", b"correct horse battery staple")
    code, rotated = node(data, "rotate-key")
    assert code == 0, rotated
    after = read_keystore(data / "keys" / "keystore.json", b"correct horse battery staple")
    old_id = before.current_encryption_key.public.key_id
    assert list(after.decryption_keys()) == [old_id, rotated["encryption_key"]]
    assert rotated["keys_kept"] == [old_id]
    assert after.signing_key.public == before.signing_key.public
    bundle = verify_bundle((data / "keys" / "bundle.json").read_bytes())
    assert bundle.current_encryption_key.key_id == rotated["encryption_key"]
    kdf = loads_strict((data / "keys" / "keystore.json").read_bytes())["kdf"]
    assert (kdf["opslimit"], kdf["memlimit"]) == KDF_PROFILES["interactive"]

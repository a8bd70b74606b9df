"""The members folder: bundles verified on the way in, suspension, the directory document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keys.errors import ConfigError, ValidationError
from relay.directory.folder import (
    add_bundle,
    folder,
    load_folder,
    read_suspended,
    write_suspended,
)
from tests.integration.relaykit import make_member, make_relay_keystore


def test_add_list_suspend_and_directory(tmp_path: Path) -> None:
    fr, de = make_member("FR"), make_member("DE")
    _, relay_bundle = make_relay_keystore()
    assert add_bundle(tmp_path, fr.bundle)[0].party == "FR"
    add_bundle(tmp_path, de.bundle)
    assert add_bundle(tmp_path, fr.bundle)[1] is False  # the same again: no change
    members = load_folder(tmp_path, relay_bundle)
    assert members.parties() == ["DE", "FR"]
    assert members.signing_key("FR") == fr.key.public and members.signing_key("GB") is None
    assert members.is_active("DE")
    doc = members.directory()
    assert doc["format"] == "pocnet-bundles" and len(doc["bundles"]) == 3
    version = members.version

    write_suspended(tmp_path, frozenset({"DE"}))
    assert read_suspended(tmp_path) == {"DE"}
    suspended = load_folder(tmp_path, relay_bundle)
    assert not suspended.is_active("DE") and suspended.version != version


def test_other_keys_for_a_member_need_replace(tmp_path: Path) -> None:
    add_bundle(tmp_path, make_member("FR").bundle)
    newer = make_member("FR")
    with pytest.raises(ConfigError, match="--replace"):
        add_bundle(tmp_path, newer.bundle)
    assert add_bundle(tmp_path, newer.bundle, replace=True)[1] is True


def test_bad_bundles_are_refused(tmp_path: Path) -> None:
    fr = make_member("FR")
    doc = json.loads(fr.bundle)
    doc["sig"] = doc["sig"][:-2] + ("AA" if not doc["sig"].endswith("AA") else "BA")
    with pytest.raises(ValidationError):
        add_bundle(tmp_path, json.dumps(doc).encode())
    _, relay_bundle = make_relay_keystore()
    with pytest.raises(ValidationError, match="relay"):
        add_bundle(tmp_path, relay_bundle)
    # A file named after another party is refused at load time.
    folder(tmp_path).mkdir(parents=True, exist_ok=True)
    (folder(tmp_path) / "DE.json").write_bytes(fr.bundle)
    with pytest.raises(ConfigError, match="belongs to party"):
        load_folder(tmp_path, relay_bundle)


def test_suspended_file_rejects_junk(tmp_path: Path) -> None:
    folder(tmp_path).mkdir(parents=True)
    (folder(tmp_path) / "suspended").write_text("# comment\nFR\nnot a party\n")
    with pytest.raises(ConfigError):
        read_suspended(tmp_path)

"""keys/host/files.py: private and public files (symlinks, temp names, umask, size)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keys.errors import KeystoreError
from keys.host.files import read_keystore, write_private, write_public

# --- from the security review of keys/ (findings 9) ----------

# --- 9. Public files followed a planted symlink; private temp names could collide ----------


def test_write_public_does_not_follow_a_planted_temp_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")
    os.chmod(victim, 0o600)
    target = tmp_path / "directory.json"
    (tmp_path / f".directory.json.tmp{os.getpid()}").symlink_to(victim)
    write_public(target, b"public")
    assert victim.read_bytes() == b"original"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not target.is_symlink()
    assert target.read_bytes() == b"public"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_private_survives_a_stale_temp_file(tmp_path: Path) -> None:
    stale = tmp_path / f".keystore.json.tmp{os.getpid()}"
    stale.write_bytes(b"left by a crash")
    target = tmp_path / "keystore.json"
    write_private(target, b"secret")
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".keystore")] == [stale.name]


def test_write_public_mode_ignores_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_public(tmp_path / "bundle.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "bundle.json").stat().st_mode) == 0o644


def test_read_keystore_refuses_a_huge_file_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    write_private(path, b" " * (1 << 20))
    with pytest.raises(KeystoreError):
        read_keystore(path, None)

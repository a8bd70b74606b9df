"""File helpers for keys: private files written atomically with mode 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from keys.errors import KeystoreError
from keys.keystore import Keystore

KEYSTORE_NAME = "keystore.json"
BUNDLE_NAME = "bundle.json"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; the file is 0600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_public(path: Path, data: bytes) -> None:
    """Write a public file atomically (mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_keystore(path: Path, passphrase: bytes | None) -> Keystore:
    """Read a keystore file, refusing one that others can read.

    Raises:
        KeystoreError: missing, readable by others, damaged or locked.
        WrongPassphrase: the passphrase does not open it.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise KeystoreError(f"no keystore at {path}: create one with 'keys generate'") from e
    except OSError as e:
        raise KeystoreError(f"cannot read the keystore at {path}: {e.strerror}") from e
    if mode & 0o077:
        raise KeystoreError(
            f"the keystore {path} is readable by others (mode {mode:o}); run chmod 600 on it",
            code="keystore_mode",
        )
    return Keystore.from_bytes(data, passphrase)


def keystore_is_encrypted(path: Path) -> bool:
    """True unless the keystore file says it is unencrypted (best effort, no secrets read)."""
    try:
        return b'"encrypted":false' not in path.read_bytes()
    except OSError:
        return True

"""File helpers for keys: private files written atomically with mode 0600.

Both writers go through one routine: a temporary file with an unpredictable name, created
exclusively (``O_EXCL | O_NOFOLLOW``, so a file or symlink planted at that name is never
written through), given its final mode before any byte, flushed to disk, renamed over the
target, and the directory entry flushed too: after a crash the target holds either the old
bytes or the new ones, never a truncated file.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from keys.errors import KeystoreError
from keys.keystore import MAX_KEYSTORE_BYTES, Keystore

KEYSTORE_NAME = "keystore.json"
BUNDLE_NAME = "bundle.json"


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)  # exactly ``mode``, whatever the umask
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry (the rename) to disk; best effort where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; the file is 0600 from its first byte."""
    _write_atomic(path, data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    """Write a public file atomically (mode 0644)."""
    _write_atomic(path, data, 0o644)


def read_keystore(path: Path, passphrase: bytes | None) -> Keystore:
    """Read a keystore file, refusing one that others can read.

    The mode is checked on the file that is read (one open, then ``fstat``), and no more
    than the keystore size limit is read.

    Raises:
        KeystoreError: missing, readable by others, too large, damaged or locked.
        WrongPassphrase: the passphrase does not open it.
    """
    try:
        with _open_to_read(path) as fh:
            info = os.fstat(fh.fileno())
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode):
                raise KeystoreError(f"the keystore {path} is not a regular file")
            if mode & 0o077:
                raise KeystoreError(
                    f"the keystore {path} is readable by others (mode {mode:o}); "
                    "run chmod 600 on it",
                    code="keystore_mode",
                )
            data = fh.read(MAX_KEYSTORE_BYTES + 1)
    except FileNotFoundError as e:
        raise KeystoreError(f"no keystore at {path}: create one with 'keys generate'") from e
    except OSError as e:
        raise KeystoreError(f"cannot read the keystore at {path}: {e.strerror}") from e
    if len(data) > MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"the keystore {path} is larger than {MAX_KEYSTORE_BYTES} bytes")
    return Keystore.from_bytes(data, passphrase)


def keystore_is_encrypted(path: Path) -> bool:
    """True unless the keystore file says it is unencrypted (best effort, no secrets read)."""
    try:
        with _open_to_read(path) as fh:
            return b'"encrypted":false' not in fh.read(MAX_KEYSTORE_BYTES + 1)
    except OSError:
        return True


def _open_to_read(path: Path) -> BinaryIO:
    """Open ``path`` for reading without blocking on a FIFO or taking a terminal (the flags
    change nothing for a regular file)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    return os.fdopen(os.open(path, flags), "rb")

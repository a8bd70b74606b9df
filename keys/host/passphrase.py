"""Where a passphrase comes from: the same three ways for every command.

1. ``--passphrase-file FILE``: its first line, that is everything before the first LF,
   without a CR just before it (the file is UTF-8 and at most 64 KiB; form feeds, U+2028
   and other characters that ``str.splitlines`` would split on are part of the passphrase);
2. the ``POCNET_PASSPHRASE`` environment variable;
3. a terminal prompt (when standard input is a terminal).

``--no-passphrase`` means "unencrypted keystore", chosen explicitly.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from keys.errors import KeystoreError

ENV_VAR = "POCNET_PASSPHRASE"
MAX_FILE_BYTES = 64 * 1024


def add_arguments(parser: argparse.ArgumentParser, *, allow_none: bool = False) -> None:
    """Add ``--passphrase-file`` (and, for creating keystores, ``--no-passphrase``)."""
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help=f"read the keystore passphrase from FILE (else ${ENV_VAR}, else a prompt)",
    )
    if allow_none:
        parser.add_argument(
            "--no-passphrase",
            action="store_true",
            help="store the private keys UNENCRYPTED (for an unattended daemon; say so in your "
            "security plan)",
        )


def resolve(
    passphrase_file: Path | None,
    *,
    no_passphrase: bool = False,
    confirm: bool = False,
    env: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> bytes | None:
    """Return the passphrase as bytes, or None when ``no_passphrase``.

    Raises:
        KeystoreError: no source available, an unreadable file or an empty passphrase.
    """
    if no_passphrase:
        return None
    env = os.environ if env is None else env
    if passphrase_file is not None:
        value = _first_line(passphrase_file)
    elif env.get(ENV_VAR):
        value = env[ENV_VAR]
    else:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise KeystoreError(
                "a passphrase is needed: use --passphrase-file FILE or set "
                f"{ENV_VAR} (no terminal to ask on)",
                code="passphrase_missing",
            )
        value = getpass.getpass("Keystore passphrase: ")
        if confirm and getpass.getpass("Repeat passphrase: ") != value:
            raise KeystoreError("the two passphrases differ", code="passphrase_mismatch")
    if not value:
        raise KeystoreError("the passphrase is empty", code="passphrase_missing")
    return value.encode("utf-8")


def _first_line(path: Path) -> str:
    """The passphrase in ``path``: its first line (see the module docstring).

    Raises:
        KeystoreError: unreadable, larger than :data:`MAX_FILE_BYTES`, or not UTF-8. The
            message never quotes the file's content.
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise KeystoreError(f"cannot read passphrase file {path}: {e.strerror}") from e
    if len(raw) > MAX_FILE_BYTES:
        raise KeystoreError(
            f"passphrase file {path} is larger than {MAX_FILE_BYTES // 1024} KiB: is it the "
            "right file?",
            code="passphrase_file_invalid",
        )
    line = raw.split(b"\n", 1)[0]
    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        # Not chained: the decoding error holds the passphrase bytes (its ``object``).
        raise KeystoreError(
            f"passphrase file {path} is not UTF-8 text", code="passphrase_file_invalid"
        ) from None

"""Where a passphrase comes from: the same three ways for every command.

1. ``--passphrase-file FILE`` (first line, trailing newline removed);
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
        try:
            text = passphrase_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise KeystoreError(
                f"cannot read passphrase file {passphrase_file}: {e.strerror}"
            ) from e
        value = text[0] if text else ""
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

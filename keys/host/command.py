"""What every PoCNet command shares: exit codes, error printing and ``--json`` output.

Exit codes (the same for ``keys``, ``relay`` and ``node``):

==  ===========================================================
0   success
1   an unexpected error (a bug: please report it)
2   wrong usage (bad flags or arguments)
3   keystore locked, wrong passphrase or unreadable keystore
4   not found (message, party, file)
5   invalid input (a form, a file, a field)
6   the relay could not be reached (work is kept and retried)
7   refused by a peer or a check (signature, directory, rollback)
8   configuration error
==  ===========================================================
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from keys.errors import (
    ConfigError,
    Forbidden,
    KeystoreError,
    NotFound,
    PeerError,
    PocnetError,
    Rejected,
    Unauthenticated,
    ValidationError,
)

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_KEYSTORE = 3
EXIT_NOT_FOUND = 4
EXIT_INVALID = 5
EXIT_UNREACHABLE = 6
EXIT_REFUSED = 7
EXIT_CONFIG = 8

EXIT_CODES_HELP = """exit codes:
  0  success                         5  invalid input (form, file, field)
  1  unexpected error (a bug)        6  relay unreachable (work kept, retried)
  2  wrong usage                     7  refused by a peer or a check
  3  keystore locked / wrong passphrase   8  configuration error
  4  not found"""


def add_exit_codes(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every ``--help`` of ``parser`` and of its subcommands end with the exit codes.

    A parser whose epilog does not list them gets :data:`EXIT_CODES_HELP` appended (and a
    formatter that keeps its line breaks). Returns ``parser``.
    """
    if "exit codes:" not in (parser.epilog or ""):
        parser.epilog = (
            f"{parser.epilog}\n\n{EXIT_CODES_HELP}" if parser.epilog else EXIT_CODES_HELP
        )
        if parser.formatter_class is argparse.HelpFormatter:
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_exit_codes(sub)
    return parser


def version() -> str:
    """The installed PoCNet version (``unknown`` when run from a bare source tree)."""
    try:
        return importlib.metadata.version("pocnet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def add_version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give ``parser`` and each of its subcommands ``--version``. Returns ``parser``."""
    if not any("--version" in a.option_strings for a in parser._actions):
        parser.add_argument(
            "--version", action="version", version=f"{parser.prog} (PoCNet) {version()}"
        )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_version(sub)
    return parser


def enable_completion(parser: argparse.ArgumentParser) -> None:
    """Shell completion through the optional ``argcomplete`` package, when installed
    (``pip install 'pocnet[completion]'``); nothing otherwise."""
    try:
        argcomplete = importlib.import_module("argcomplete")
    except ImportError:
        return
    argcomplete.autocomplete(parser)


class Unreachable(PocnetError):
    """The relay did not answer."""

    code = "relay_unreachable"
    http_status = 503


def exit_code_for(error: PocnetError) -> int:
    """The documented exit code for an error."""
    if error.code == "not_found":  # a missing file is local, a missing message remote
        return EXIT_NOT_FOUND
    table: list[tuple[type[PocnetError], int]] = [
        (KeystoreError, EXIT_KEYSTORE),
        (ConfigError, EXIT_CONFIG),
        (NotFound, EXIT_NOT_FOUND),
        (Unreachable, EXIT_UNREACHABLE),
        (Rejected, EXIT_REFUSED),
        (Unauthenticated, EXIT_REFUSED),
        (Forbidden, EXIT_REFUSED),
        (ValidationError, EXIT_INVALID),
        (PeerError, EXIT_REFUSED),
    ]
    for cls, code in table:
        if isinstance(error, cls):
            return code
    return EXIT_BUG


def emit(result: Any, *, as_json: bool, text: str | None = None, out: TextIO | None = None) -> None:
    """Print a command's result: JSON when asked, else ``text`` (or the JSON, indented)."""
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(result, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        out.write(
            (text if text is not None else json.dumps(result, indent=2, ensure_ascii=False)) + "\n"
        )
    out.flush()


def run(fn: Callable[[], int | None], *, as_json: bool, remote: bool = True) -> int:
    """Run a command body; turn a PoCNet error into a message and its exit code.

    ``remote=False`` for a command that talks to no remote party (``keys``, ``relay``):
    what it reads was given by the person running it, so a "peer" error (a malformed
    bundle, a missing member) is reported as caused by "your input".
    """
    try:
        return fn() or 0
    except PocnetError as e:
        code = exit_code_for(e)
        fault = "input" if not remote and e.fault == "peer" else None
        if as_json:
            emit(
                {"ok": False, "error": e.code, "message": e.message, "exit_code": code},
                as_json=True,
            )
        else:
            sys.stderr.write(f"error: {e.diagnostics(fault)}\n")
        return code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130

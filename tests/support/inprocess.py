"""Run a command-line ``main(argv)`` in this process: the same code as the command, without
an interpreter's start-up, its output captured and its logging configuration undone."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence

import structlog


def run_main(main: Callable[[list[str]], int], argv: Sequence[str]) -> tuple[int, str, str]:
    """``main(argv)``; (exit code, stdout, stderr). A ``SystemExit`` (argparse) is an exit
    code; structlog is reset afterwards (the command configured it for itself)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = int(e.code or 0)
        finally:
            structlog.reset_defaults()
    return code, out.getvalue(), err.getvalue()

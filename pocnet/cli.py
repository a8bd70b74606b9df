"""``pocnet TOOL ARGS...``: run ``node``, ``relay`` or ``keys`` with ``ARGS``.

``pocnet --version`` and ``pocnet --help`` answer themselves; everything after the tool's
name goes to that tool unchanged (its own ``--help``, ``--version`` and exit codes).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable

TOOLS = {
    "node": "the point of contact's node: send, receive, run the daemon, doctor",
    "relay": "the relay service: serve, members, audit, logs",
    "keys": "keys and the signed directory: generate, show, directory ...",
}
USAGE = (
    "usage: pocnet {node,relay,keys} ARGS...\n\n"
    "PoCNet's tools under one name (use it where Node.js's 'node' is on the PATH):\n"
    + "".join(f"  {name:<6} {about}\n" for name, about in TOOLS.items())
    + "\n'pocnet TOOL --help' shows a tool's commands; shell completion: see the README."
)


def _version() -> str:
    try:
        return importlib.metadata.version("pocnet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "--version":
        print(f"pocnet {_version()}")
        return 0
    tool, rest = args[0], args[1:]
    if tool not in TOOLS:
        print(f"pocnet: unknown tool {tool[:40]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    # By name: the umbrella depends on none of the tools' code until one is chosen.
    entry: Callable[[list[str]], int] = importlib.import_module(f"{tool}.cli.main").main
    return entry(rest)


if __name__ == "__main__":
    sys.exit(main())

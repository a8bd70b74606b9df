"""The arguments of ``node console`` and ``node officers`` (kept apart from main.py)."""

from __future__ import annotations

from typing import Any

from node.cli import console
from node.console.accounts import ROLES


def add_parsers(sub: Any, add: Any) -> None:
    p = add(sub, "console", console.cmd_console, "serve the duty officer's web console", keys=True)
    p.add_argument("--host", help="address to listen on (default [console] host: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default [console] port: 8471)")
    p.add_argument("--tls-cert", metavar="PEM", help="TLS certificate (needed off loopback)")
    p.add_argument("--tls-key", metavar="PEM", help="TLS private key")
    p.add_argument(
        "--insecure-bind",
        action="store_true",
        help="allow a non-loopback address without TLS (a TLS proxy in front)",
    )
    officers = sub.add_parser("officers", help="console accounts", description="console accounts")
    osub = officers.add_subparsers(dest="officers_command", required=True, metavar="ACTION")
    p = add(osub, "add", console.cmd_officers_add, "add an officer (or --replace a password)")
    p.add_argument("name", metavar="NAME", help="login name, e.g. j.smith")
    p.add_argument("--role", choices=ROLES, default="officer", help="officer or supervisor")
    p.add_argument("--password-file", metavar="FILE", help="read the password from FILE")
    p.add_argument("--one-time", action="store_true", help="generate a password and print it once")
    p.add_argument("--replace", action="store_true", help="set a new password and role")
    add(osub, "list", console.cmd_officers_list, "list the officers")

# PYTHON_ARGCOMPLETE_OK
"""The ``node`` command: the duty officer's tool and the node daemon.

Every command takes ``--data DIR`` (default ``$POCNET_NODE_DATA``, else the current folder)
and ``--json``; exit codes are those of :mod:`keys.host.command` (listed in ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from keys.host import passphrase
from keys.host.command import (
    EXIT_CODES_HELP,
    EXIT_INVALID,
    add_exit_codes,
    add_version,
    emit,
    enable_completion,
    run,
)
from keys.keystore import KDF_PROFILES
from keys.suites import DEFAULT_SUITE, SUITES
from node.cli import (
    audit,
    console_cli,
    directory,
    doctor,
    reports,
    rotation,
    sending,
    setup,
    working,
)
from node.forms import KIND_NAMES, FormInvalid

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
PRIORITIES = ("routine", "urgent", "emergency")


def _common(json_flag: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the node's data folder (default $POCNET_NODE_DATA, else the current folder)",
    )
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _add(
    sub: Any, name: str, func: Command, help: str, *, keys: bool = False, **kw: Any
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=help,
        parents=[_common()],
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kw,
    )
    if keys:
        passphrase.add_arguments(p)
    p.set_defaults(func=func)
    return p


def _form_args(p: argparse.ArgumentParser, *, kind_required: bool = True) -> None:
    p.add_argument(
        "--kind",
        required=kind_required,
        choices=KIND_NAMES,
        metavar="KIND",
        help="message kind ('node forms' lists them)",
    )
    p.add_argument("--form", type=Path, metavar="FILE", help="the form, JSON or TOML")
    p.add_argument(
        "--priority",
        choices=PRIORITIES,
        help="routine, urgent or emergency (default: the form's; a reply: the request's)",
    )
    p.add_argument(
        "--no-input", action="store_true", help="never ask on the terminal for missing fields"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="node",
        description="PoCNet node: send and receive signed, end-to-end encrypted requests "
        "of the 24/7 Network (Budapest Convention Art. 35).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _add(sub, "init", setup.cmd_init, "create a node: keys, node.toml, database")
    p.add_argument("--party", required=True, help="party id, e.g. FR or US-DOJ")
    p.add_argument("--relay", required=True, metavar="URL", help="the relay's base URL")
    p.add_argument("--suite", choices=sorted(SUITES), default=DEFAULT_SUITE, help="HPKE suite")
    p.add_argument(
        "--kdf", choices=sorted(KDF_PROFILES), default="moderate", help="Argon2id cost profile"
    )
    p.add_argument("--force", action="store_true", help="replace an existing node (new keys)")
    p.add_argument(
        "--root",
        type=Path,
        metavar="ROOT.json",
        help="the secretariat's root file ('keys directory export-root'): the node then "
        "trusts only the signed directory; read the printed fingerprints back to the "
        "secretariat by phone. Without it: development mode (keys trusted on first use)",
    )
    passphrase.add_arguments(p, allow_none=True)

    p = _add(sub, "forms", setup.cmd_forms, "list the kinds, or print a kind's empty template")
    p.add_argument(
        "kind", nargs="?", choices=KIND_NAMES, metavar="KIND", help="a kind (default: list them)"
    )
    p.add_argument("--describe", action="store_true", help="explain each field instead")
    p.add_argument("--example", action="store_true", help="print a filled-in example instead")
    p.add_argument(
        "--lang", metavar="LANG", default="en", help="language of --describe and the list (en, fr)"
    )

    p = _add(sub, "send", sending.cmd_send, "seal and send a request", keys=True)
    p.add_argument("--to", required=True, metavar="PARTY", help="recipient party id")
    _form_args(p)

    p = _add(
        sub, "respond", sending.cmd_respond, "answer a message, in its conversation", keys=True
    )
    p.add_argument("id", metavar="ID", help="the message answered (id or unique prefix)")
    _form_args(p)

    p = _add(sub, "flush", sending.cmd_flush, "deliver everything queued now", keys=True)
    p.add_argument(
        "--failed",
        action="store_true",
        help="first put every sent request that ended failed back in the queue",
    )
    p = _add(sub, "retry", sending.cmd_retry, "send failed requests again, now", keys=True)
    p.add_argument("ids", nargs="+", metavar="ID", help="message id (or a unique prefix)")
    _add(
        sub,
        "doctor",
        doctor.cmd_doctor,
        "check this node: keys, relay, identity, clock, directory, alert hook",
        keys=True,
    )
    _add(sub, "run", reports.cmd_run, "run the daemon (until SIGTERM / Ctrl-C)", keys=True)

    console_cli.add_parsers(sub, _add)

    p = _add(sub, "inbox", working.cmd_inbox, "list received messages (newest first)")
    p.add_argument("--open", action="store_true", help="only those not yet answered")
    p.add_argument("--priority", choices=PRIORITIES, help="only messages of this priority")
    p.add_argument("--sent", action="store_true", help="list sent messages instead")
    p.add_argument(
        "--limit", type=int, default=200, metavar="N", help="show at most N messages (default 200)"
    )

    p = _add(sub, "show", working.cmd_show, "display a message (recorded in the access log)")
    p.add_argument("id", metavar="ID", help="message id (or a unique prefix)")
    p.add_argument(
        "--lang",
        metavar="LANG",
        help="print only the form's fields, labelled in this language (en, fr)",
    )
    p.add_argument(
        "--format",
        choices=("text", "html", "raw"),
        default="text",
        help="text: the form's fields in order with labels and the receipts (default); "
        "html: a page to print or file; raw: the stored JSON",
    )

    p = _add(
        sub, "ack", sending.cmd_ack, "acknowledge a received message (ACKNOWLEDGED)", keys=True
    )
    p.add_argument("id", metavar="ID", help="message id (or a unique prefix)")

    p = _add(
        sub,
        "status",
        working.cmd_status,
        "timeline of a message, signatures checked; without ID, the node at a glance "
        "(directory expiry, outbox, unacknowledged requests)",
    )
    p.add_argument("id", nargs="?", metavar="ID", help="message id (or a unique prefix)")

    p = _add(
        sub,
        "evidence",
        working.cmd_evidence,
        "export an evidence bundle (ID --out FILE) or check one (verify FILE)",
        keys=True,
    )
    p.add_argument(
        "target",
        nargs="+",
        metavar="ID | verify FILE",
        help="the message to export, or 'verify' and a bundle file",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="where to write the bundle")
    p.add_argument(
        "--fetch", action="store_true", help="add the relay's own evidence answer (needs the relay)"
    )
    p.add_argument(
        "--with-content",
        action="store_true",
        help="add the decrypted message and the sender's signature over it, so that a third "
        "party can read and verify what was asked (the file then holds plaintext: keep it as "
        "you keep the case file)",
    )
    p.add_argument(
        "--included-keys",
        action="store_true",
        help="verify with the keys inside the bundle, not this node's pins",
    )

    p = _add(
        sub,
        "audit",
        audit.cmd_audit,
        "the relay's audit log: status (what this node checked), or check it now",
        keys=True,
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("status", "check"),
        default="status",
        help="status (default) or check",
    )

    p = _add(
        sub,
        "stats",
        reports.cmd_stats,
        "statistics of this node (pings left out); 'send' a signed monthly report to the "
        "secretariat, 'collect' the network report (the secretariat)",
        keys=True,
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("show", "send", "collect"),
        default="show",
        help="show (default), send or collect",
    )
    p.add_argument(
        "--period",
        metavar="YYYY-MM",
        action="append",
        help="send/collect: the month, in UTC (default: the previous one); collect takes several",
    )
    p.add_argument("--to", metavar="PARTY", help="send: the secretariat's party")
    p.add_argument(
        "--out", metavar="DIR", help="collect: folder for the report (default network-report)"
    )
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="only messages created from WHEN: YYYY-MM-DD (UTC day), today, yesterday, 7d, 24h, 2w",
    )
    p.add_argument(
        "--until", metavar="DATE", help="only messages created until YYYY-MM-DD (UTC day, included)"
    )
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )

    p = _add(sub, "access", reports.cmd_access, "export the access records (Art. 14(8))")
    p.add_argument("--msg", metavar="ID", help="only this message")
    p.add_argument(
        "--since", metavar="WHEN", help="only records since WHEN: YYYY-MM-DD, yesterday, 7d ..."
    )
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )

    p = _add(
        sub,
        "directory",
        directory.cmd_directory,
        "the signed directory: show, refresh (from the relay), verify (offline), pin a root",
        keys=True,
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("show", "refresh", "verify", "pin"),
        default="show",
        help="show (default), refresh, verify or pin",
    )
    p.add_argument("root", nargs="?", metavar="ROOT.json", help="pin: the root file to pin")
    p.add_argument(
        "--file",
        action="append",
        type=Path,
        metavar="FILE",
        help="refresh: apply these directory files (oldest first) instead of the relay's",
    )
    p.add_argument("--force", action="store_true", help="pin: replace a different pinned root")

    p = _add(
        sub,
        "rotate-key",
        rotation.cmd_rotate_key,
        "make a new encryption key (old ones kept) and a bundle for the secretariat",
        keys=True,
    )
    p.add_argument("--suite", choices=sorted(SUITES), help="HPKE suite (default: the current)")
    p.add_argument("--kdf", choices=sorted(KDF_PROFILES), help="Argon2id cost (default: as now)")
    return add_version(add_exit_codes(parser))


def _body(args: argparse.Namespace) -> int:
    try:
        code: int = asyncio.run(args.func(args))
        return code
    except FormInvalid as e:
        if not args.json:
            raise
        emit(
            {
                "ok": False,
                "error": e.code,
                "message": e.message,
                "problems": [{"field": p.path, "problem": p.message} for p in e.problems],
                "exit_code": EXIT_INVALID,
            },
            as_json=True,
        )
        return EXIT_INVALID


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    return run(lambda: _body(args), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())

"""``keys directory``: the secretariat's commands for the signed directory.

Typical flow (docs/operations-directory.md has it step by step)::

    keys directory admin-key --name XX-ADMIN1 --out admin1/        # on each admin's machine
    keys directory init --threshold 2 --admin admin1/ --admin admin2/ --admin admin3/ \\
        --out directory.json
    keys directory add-party directory.json --bundle FR/bundle.json --authority "…" \\
        --phone "+33 …" --email poc@example.fr --tz Europe/Paris --languages en,fr
    keys directory sign directory.json --key admin1/ --out signed-1.json   # each admin
    keys directory combine signed-1.json signed-2.json --out directory.json
    keys directory verify directory.json --previous published.json

Edits bump the version and drop the signatures (the payload changed). Files are read and
written here; every rule lives in :mod:`keys.directory`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from keys.cli.directory.common import Command, _local
from keys.cli.directory.edit import (
    cmd_add_party,
    cmd_reinstate,
    cmd_renew,
    cmd_revoke,
    cmd_rotate_encryption_key,
    cmd_rotate_signing_key,
    cmd_set_relay,
    cmd_set_root,
    cmd_suspend,
    cmd_update_party,
)
from keys.cli.directory.show import cmd_admin_key, cmd_diff, cmd_export_root, cmd_init, cmd_show
from keys.cli.directory.sign import cmd_combine, cmd_sign, cmd_verify
from keys.host import passphrase
from keys.keystore import KDF_PROFILES

# -- parser ---------------------------------------------------------------------------------


def _file_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to edit")
    p.add_argument(
        "--out", type=Path, metavar="NEW", help="write here (default: edit FILE in place)"
    )
    p.add_argument(
        "--expires-in",
        default="180d",
        metavar="DURATION",
        help="the new version expires this long from now (default 180d)",
    )


def _contact_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--authority", required=required, help="the authority's name")
    p.add_argument("--phone", required=required, help="24/7 phone, international: +33 1 …")
    p.add_argument("--email", required=required, help="24/7 e-mail address")
    p.add_argument("--tz", required=required, metavar="ZONE", help="IANA time zone: Europe/Paris")
    p.add_argument("--languages", required=required, metavar="LIST", help="accepted: en,fr")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys directory …`` to the ``keys`` command's sub-parsers."""
    top = sub.add_parser(
        "directory",
        help="the signed directory: create, edit, sign, verify (secretariat)",
        description="Manage the signed directory of contact points. Edits bump the version "
        "and drop signatures; then each administrator signs on their own machine.",
    )
    d = top.add_subparsers(dest="directory_command", required=True, metavar="COMMAND")
    parsers: list[argparse.ArgumentParser] = []

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = d.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=_local(func))
        parsers.append(p)
        return p

    p = add("admin-key", cmd_admin_key, "create an administrator's keystore and public key")
    p.add_argument("--name", required=True, help="administrator name: XX-ADMIN1")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write to")
    p.add_argument("--kdf", choices=sorted(KDF_PROFILES), default="moderate", help="Argon2id cost")
    p.add_argument("--force", action="store_true", help="replace existing keys in DIR")
    passphrase.add_arguments(p)

    p = add("init", cmd_init, "create version 1 with the administrators' keys")
    p.add_argument("--threshold", required=True, type=int, help="signatures required (m of n)")
    p.add_argument(
        "--admin",
        required=True,
        action="append",
        type=Path,
        metavar="BUNDLE",
        help="an administrator's public key (bundle.json or its folder); repeat",
    )
    p.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="directory file to write"
    )
    p.add_argument(
        "--expires-in", default="180d", metavar="DURATION", help="validity (default 180d)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing FILE")

    p = add("add-party", cmd_add_party, "list a new party from its public bundle")
    _file_args(p)
    p.add_argument("--bundle", required=True, type=Path, help="the party's bundle.json")
    _contact_args(p, required=True)

    p = add("update-party", cmd_update_party, "change a party's authority or contact profile")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")
    _contact_args(p, required=False)

    for name, func, text in (
        ("suspend", cmd_suspend, "suspend a party (it may not send or receive)"),
        ("revoke", cmd_revoke, "revoke a party for good (signatures from --at on are invalid)"),
    ):
        p = add(name, func, text)
        _file_args(p)
        p.add_argument("--party", required=True, help="the party's id, e.g. FR")
        p.add_argument("--reason", required=True, help="short reason, shown to all members")
        p.add_argument("--at", metavar="TIME", help="effective time, RFC 3339 (default now)")

    p = add("reinstate", cmd_reinstate, "end a party's suspension")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")

    p = add("rotate-encryption-key", cmd_rotate_encryption_key, "make a new encryption key current")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")
    p.add_argument("--bundle", required=True, type=Path, help="the party's new bundle.json")
    p.add_argument(
        "--overlap",
        default="30d",
        metavar="DURATION",
        help="how long the old key stays valid (default 30d)",
    )

    p = add("rotate-signing-key", cmd_rotate_signing_key, "replace a party's signing key")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")
    p.add_argument("--bundle", required=True, type=Path, help="bundle with the new signing key")
    p.add_argument("--at", metavar="TIME", help="switch time, RFC 3339 (default now)")

    p = add("set-relay", cmd_set_relay, "set the relay's receipt and checkpoint key")
    _file_args(p)
    p.add_argument("--bundle", required=True, type=Path, help="the relay's bundle.json")
    p.add_argument("--at", metavar="TIME", help="valid from, RFC 3339 (default now)")

    p = add("set-root", cmd_set_root, "change the administrators' keys or threshold")
    _file_args(p)
    p.add_argument("--threshold", required=True, type=int, help="signatures required (m of n)")
    p.add_argument(
        "--admin",
        required=True,
        action="append",
        type=Path,
        metavar="BUNDLE",
        help="an administrator's public key (bundle.json or its folder); repeat",
    )

    p = add("renew", cmd_renew, "publish the same content as a new version with a new expiry")
    _file_args(p)

    p = add("sign", cmd_sign, "add your administrator signature to a directory file")
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to sign")
    p.add_argument("--key", required=True, type=Path, metavar="DIR", help="your admin-key folder")
    p.add_argument(
        "--previous",
        type=Path,
        metavar="OLD",
        help="the directory before a root change (outgoing administrators)",
    )
    p.add_argument("--out", type=Path, metavar="NEW", help="write here (default: FILE)")
    passphrase.add_arguments(p)

    p = add("combine", cmd_combine, "merge signatures over the same version into one file")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="signed copies to merge")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="merged file to write")

    p = add("verify", cmd_verify, "check signatures, version and expiry")
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to check")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--trusted-root", type=Path, metavar="ROOT", help="a pinned root file")
    trust.add_argument("--previous", type=Path, metavar="OLD", help="the directory in force")
    p.add_argument("--at", metavar="TIME", help="judge expiry at TIME (default now)")

    p = add("show", cmd_show, "show a directory and its signature status")
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to show")

    p = add("diff", cmd_diff, "what changed between two versions")
    p.add_argument("old", type=Path, metavar="OLD", help="the earlier directory file")
    p.add_argument("new", type=Path, metavar="NEW", help="the later directory file")

    p = add("export-root", cmd_export_root, "write the root keys file that nodes pin")
    p.add_argument("file", type=Path, metavar="FILE", help="a signed directory file")
    p.add_argument("--out", required=True, type=Path, metavar="ROOT", help="root file to write")

    for p in parsers:
        p.add_argument("--json", action="store_true", help="print JSON")

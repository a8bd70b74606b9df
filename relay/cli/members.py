"""``relay members``: add, list, suspend and resume the members' public bundles."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from keys.errors import ConfigError, NotFound
from keys.host.command import emit
from keys.host.files import BUNDLE_NAME
from keys.identities import validate_party_id
from relay.directory import folder as members_folder

PRECEDENCE = (
    "the members folder is for development: once a signed directory is installed "
    "(relay directory install), it takes precedence and this folder is no longer read"
)


def cmd_add(args: argparse.Namespace) -> int:
    try:
        data = args.bundle.read_bytes()
    except OSError as e:
        raise NotFound(f"cannot read {args.bundle}: {e.strerror}") from e
    bundle, replaced = members_folder.add_bundle(args.data, data, replace=args.replace)
    key = bundle.signing_key
    info = {
        "party": bundle.party,
        "signing_key": {"key_id": key.key_id, "fingerprint": key.fingerprint},
        "replaced": replaced,
        "file": str(members_folder.folder(args.data) / f"{bundle.party}.json"),
        "warning": PRECEDENCE,
    }
    text = (
        f"member {bundle.party} {'replaced' if replaced else 'added'}\n"
        f"signing key  {key.key_id}\n  fingerprint {key.fingerprint}\n"
        "check the fingerprint with the member by phone; a running relay reads members "
        f"again on SIGHUP (systemctl reload pocnet-relay)\nwarning: {PRECEDENCE}"
    )
    emit(info, as_json=args.json, text=text)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    bundle_path = args.data / BUNDLE_NAME
    relay_bundle = bundle_path.read_bytes() if bundle_path.exists() else b""
    members = members_folder.load_folder(args.data, relay_bundle) if relay_bundle else None
    if members is None:
        raise ConfigError(f"{args.data} is not a relay data folder (no {BUNDLE_NAME}): relay init")
    rows = []
    for party in members.parties():
        bundle = members.bundle(party)
        assert bundle is not None
        rows.append(
            {
                "party": party,
                "status": "active" if members.is_active(party) else "suspended",
                "signing_key": bundle.signing_key.key_id,
                "fingerprint": bundle.signing_key.fingerprint,
                "encryption_keys": [k.key_id for k in bundle.encryption_keys],
            }
        )
    lines = [f"{r['party']:<12} {r['status']:<10} {r['fingerprint']}" for r in rows]
    text = "\n".join(lines) if lines else "no members yet: relay members add BUNDLE"
    emit({"members": rows, "version": members.version}, as_json=args.json, text=text)
    return 0


def _set_suspended(args: argparse.Namespace, suspend: bool) -> int:
    party: str = args.party
    if not (members_folder.folder(args.data) / f"{party}.json").exists():
        raise NotFound(f"{party} is not a member")
    current = members_folder.read_suspended(args.data)
    updated = current | {party} if suspend else current - {party}
    members_folder.write_suspended(args.data, frozenset(updated))
    status = "suspended" if suspend else "active"
    emit(
        {"party": party, "status": status},
        as_json=args.json,
        text=f"{party} is {status}; a running relay applies it on SIGHUP",
    )
    return 0


def suspend_command(suspend: bool) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        validate_party_id(args.party)
        return _set_suspended(args, suspend)

    return command

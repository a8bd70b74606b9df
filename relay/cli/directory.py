"""``relay directory``: install the signed directory, show it, report its status.

::

    relay directory install directory.json --trust-root root.json   # the first time
    relay directory install directory.json                          # every later version
    relay directory show [--json]
    relay directory status [--json]

``install`` checks the file against the directory in force (the first time, against the
secretariat's root pinned with ``--trust-root``) and refuses, with exit code 7 and the
reason, a file under threshold, a rollback, an expired one or a root change not signed by
both the old and the new administrators. The rules live in :mod:`keys.directory`; the
transaction in :mod:`relay.directory.installed`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from keys.directory import (
    DEFAULT_DIRECTORY_LIMITS,
    Directory,
    RootKeys,
    SignedDirectory,
    diff,
)
from keys.directory.render import REASON_HELP, directory_dict, directory_text, status_dict
from keys.directory.render import status_text as signature_text
from keys.encoding import format_time, loads_strict
from keys.errors import ConfigError, InvalidFile, NotFound, Rejected, ValidationError
from keys.host.command import EXIT_REFUSED, emit
from keys.host.files import BUNDLE_NAME
from keys.identities import VerifyKey
from keys.keystore import MAX_KEYSTORE_BYTES, verify_bundle
from relay.config import RelayConfig
from relay.core.members_directory import DirectoryMembers
from relay.directory import installed as relay_directory
from relay.storage.database import Unavailable, check_schema, database_url, make_engine, safe_url

T = TypeVar("T")
MAX_ROOT_FILE_BYTES = 64 * 1024
PICKUP = (
    "running relays use it within {seconds:g} s (PostgreSQL relays at once; SIGHUP makes a "
    "relay look at once)"
)
INSTALL_HELP = {
    **REASON_HELP,
    "root_mismatch": "--trust-root names other administrators than the directory in force: "
    "a root change arrives inside a new version signed by the old and the new "
    "administrators; give the current root file, or none",
}


class DirectoryRefused(Rejected):
    """``install`` refused a file (exit code 7); the message says why and what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.message = message
        self.args = (message,)
        self.code = reason


class NoDirectory(NotFound):
    """No directory is installed (exit code 4)."""

    code = "no_directory"
    fault = "local"


ConfigLoader = Callable[[argparse.Namespace], RelayConfig]


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise NotFound(f"cannot read {what} {path}: {e.strerror}", code="not_found") from e
    if len(data) > limit:
        raise InvalidFile(
            f"{path} is larger than a {what} may be ({limit} bytes)", code="too_large"
        )
    return data


def _relay_key(data_dir: Path) -> VerifyKey:
    path = data_dir / BUNDLE_NAME
    try:
        return verify_bundle(_read(path, "relay bundle", MAX_KEYSTORE_BYTES)).signing_key
    except NotFound as e:
        raise ConfigError(
            f"{data_dir} is not a relay data folder (no readable {BUNDLE_NAME}): relay init"
        ) from e


def _root(path: Path) -> RootKeys:
    raw = _read(path, "root file", MAX_ROOT_FILE_BYTES)
    try:
        return RootKeys.from_file(loads_strict(raw, max_bytes=MAX_ROOT_FILE_BYTES, max_depth=4))
    except ValidationError as e:
        raise InvalidFile(f"{path}: {e.message}", code=e.code) from e


def _with_db(args: argparse.Namespace, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(engine)`` against the relay's database (schema checked first)."""
    cfg: RelayConfig = args.load_config(args)
    url = database_url(cfg.database_url, args.data)

    async def main() -> T:
        engine = make_engine(url, synchronous=cfg.sqlite_synchronous, pool_size=1)
        try:
            await check_schema(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except Unavailable as e:
        raise ConfigError(f"{safe_url(url)}: {e.message}", code=e.code) from e


def _refused(error: Rejected, data: bytes, root: RootKeys | None) -> DirectoryRefused:
    message = f"directory refused: {error.reason}: {INSTALL_HELP.get(error.reason, '')}"
    if root is not None:
        try:
            status = SignedDirectory.from_bytes(data).status(root)
            message += f"\nsignatures against the trusted root: {signature_text(status)}"
        except ValidationError:
            pass
    return DirectoryRefused(error.reason, message)


# -- install --------------------------------------------------------------------------------


def cmd_install(args: argparse.Namespace) -> int:
    data = _read(args.file, "directory file", DEFAULT_DIRECTORY_LIMITS.max_bytes)
    pinned = _root(args.trust_root) if args.trust_root is not None else None
    relay_key = _relay_key(args.data)
    now = datetime.now(UTC)
    cfg: RelayConfig = args.load_config(args)

    async def work(engine: Any) -> relay_directory.Installed:
        try:
            return await relay_directory.install(
                engine, data, now, relay_key=relay_key, trusted_root=pinned
            )
        except Rejected as e:
            stored = await relay_directory.latest(engine)
            root = relay_directory.trusted_state(stored).root if stored else pinned
            raise _refused(e, data, root) from e

    done = _with_db(args, work)
    d = done.directory
    changes = diff(done.previous, d) if done.previous is not None else []
    info: dict[str, Any] = {
        "installed": done.changed,
        "version": d.version,
        "previous_version": None if done.previous is None else done.previous.version,
        "payload_sha256": d.payload_sha256,
        "expires": format_time(d.expires),
        "leaf_index": done.leaf_index,
        "parties": len(d.parties),
        "changes": [c.to_dict() for c in changes],
    }
    if not done.changed:
        text = f"directory version {d.version} is already installed: nothing changed"
    else:
        was = "first install" if done.previous is None else f"was {done.previous.version}"
        lines = [
            f"installed directory version {d.version} ({was}), {len(d.parties)} parties",
            f"payload sha256  {d.payload_sha256}",
            f"expires         {format_time(d.expires)}",
            f"audit leaf      {done.leaf_index} (directory_installed)",
        ]
        lines += [f"  {c.describe()}" for c in changes]
        lines.append(PICKUP.format(seconds=cfg.directory_check_seconds))
        text = "\n".join(lines)
    emit(info, as_json=args.json, text=text)
    return 0


# -- show and status ------------------------------------------------------------------------


def _installed(args: argparse.Namespace) -> tuple[relay_directory.StoredDirectory, Directory]:
    """The directory in force, its signatures checked again against its own root."""

    async def work(engine: Any) -> relay_directory.StoredDirectory | None:
        return await relay_directory.latest(engine)

    stored = _with_db(args, work)
    if stored is None:
        raise NoDirectory(
            "no directory is installed: this relay uses its members folder (development); "
            "install one with 'relay directory install FILE --trust-root ROOT.json'"
        )
    directory = relay_directory.trusted_state(stored).current
    assert directory is not None
    return stored, directory


def _installed_fields(stored: relay_directory.StoredDirectory) -> dict[str, Any]:
    return {
        "installed_at": format_time(stored.installed_at),
        "leaf_index": stored.leaf_index,
    }


def cmd_show(args: argparse.Namespace) -> int:
    stored, directory = _installed(args)
    now = datetime.now(UTC)
    status = SignedDirectory.from_bytes(stored.file).status(directory.root)
    info = directory_dict(directory, now)
    info["signatures"] = status_dict(status)
    info.update(_installed_fields(stored))
    text = (
        f"installed {format_time(stored.installed_at)} (audit leaf {stored.leaf_index})\n"
        + directory_text(directory, status, now)
    )
    emit(info, as_json=args.json, text=text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        stored, directory = _installed(args)
    except NoDirectory:
        info = {"mode": "members_folder", "ok": True}
        emit(
            info,
            as_json=args.json,
            text="mode            members folder (development): no directory installed",
        )
        return 0
    now = datetime.now(UTC)
    relay_key = _relay_key(args.data)
    try:
        DirectoryMembers(directory, stored.file).check_relay_key(relay_key, now)
        key_problem = None
    except ConfigError as e:
        key_problem = e.message
    expired = directory.is_expired(now)
    states = Counter(
        "active" if directory.is_active(p.id, now) else p.status.state for p in directory.parties
    )
    days_left = (directory.expires - now).total_seconds() / 86400
    info = {
        "mode": "directory",
        "ok": not expired and key_problem is None,
        "version": directory.version,
        "payload_sha256": directory.payload_sha256,
        **_installed_fields(stored),
        "expires": format_time(directory.expires),
        "expired": expired,
        "days_left": round(days_left, 1),
        "relay_key": {"key_id": relay_key.key_id, "listed": key_problem is None},
        "root": {"threshold": directory.root.threshold, "keys": len(directory.root.keys)},
        "parties": {"total": len(directory.parties), **dict(sorted(states.items()))},
    }
    expiry = (
        f"EXPIRED since {format_time(directory.expires)}: still enforced; the secretariat "
        "must publish a renewed version"
        if expired
        else f"{format_time(directory.expires)} (in {days_left:.0f} days)"
    )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    lines = [
        "mode            signed directory",
        f"version         {directory.version} (payload sha256 {directory.payload_sha256})",
        f"installed       {format_time(stored.installed_at)} (audit leaf {stored.leaf_index})",
        f"expires         {expiry}",
        f"relay key       {relay_key.key_id} "
        + ("listed" if key_problem is None else f"NOT LISTED: {key_problem}"),
        f"root            {directory.root.threshold} of {len(directory.root.keys)} administrators",
        f"parties         {len(directory.parties)} ({counts or 'none'})",
    ]
    emit(info, as_json=args.json, text="\n".join(lines))
    return 0 if info["ok"] else EXIT_REFUSED


# -- parser ---------------------------------------------------------------------------------


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    common: Callable[[argparse.ArgumentParser], None],
    database_args: Callable[[argparse.ArgumentParser], None],
    load_config: ConfigLoader,
    epilog: str,
) -> None:
    """Add ``relay directory …`` to the ``relay`` command's sub-parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    top = sub.add_parser(
        "directory",
        help="the signed directory: install, show, status",
        description="Install the secretariat's signed directory. Once one is installed, the "
        "relay authenticates requests and envelopes against it (the members folder is no "
        "longer used) and serves it at GET /v1/directory.",
        epilog=epilog,
        formatter_class=fmt,
    )
    d = top.add_subparsers(dest="directory_command", required=True, metavar="ACTION")

    p = d.add_parser(
        "install",
        help="verify a directory file and make it the one in force",
        description="Verify FILE (threshold, rollback, expiry, root changes) against the "
        "directory in force, or the first time against --trust-root, check that it lists "
        "this relay's key, then store it and record it in the audit log. Exit code 7 when "
        "a check refuses it.",
        epilog=epilog,
        formatter_class=fmt,
    )
    p.add_argument("file", type=Path, metavar="FILE", help="the signed directory file")
    p.add_argument(
        "--trust-root",
        type=Path,
        metavar="ROOT",
        help="the secretariat's root file (keys directory export-root; check its "
        "fingerprints by phone): required for the first install",
    )
    p.set_defaults(func=cmd_install)
    parsers = [p]
    for name, func, text in (
        ("show", cmd_show, "show the installed directory: parties, keys, statuses"),
        ("status", cmd_status, "version, expiry, relay key; exit 7 if expired or key not listed"),
    ):
        p = d.add_parser(name, help=text, description=text, epilog=epilog, formatter_class=fmt)
        p.set_defaults(func=func)
        parsers.append(p)
    for p in parsers:
        database_args(p)
        common(p)
        p.set_defaults(load_config=load_config)

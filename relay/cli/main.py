# PYTHON_ARGCOMPLETE_OK
"""The ``relay`` command: init, serve, db, members, directory, logs, audit, stats, status.

Every subcommand has ``--help`` and ``--json``; exit codes are :mod:`keys.host.command`'s.
The data folder (``--data``, default ``$POCNET_RELAY_DATA`` or ``./relay-data``) holds the
relay's keystore (``keystore.json``, mode 0600), its public ``bundle.json``, ``relay.toml``,
the ``members/`` folder and, with SQLite, ``relay.db``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keys.errors import ConfigError, KeystoreError
from keys.host import passphrase
from keys.host.command import (
    EXIT_CODES_HELP,
    add_exit_codes,
    add_version,
    emit,
    enable_completion,
    run,
)
from keys.host.files import (
    BUNDLE_NAME,
    KEYSTORE_NAME,
    keystore_is_encrypted,
    read_keystore,
    write_private,
    write_public,
)
from keys.identities import RELAY_ID, SigningKey
from keys.keystore import KDF_PROFILES, Keystore, make_bundle, verify_bundle
from relay import config as relay_config
from relay.cli import audit as audit_cli
from relay.cli import directory as directory_cli
from relay.cli import members as members_cli
from relay.cli import stats as stats_cli
from relay.cli import status as status_cli
from relay.core import members as relay_members
from relay.directory import folder as members_folder
from relay.monitoring.logging import configure_logging, get_logger
from relay.storage.database import (
    SchemaBehind,
    Unavailable,
    check_schema,
    database_url,
    head_revision,
    make_engine,
    safe_url,
    upgrade,
)

DEFAULT_DATA = "relay-data"


def _data_default() -> Path:
    return Path(os.environ.get("POCNET_RELAY_DATA", DEFAULT_DATA))


def _config(args: argparse.Namespace) -> relay_config.RelayConfig:
    path: Path | None = args.config
    if path is None and (args.data / relay_config.CONFIG_NAME).exists():
        path = args.data / relay_config.CONFIG_NAME
    cfg = relay_config.load(path, env=os.environ)
    return relay_config.with_overrides(
        cfg,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        database_url=getattr(args, "database_url", None),
    )


# init ------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    data: Path = args.data
    ks_path = data / KEYSTORE_NAME
    if ks_path.exists() and not args.force:
        raise KeystoreError(
            f"{ks_path} exists; refusing to replace the relay's key (--force replaces it, and "
            "every node must then learn the new key)",
            code="keystore_exists",
        )
    secret = passphrase.resolve(
        args.passphrase_file, no_passphrase=args.no_passphrase, confirm=True
    )
    keystore = Keystore(RELAY_ID, SigningKey.generate())
    write_private(ks_path, keystore.to_bytes(secret, kdf=args.kdf))
    bundle = make_bundle(keystore, datetime.now(UTC))
    write_public(data / BUNDLE_NAME, bundle)
    config_path = data / relay_config.CONFIG_NAME
    if not config_path.exists():
        write_public(config_path, relay_config.default_toml().encode("utf-8"))
    members_folder.folder(data).mkdir(parents=True, exist_ok=True)
    key = keystore.signing_key.public
    info = {
        "data": str(data),
        "keystore": str(ks_path),
        "encrypted": secret is not None,
        "bundle": str(data / BUNDLE_NAME),
        "config": str(config_path),
        "members": str(members_folder.folder(data)),
        "signing_key": {"key_id": key.key_id, "fingerprint": key.fingerprint},
    }
    text = "\n".join(
        [
            f"relay initialised in {data}",
            f"signing key  {key.key_id}",
            f"  fingerprint {key.fingerprint}",
            f"keystore     {ks_path} (mode 0600, "
            + ("encrypted)" if secret is not None else "UNENCRYPTED by your choice)"),
            f"config       {config_path} (every limit, with its default)",
            f"directory    relay directory install --data {data} DIRECTORY.json --trust-root "
            "ROOT.json (development without one: relay members add BUNDLE)",
            f"next         relay db upgrade --data {data}; relay serve --data {data}",
        ]
    )
    emit(info, as_json=args.json, text=text)
    return 0


# serve -----------------------------------------------------------------------------------


def _open_keystore(args: argparse.Namespace) -> tuple[Keystore, bytes, bool]:
    data: Path = args.data
    ks_path = data / KEYSTORE_NAME
    if not ks_path.exists():
        raise ConfigError(f"no relay keystore in {data}: run 'relay init --data {data}' first")
    encrypted = keystore_is_encrypted(ks_path)
    secret = passphrase.resolve(args.passphrase_file) if encrypted else None
    keystore = read_keystore(ks_path, secret)
    if keystore.party != RELAY_ID:
        raise ConfigError(f"{ks_path} is {keystore.party}'s keystore, not a relay's")
    try:
        bundle = (data / BUNDLE_NAME).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {data / BUNDLE_NAME}: {e.strerror}") from e
    if verify_bundle(bundle).signing_key != keystore.signing_key.public:
        raise ConfigError(f"{data / BUNDLE_NAME} does not match the relay's keystore")
    return keystore, bundle, encrypted


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``event_loop`` names (None: the standard library's).

    ``auto`` is uvloop when it is installed: it won in ``python -m tests.bench relay``
    (issue 12), accepting about 1.35x the envelopes a second of the same relay on asyncio.

    Raises:
        ConfigError: uvloop is asked for but not installed.
    """
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as e:
        if name == "auto":
            return None
        raise ConfigError("event_loop = uvloop, but uvloop is not installed") from e
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def cmd_serve(args: argparse.Namespace) -> int:
    from relay.app import AppParts
    from relay.cli.serve import run_serve

    cfg = _config(args)
    configure_logging(level=args.log_level)
    log = get_logger("relay.cli.main")
    data: Path = args.data
    url = database_url(cfg.database_url, data)
    if cfg.workers > 1 and not url.startswith("postgresql"):
        raise ConfigError(
            f"workers = {cfg.workers} needs PostgreSQL: SQLite lets one process write and "
            "cannot wake another process's long polls, so a SQLite relay runs as one process "
            "(set database_url to postgresql+asyncpg://..., or run one worker)",
            code="workers_need_postgres",
        )
    keystore, bundle, encrypted = _open_keystore(args)
    if not encrypted:
        log.warning("keystore.unencrypted", detail="the relay's private key is stored unencrypted")
    members_folder.load_folder(data, bundle)  # fail now, not at the first request

    def load_members() -> relay_members.Members:
        return members_folder.load_folder(data, bundle)

    parts = AppParts(cfg, url, keystore.signing_key, load_members)
    log.info("relay.starting", data=str(data), database=safe_url(url), workers=cfg.workers)
    return run_serve(parts, _loop_factory(cfg.event_loop))


# db --------------------------------------------------------------------------------------


async def _db(url: str, cfg: relay_config.RelayConfig, action: str) -> dict[str, Any]:
    engine = make_engine(url, synchronous=cfg.sqlite_synchronous, pool_size=1)
    try:
        if action == "upgrade":
            before, after = await upgrade(engine)
            return {"database": safe_url(url), "before": before, "after": after}
        try:
            current = await check_schema(engine)
            behind = False
        except SchemaBehind:
            current, behind = None, True
        return {
            "database": safe_url(url),
            "current": current,
            "head": head_revision(),
            "up_to_date": not behind,
        }
    finally:
        await engine.dispose()


def cmd_db(args: argparse.Namespace) -> int:
    cfg = _config(args)
    url = database_url(cfg.database_url, args.data)
    if url.startswith("sqlite"):
        args.data.mkdir(parents=True, exist_ok=True)
    try:
        info = asyncio.run(_db(url, cfg, args.db_command))
    except Unavailable as e:
        raise ConfigError(e.message, code=e.code) from e
    if args.db_command == "upgrade":
        text = f"database {info['database']}: schema {info['before'] or 'empty'} -> {info['after']}"
    else:
        state = "up to date" if info["up_to_date"] else "BEHIND: run 'relay db upgrade'"
        text = f"database {info['database']}: schema {info['current'] or '?'} ({state})"
    emit(info, as_json=args.json, text=text)
    return 0 if args.db_command == "upgrade" or info["up_to_date"] else 8


# logs ------------------------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    from relay.cli.logs import show

    return show(args)


# parser ----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, data: bool = True) -> None:
    if data:
        p.add_argument(
            "--data",
            type=Path,
            default=_data_default(),
            metavar="DIR",
            help=f"relay data folder (default $POCNET_RELAY_DATA or ./{DEFAULT_DATA})",
        )
    p.add_argument("--json", action="store_true", help="print JSON")


def _database_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, metavar="FILE", help="config file (default DIR/relay.toml)"
    )
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql+asyncpg://user@host/db (default: SQLite relay.db in DIR)",
    )


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="relay",
        description="PoCNet relay: stores and forwards signed, end-to-end encrypted envelopes "
        "it cannot read, issues signed receipts and keeps an audit trail of metadata.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser(
        "init",
        help="create the relay's key, config and members folder",
        description="Create DIR with the relay's signing key (keystore.json, mode 0600), its "
        "public bundle.json, relay.toml listing every limit with its default, and members/.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    init.add_argument(
        "--kdf", choices=sorted(KDF_PROFILES), default="interactive", help="Argon2id cost profile"
    )
    init.add_argument("--force", action="store_true", help="replace an existing relay key")
    passphrase.add_arguments(init, allow_none=True)
    _common(init)
    init.set_defaults(func=cmd_init)

    srv = sub.add_parser(
        "serve",
        help="run the relay",
        description="Serve the relay API until SIGTERM/SIGINT (graceful: in-flight requests "
        "finish). SIGHUP re-reads the members (the installed directory, else the members "
        "folder). Logs are JSON lines on stdout. With --workers N, N processes share the "
        "port and one PostgreSQL; the one holding the leader lock signs checkpoints and "
        "handles deadlines, and /metrics on the port gives every worker's figures summed.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    srv.add_argument("--host", help="listen address (default 127.0.0.1)")
    srv.add_argument("--port", type=int, help="listen port (default 8470)")
    srv.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N relay processes on the port (SO_REUSEPORT) under a supervisor that "
        "restarts a dead one; N > 1 needs PostgreSQL (default: [server] workers, 1)",
    )
    srv.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="lowest level logged (default info)",
    )
    _database_args(srv)
    passphrase.add_arguments(srv)
    _common(srv)
    srv.set_defaults(func=cmd_serve)

    db = sub.add_parser(
        "db", help="database schema: upgrade, status", epilog=EXIT_CODES_HELP, formatter_class=fmt
    )
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, text in (
        ("upgrade", "apply the schema migrations (safe to run again)"),
        ("status", "show the schema version; exit 8 when behind"),
    ):
        p = db_sub.add_parser(name, help=text, description=text)
        _database_args(p)
        _common(p)
        p.set_defaults(func=cmd_db)

    mem = sub.add_parser(
        "members",
        help="manage the members' public bundles",
        description="Members are the nodes allowed to use this relay: their self-signed public "
        "bundles in DIR/members. Development only: once a signed directory is installed "
        "('relay directory install'), it takes precedence.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    mem_sub = mem.add_subparsers(dest="members_command", required=True, metavar="ACTION")
    add = mem_sub.add_parser("add", help="verify a node's bundle and add it")
    add.add_argument("bundle", type=Path, metavar="BUNDLE", help="the node's bundle.json")
    add.add_argument("--replace", action="store_true", help="accept new keys for a member")
    _common(add)
    add.set_defaults(func=members_cli.cmd_add)
    lst = mem_sub.add_parser("list", help="list members, their status and fingerprints")
    _common(lst)
    lst.set_defaults(func=members_cli.cmd_list)
    for name, flag, text in (
        ("suspend", True, "suspend a member (its requests are refused with 403 until resumed)"),
        ("resume", False, "resume a suspended member (its requests are accepted again)"),
    ):
        p = mem_sub.add_parser(name, help=text, description=text)
        p.add_argument("party", metavar="PARTY", help="the member's party id, e.g. FR")
        _common(p)
        p.set_defaults(func=members_cli.suspend_command(flag))

    directory_cli.register(
        sub,
        common=_common,
        database_args=_database_args,
        load_config=_config,
        epilog=EXIT_CODES_HELP,
    )

    logs = sub.add_parser(
        "logs",
        help="read the relay's JSON log readably",
        description="Read JSON log lines (a file the relay's stdout went to, or stdin) and "
        "show them readably, filtered.",
        epilog="examples:\n  relay logs --since 10m --event delivery.overdue relay.log\n"
        "  journalctl -u pocnet-relay -o cat | relay logs --party FR",
        formatter_class=fmt,
    )
    logs.add_argument("file", nargs="?", type=Path, metavar="FILE", help="log file (default stdin)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep reading as lines arrive")
    logs.add_argument("--event", metavar="NAME", help="event name, or a prefix ending in '.'")
    logs.add_argument(
        "--party", metavar="ID", help="lines about this party (caller/sender/recipient)"
    )
    logs.add_argument("--since", metavar="AGE", help="only lines newer than AGE (30s, 10m, 2h, 1d)")
    logs.add_argument("--level", choices=["debug", "info", "warning", "error"], help="lowest level")
    _common(logs, data=False)
    logs.set_defaults(func=cmd_logs)

    audit_cli.register(sub, common=_common, database_args=_database_args, load_config=_config)
    stats_cli.register(sub, common=_common, database_args=_database_args, load_config=_config)
    status_cli.register(sub, common=_common, database_args=_database_args, load_config=_config)
    return add_version(add_exit_codes(parser))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    return run(lambda: int(args.func(args)), as_json=args.json, remote=False)


if __name__ == "__main__":
    sys.exit(main())

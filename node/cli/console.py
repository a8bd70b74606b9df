"""``node console`` (serve the web console) and ``node officers`` (its accounts)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from keys.encoding import format_time
from keys.errors import ValidationError
from keys.host.command import emit
from node.cli.base import form_defaults, load_config, local_node, now
from node.config import NodeConfig
from node.console.accounts import check_name, check_role, hash_password
from node.console.app import serve, tls_context
from node.console.bind import check_bind
from node.console.board import AckDeadlines
from node.console.context import Console, ConsoleOptions
from node.logs import configure_logging, get_logger
from node.runtime import Node, open_node, resolve_passphrase, system_clock, unlock

ENV_PASSWORD = "POCNET_OFFICER_PASSWORD"  # noqa: S105 (a variable name)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether it was generated (and must be printed once)."""
    if args.one_time:
        return secrets.token_urlsafe(18), True
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip(), False
    if os.environ.get(ENV_PASSWORD):
        return os.environ[ENV_PASSWORD], False
    if not sys.stdin.isatty():
        raise ValidationError(
            f"no password: give --password-file, ${ENV_PASSWORD} or --one-time",
            code="password_missing",
        )
    first = getpass.getpass("new password (12 characters or more): ")
    if getpass.getpass("again: ") != first:
        raise ValidationError("the two passwords differ", code="password_mismatch")
    return first, False


async def cmd_officers_add(args: argparse.Namespace) -> int:
    name, role = check_name(args.name), check_role(args.role)
    password, generated = _password(args)
    hashed = hash_password(password)
    async with local_node(args) as node:
        await node.store.add_officer(name, role, hashed, format_time(now()), replace=args.replace)
        # a new password or role: the officer's open console sessions end (ADR 0019)
        ended = await node.store.session_delete_officer(name) if args.replace else 0
    result: dict[str, object] = {"name": name, "role": role, "sessions_ended": ended}
    text = f"officer {name} ({role}) can now log in to the console"
    if generated:
        result["password"] = password
        text += f"\none-time password (shown once, change it): {password}"
    emit(result, as_json=args.json, text=text)
    return 0


async def cmd_officers_list(args: argparse.Namespace) -> int:
    async with local_node(args) as node:
        rows = await node.store.list_officers()
    out = [{"name": o.name, "role": o.role, "created_at": o.created_at} for o in rows]
    text = "\n".join(f"{o['name']:<20} {o['role']:<10} {o['created_at']}" for o in out)
    emit({"officers": out}, as_json=args.json, text=text or "no officers")
    return 0


async def start_console(node: Node, cfg: NodeConfig, log: Any, **overrides: Any) -> Any:
    """Serve the console of ``node`` with the ``[console]`` settings (``overrides``: the
    command line's); returns the runner to clean up.

    Raises:
        ValidationError: a non-loopback address without TLS or ``insecure_bind``.
    """
    settings = dataclasses.replace(
        cfg.console, **{k: v for k, v in overrides.items() if v not in (None, False, "")}
    )
    tls = bool(settings.tls_cert and settings.tls_key)
    warning = check_bind(settings.host, tls=tls, insecure=settings.insecure_bind)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    console = Console(
        party=cfg.party,
        store=node.store,
        peers=node.peers,
        outbox=node.outbox,
        signing_key=node.keystore.signing_key,
        ack=AckDeadlines(cfg.alerts.ack_deadline_urgent, cfg.alerts.ack_deadline_emergency),
        settings=ConsoleOptions(
            idle_minutes=settings.idle_minutes,
            login_failures=settings.login_failures,
            secure_cookies=tls,
        ),
        log=log,
        clock=system_clock,
        defaults=form_defaults(cfg),
    )
    ssl_context = (
        tls_context(cfg.data_dir / settings.tls_cert, cfg.data_dir / settings.tls_key)
        if tls
        else None
    )
    runner = await serve(console, settings.host, settings.port, ssl_context)
    scheme = "https" if tls else "http"
    print(f"console of {cfg.party} at {scheme}://{settings.host}:{settings.port}/", flush=True)
    log.info("console.started", host=settings.host, port=settings.port, tls=tls)
    return runner


async def cmd_console(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    configure_logging(level=cfg.log.level, fmt=cfg.log.format, stream=sys.stdout)
    log = get_logger(party=cfg.party, part="console")
    secret = resolve_passphrase(cfg, passphrase_file=args.passphrase_file)
    node = await open_node(cfg, unlock(cfg, secret), log=log)
    try:
        runner = await start_console(
            node, cfg, log, host=args.host, port=args.port, tls_cert=args.tls_cert,
            tls_key=args.tls_key, insecure_bind=args.insecure_bind,
        )  # fmt: skip
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
    finally:
        await node.close()
    return 0

"""``node stats``, ``node access``, ``node run``."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import date

from keys.errors import InvalidInput
from keys.host.command import emit
from node.cli.base import full_node, load_config, local_node, now
from node.cli.console import start_console
from node.cli.netstats import cmd_stats_collect, cmd_stats_send
from node.cli.when import parse_since
from node.daemon.lock import daemon_lock
from node.daemon.loop import run_daemon
from node.logs import configure_logging, get_logger
from node.reports.preservation import preservation_clocks
from node.reports.stats import compute_stats, to_csv, to_table
from node.runtime import open_node, resolve_passphrase, unlock


def _since(value: str | None, flag: str = "--since") -> str | None:
    return None if value is None else parse_since(value, now(), option=flag)


def _until(value: str | None) -> str | None:
    """``--until``: a UTC day, included (a relative time would blur what "until" means)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as e:
        raise InvalidInput(
            f"--until must be a day YYYY-MM-DD (UTC), not {value[:32]!r}", code="bad_time"
        ) from e


def _format(args: argparse.Namespace) -> str:
    return "json" if args.json else args.format


async def cmd_stats(args: argparse.Namespace) -> int:
    action = getattr(args, "action", "show")
    if action == "send":
        return await cmd_stats_send(args)
    if action == "collect":
        return await cmd_stats_collect(args)
    since = _since(args.since)
    until = _until(args.until)
    if since and until and until < since:
        raise InvalidInput(f"--until {until} is before --since {since}", code="bad_period")
    async with local_node(args) as node:
        store = node.store
        stats = compute_stats(
            await store.list_messages(limit=1_000_000),
            await store.all_receipts(),
            clocks=preservation_clocks(await store.preservation_messages(), now()),
            access=await store.access_records(since=since),
            rejections=await store.rejections(since=since),
            since=since,
            until=until,
            now=now(),
        )
    fmt = _format(args)
    if fmt == "json":
        emit(stats, as_json=True)
    else:
        sys.stdout.write(to_csv(stats) if fmt == "csv" else to_table(stats) + "\n")
    return 0


async def cmd_access(args: argparse.Namespace) -> int:
    since = _since(args.since)
    async with local_node(args) as node:
        msg_id = (await node.store.get_message(args.msg)).msg_id if args.msg else None
        records = [r.to_dict() for r in await node.store.access_records(since=since, msg_id=msg_id)]
    fmt = _format(args)
    if fmt == "json":
        emit({"access_records": records}, as_json=True)
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, ["id", "at", "os_user", "action", "msg_id", "detail"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(records)
        sys.stdout.write(buf.getvalue())
    else:
        lines = [
            f"{r['at']}  {r['os_user']:<12} {r['action']:<12} {r['msg_id']}  {r['detail'] or ''}"
            for r in records
        ]
        sys.stdout.write(("\n".join(lines) if lines else "no access records") + "\n")
    return 0


async def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    with daemon_lock(cfg.data_dir):  # AlreadyRunning: another daemon serves this folder
        configure_logging(level=cfg.log.level, fmt=cfg.log.format, stream=sys.stdout)
        secret = resolve_passphrase(cfg, passphrase_file=args.passphrase_file)
        node = await open_node(cfg, unlock(cfg, secret), log=get_logger(party=cfg.party))
        if not cfg.console.enabled:
            await run_daemon(node)
            return 0
        # [console] enabled: the web console is served by this process, on the daemon's node
        runner = await start_console(node, cfg, get_logger(party=cfg.party, part="console"))
        try:
            await run_daemon(node)
        finally:
            await runner.cleanup()
    return 0


__all__ = ["cmd_access", "cmd_run", "cmd_stats", "full_node"]

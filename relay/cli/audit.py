"""``relay audit``: verify the audit log, print its entries, show the latest checkpoint.

All three read the database directly (``--data DIR`` for SQLite, or ``--database-url``),
so they work with the relay running or stopped; none writes.

- ``verify`` recomputes everything from the ``events`` table (:mod:`relay.audit.verify`)
  and exits 7 naming the first bad entry; progress goes to stderr on a terminal.
- ``tail`` prints entries readably (``--json``: one JSON object a line). ``--follow`` waits
  for new ones: on PostgreSQL it LISTENs for the writer's ``audit:<size>`` notifications
  (re-reading at least every 5 s in case one was missed); on SQLite, which has no
  notifications, it re-reads every 0.5 s (a bounded wait: one indexed query).
- ``checkpoint`` prints the latest signed checkpoint, whether it verifies with the
  relay's key, and the relay's verifier key (what witnesses and nodes are given).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.entry import entry_dict
from keys.encoding import format_time
from keys.errors import ConfigError, NotFound, Rejected, ValidationError
from keys.host.command import EXIT_CODES_HELP, EXIT_REFUSED, emit
from keys.host.files import BUNDLE_NAME
from keys.identities import VerifyKey
from keys.keystore import verify_bundle
from relay.audit import append as audit
from relay.audit.checkpoints import latest
from relay.audit.verify import verify_log
from relay.config import RelayConfig
from relay.storage.database import (
    SQLITE_NAME,
    Unavailable,
    asyncpg_dsn,
    check_schema,
    database_url,
    is_postgres,
    make_engine,
)
from relay.storage.schema import events
from relay.storage.writer import NOTIFY_CHANNEL

SQLITE_POLL_SECONDS = 0.5
PG_RECHECK_SECONDS = 5.0
TAIL_PAGE = 500
_PROGRESS_EVERY = 0.5

AddArgs = Callable[[argparse.ArgumentParser], None]
LoadConfig = Callable[[argparse.Namespace], RelayConfig]


# Shared ----------------------------------------------------------------------------------


def _url(args: argparse.Namespace) -> tuple[RelayConfig, str]:
    cfg = args.load_config(args)
    url = database_url(cfg.database_url, args.data)
    if url.startswith("sqlite") and not (args.data / SQLITE_NAME).exists():
        raise ConfigError(f"no relay database in {args.data} (give --data or --database-url)")
    return cfg, url


async def _engine(url: str) -> AsyncEngine:
    engine = make_engine(url, pool_size=2)
    try:
        await check_schema(engine)
    except Unavailable as e:
        await engine.dispose()
        raise ConfigError(e.message, code=e.code) from e
    except BaseException:
        await engine.dispose()
        raise
    return engine


def _relay_keys(args: argparse.Namespace) -> list[VerifyKey]:
    paths: list[Path] = args.bundle or [args.data / BUNDLE_NAME]
    keys = []
    for path in paths:
        try:
            keys.append(verify_bundle(path.read_bytes()).signing_key)
        except OSError as e:
            raise ConfigError(f"cannot read the relay's bundle {path}: {e.strerror}") from e
    return keys


# verify ----------------------------------------------------------------------------------


def _progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < _PROGRESS_EVERY and done < total:
            return
        last[0] = now
        share = 100.0 * done / total if total else 100.0
        sys.stderr.write(f"\rverifying: {done}/{total} entries ({share:.0f}%)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def cmd_verify(args: argparse.Namespace) -> int:
    cfg, url = _url(args)
    keys = _relay_keys(args)

    async def go() -> Any:
        engine = await _engine(url)
        try:
            return await verify_log(
                engine,
                keys,
                cfg.audit_origin,
                progress=None if args.json else _progress(),
            )
        finally:
            await engine.dispose()

    report = asyncio.run(go())
    if report.ok:
        text = (
            f"audit log OK: {report.entries} entries, {report.nodes} stored hashes and "
            f"{report.checkpoints} signed checkpoints recomputed and verified"
        )
        emit(report.to_json(), as_json=args.json, text=text)
        return 0
    p = report.problem
    assert p is not None
    lines = [f"AUDIT LOG DAMAGED ({p.kind}): {p.message}"]
    if p.seq is not None:
        lines.append(
            f"first bad entry: seq {p.seq}"
            + (f", type {p.type}" if p.type else "")
            + (f", msg_id {p.msg_id}" if p.msg_id else "")
        )
    lines.append(f"checked before stopping: {report.entries} entries")
    emit(report.to_json(), as_json=args.json, text="\n".join(lines))
    return EXIT_REFUSED


# tail ------------------------------------------------------------------------------------


def entry_line(seq: int, fields: dict[str, Any]) -> str:
    """One entry, readably: seq, time, type, message, parties, short digests."""
    parts = [f"{seq:>8}", fields["time"], f"{fields['type']:<19}", fields.get("msg_id", "-")]
    if "sender" in fields or "recipient" in fields:
        parts.append(f"{fields.get('sender', '-')}->{fields.get('recipient', '-')}")
    for name, label in (("envelope_sha256", "env"), ("receipt_sha256", "rcpt")):
        if name in fields:
            parts.append(f"{label}={fields[name][:12]}")
    if "directory_version" in fields:
        parts.append(f"directory={fields['directory_version']}")
    return "  ".join(parts)


async def tail_entries(
    engine: AsyncEngine,
    *,
    start: int,
    show: Callable[[int, dict[str, Any]], None],
    wait: Callable[[], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Show entries from ``start``; with ``wait``, keep going until ``stop``. Return next seq."""
    nxt = start
    while True:
        query = select(events).where(events.c.seq >= nxt).order_by(events.c.seq).limit(TAIL_PAGE)
        async with engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
        for row in rows:
            show(int(row["seq"]), entry_dict(asdict(audit.Event.from_row(row))))
            nxt = int(row["seq"]) + 1
        if len(rows) == TAIL_PAGE:
            continue
        if wait is None or (stop is not None and stop.is_set()):
            return nxt
        await wait()


async def _sqlite_wait() -> None:
    await asyncio.sleep(SQLITE_POLL_SECONDS)


@contextlib.asynccontextmanager
async def pg_waiter(url: str) -> Any:
    """A wait that ends on the writer's next ``audit:`` notification (or after 5 s)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    grown = asyncio.Event()

    def on_message(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith("audit:"):
            grown.set()

    await conn.add_listener(NOTIFY_CHANNEL, on_message)

    async def wait() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(grown.wait(), PG_RECHECK_SECONDS)
        grown.clear()

    try:
        yield wait
    finally:
        await conn.close(timeout=2)


def cmd_tail(args: argparse.Namespace) -> int:
    if args.count < 0 or (args.start is not None and args.start < 0):
        raise ValidationError("--from and --count must not be negative", code="invalid_field")
    _cfg, url = _url(args)

    def show(seq: int, fields: dict[str, Any]) -> None:
        if args.json:
            line = json.dumps({"seq": seq, **fields}, sort_keys=True)
        else:
            line = entry_line(seq, fields)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    async def go() -> None:
        engine = await _engine(url)
        try:
            async with engine.connect() as conn:
                size = await audit.committed_size(conn)
            start = args.start if args.start is not None else max(0, size - args.count)
            if not args.follow:
                await tail_entries(engine, start=start, show=show)
            elif is_postgres(engine):
                async with pg_waiter(url) as wait:
                    await tail_entries(engine, start=start, show=show, wait=wait)
            else:
                await tail_entries(engine, start=start, show=show, wait=_sqlite_wait)
        finally:
            await engine.dispose()

    asyncio.run(go())
    return 0


# checkpoint ------------------------------------------------------------------------------


def cmd_checkpoint(args: argparse.Namespace) -> int:
    cfg, url = _url(args)
    keys = _relay_keys(args)

    async def go() -> Any:
        engine = await _engine(url)
        try:
            async with engine.connect() as conn:
                return await latest(conn)
        finally:
            await engine.dispose()

    stored = asyncio.run(go())
    if stored is None:
        raise NotFound("no checkpoint has been signed yet: the relay signs one when it starts")
    origin = cfg.audit_origin
    problem: str | None = "note_unsigned"
    for key in keys:
        try:
            signed_checkpoint.verify(stored.note, key, origin)
            problem = None
            break
        except Rejected as e:
            problem = e.reason
    info = {
        "origin": origin,
        "tree_size": stored.tree_size,
        "root": stored.root.hex(),
        "time": format_time(stored.signed_at),
        "note": stored.note.decode("utf-8"),
        "verified": problem is None,
        "problem": problem,
        "verifier_key": signed_checkpoint.verifier_key(origin, keys[0]),
    }
    status = "verifies with the relay's key" if problem is None else f"DOES NOT VERIFY: {problem}"
    text = (
        stored.note.decode("utf-8")
        + f"\n{stored.tree_size} entries, root {info['root']}\nsignature: {status}\n"
        + f"verifier key: {info['verifier_key']}"
    )
    emit(info, as_json=args.json, text=text)
    return 0 if problem is None else EXIT_REFUSED


# parser ----------------------------------------------------------------------------------


def register(sub: Any, *, common: AddArgs, database_args: AddArgs, load_config: LoadConfig) -> None:
    """Add ``relay audit`` and its actions to the ``relay`` command's subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    group = sub.add_parser(
        "audit",
        help="verify the audit log, print its entries, show its checkpoint",
        description="The relay's tamper-evident audit log (docs/protocol.md section 15). "
        "Reads the database directly: works with the relay running or stopped.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    actions = group.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    def bundle_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--bundle",
            type=Path,
            action="append",
            metavar="FILE",
            help="the relay's public bundle, whose key signs checkpoints (default "
            "DIR/bundle.json); repeat it to accept keys used before a rotation",
        )

    verify = actions.add_parser(
        "verify",
        help="recompute the whole log; exit 7 naming the first bad entry",
        description="Recompute every entry, leaf and stored hash from the events table, and "
        "check every signed checkpoint's signature and root. Exit 0 when all match; exit 7 "
        "naming the first entry (seq, type, msg_id) that does not.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    bundle_arg(verify)
    verify.set_defaults(func=cmd_verify)

    tail = actions.add_parser(
        "tail",
        help="print the last entries; --follow prints new ones as they are logged",
        description="Print log entries readably (--json: one object a line). --follow waits "
        "for new entries: LISTEN/NOTIFY on PostgreSQL, a re-read every 0.5 s on SQLite.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new entries")
    tail.add_argument("--from", dest="start", type=int, metavar="SEQ", help="start at entry SEQ")
    tail.add_argument(
        "--count", "-n", type=int, default=20, metavar="N", help="the last N entries (default 20)"
    )
    tail.set_defaults(func=cmd_tail)

    show = actions.add_parser(
        "checkpoint",
        help="print the latest signed checkpoint and the relay's verifier key",
        description="Print the latest signed checkpoint, whether it verifies with the relay's "
        "key (exit 7 if not), and the verifier key to give witnesses and nodes.",
        epilog=EXIT_CODES_HELP,
        formatter_class=fmt,
    )
    bundle_arg(show)
    show.set_defaults(func=cmd_checkpoint)

    for p in (verify, tail, show):
        database_args(p)
        common(p)
        p.set_defaults(load_config=load_config)

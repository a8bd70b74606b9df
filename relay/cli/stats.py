"""``relay stats``: envelopes per month and counterpart pair, from metadata only.

Reads the database directly (``--data DIR`` for SQLite, or ``--database-url``), with the
relay running or stopped; writes nothing. For cross-checking the figures the nodes send
the secretariat (ADR 0011).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from keys.errors import ValidationError
from keys.host.command import EXIT_CODES_HELP, emit
from relay.cli.audit import AddArgs, LoadConfig, _engine, _url
from relay.core.stats import relay_stats, to_csv, to_table
from relay.storage.metadata import EnvelopeMeta, envelope_metadata


def _day(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise ValidationError(f"{flag} must be a date YYYY-MM-DD, not {value[:32]!r}") from None


def cmd_stats(args: argparse.Namespace) -> int:
    start = _day(args.since, "--since")
    until = _day(args.until, "--until")
    end = until + timedelta(days=1) if until else None  # --until is included
    if start and end and end <= start:
        raise ValidationError("--until is before --since")
    _cfg, url = _url(args)

    async def go() -> list[EnvelopeMeta]:
        engine = await _engine(url)
        try:
            async with engine.connect() as conn:
                return await envelope_metadata(conn, start=start, end=end)
        finally:
            await engine.dispose()

    stats: dict[str, Any] = relay_stats(asyncio.run(go()), now=datetime.now(UTC))
    stats.update(since=args.since, until=args.until)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        emit(stats, as_json=True)
    else:
        sys.stdout.write(to_csv(stats) if fmt == "csv" else to_table(stats) + "\n")
    return 0


def register(sub: Any, *, common: AddArgs, database_args: AddArgs, load_config: LoadConfig) -> None:
    """Add ``relay stats`` to the ``relay`` command's subparsers."""
    p = sub.add_parser(
        "stats",
        help="envelopes per month and counterpart pair, from metadata only",
        description="Counts of envelopes per month, sender and recipient, by priority, the "
        "OVERDUE ones, and the times from acceptance to DELIVERED and ACKNOWLEDGED. The relay "
        "sees no kind and no content. Reads the database directly.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--since", metavar="DATE", help="envelopes created since YYYY-MM-DD (UTC)")
    p.add_argument("--until", metavar="DATE", help="envelopes created until YYYY-MM-DD, included")
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    database_args(p)
    common(p)
    p.set_defaults(func=cmd_stats, load_config=load_config)

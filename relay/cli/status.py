"""``relay status``: one screen for the operator on duty.

What the database says (schema, the directory in force and its expiry, envelopes pending and
OVERDUE per recipient, the last audit checkpoint, how fast the database answered), and what a
running relay process says on its ``/metrics`` (when it started, each member's last poll).
Either half may be missing (database down, relay stopped): the other is still shown, and the
missing half is one of the things needing attention. Exit 0 when nothing needs attention,
7 otherwise (for scripts and cron); ``--json`` for machines.

The verdict is :func:`attention`, a pure function of the report; the I/O only gathers it.
"""

from __future__ import annotations

import argparse
import asyncio
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from keys.encoding import format_time
from keys.errors import ValidationError
from keys.host.command import EXIT_CODES_HELP, EXIT_REFUSED, emit, version
from keys.host.files import BUNDLE_NAME
from relay.cli.audit import AddArgs, LoadConfig
from relay.cli.audit import _url as database_of
from relay.config import RelayConfig
from relay.directory import folder as members_folder
from relay.directory import installed as relay_directory
from relay.storage.database import (
    database_failure,
    head_revision,
    make_engine,
    safe_url,
)
from relay.storage.health import Snapshot, snapshot

DIRECTORY_WARNING = timedelta(days=30)  # as deploy/prometheus/alerts.yml
MAX_METRICS_BYTES = 4 * 1024 * 1024
LAST_POLL = "pocnet_relay_member_last_poll_timestamp_seconds"
STARTED = "pocnet_relay_started_timestamp_seconds"


@dataclass(frozen=True)
class Live:
    """What a running relay process told (``error`` set when it did not answer)."""

    url: str
    started: datetime | None = None
    polls: dict[str, datetime] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Stored:
    """What the database told (``error`` set when it did not answer)."""

    url: str
    state: Snapshot | None = None
    members: tuple[str, ...] = ()
    error: str | None = None


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def read_live(url: str, timeout: float) -> Live:
    """Scrape ``url``/metrics for the process's start and the members' last polls.

    Raises:
        ValidationError: ``url`` is not http:// or https://.
    """
    if not url.startswith(("http://", "https://")):
        raise ValidationError(f"--url must start with http:// or https://, not {url[:64]!r}")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout) as r:  # noqa: S310
            page = r.read(MAX_METRICS_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return Live(url, error=f"no answer from {url} ({reason})")
    started: datetime | None = None
    polls: dict[str, datetime] = {}
    try:
        for family in text_string_to_metric_families(page):
            for sample in family.samples:
                if sample.name == STARTED:  # with --workers, one per worker: the newest
                    at = _time(sample.value)
                    started = at if started is None else max(started, at)
                elif sample.name == LAST_POLL and "party" in sample.labels:
                    polls[sample.labels["party"]] = _time(sample.value)
    except ValueError as e:
        return Live(url, error=f"{url}/metrics is not Prometheus text ({e})")
    return Live(url, started, polls)


async def read_stored(url: str, data: Path) -> Stored:
    """The database's snapshot and the members in force (directory, else members folder)."""
    engine = make_engine(url, pool_size=1)
    try:
        state = await snapshot(engine)
        if state.directory_version is not None:
            stored = await relay_directory.latest(engine)
            members = (
                () if stored is None else tuple(relay_directory.members_from(stored).parties())
            )
        else:
            members = _folder_members(data)
        return Stored(safe_url(url), state, members)
    except Exception as e:
        failure = database_failure(e)
        if failure is None:
            raise
        return Stored(safe_url(url), error=f"{failure.message} ({type(e).__name__})")
    finally:
        await engine.dispose()


def _folder_members(data: Path) -> tuple[str, ...]:
    bundle = data / BUNDLE_NAME
    if not bundle.exists():
        return ()
    return tuple(members_folder.load_folder(data, bundle.read_bytes()).parties())


def report(stored: Stored, live: Live, cfg: RelayConfig, now: datetime) -> dict[str, Any]:
    """The status as data (times in UTC, RFC 3339)."""
    state = stored.state
    head = head_revision()
    parties = sorted(set(stored.members) | set(live.polls))
    connected_within = timedelta(seconds=cfg.longpoll_max_seconds + 60)
    members = []
    for party in parties:
        poll = live.polls.get(party)
        polled = poll is not None and (live.started is None or poll > live.started)
        members.append(
            {
                "party": party,
                "pending": state.pending.get(party, 0) if state else None,
                "overdue": state.overdue.get(party, 0) if state else None,
                "last_poll": format_time(poll) if poll and polled else None,
                "connected": bool(poll and polled and now - poll <= connected_within),
            }
        )
    doc: dict[str, Any] = {
        "version": version(),
        "now": format_time(now),
        "relay": {
            "url": live.url,
            "answering": live.error is None,
            "started": format_time(live.started) if live.started else None,
            "error": live.error,
        },
        "database": {
            "url": stored.url,
            "reachable": stored.error is None,
            "error": stored.error,
            "schema": state.schema if state else None,
            "head": head,
            "schema_current": bool(state and state.schema == head),
            "answered_ms": round(state.seconds * 1000, 1) if state else None,
        },
        "directory": _directory(state, now),
        "checkpoint": _checkpoint(state, now),
        "members": members,
        "connected": sum(1 for m in members if m["connected"]),
        "pending": sum(state.pending.values()) if state else None,
        "overdue": sum(state.overdue.values()) if state else None,
    }
    doc["attention"] = attention(doc, cfg)
    doc["ok"] = not doc["attention"]
    return doc


def _directory(state: Snapshot | None, now: datetime) -> dict[str, Any] | None:
    if state is None:
        return None
    if state.directory_version is None or state.directory_expires is None:
        return {"mode": "members_folder", "version": None, "expires": None, "expires_in": None}
    return {
        "mode": "directory",
        "version": state.directory_version,
        "expires": format_time(state.directory_expires),
        "expires_in": round((state.directory_expires - now).total_seconds()),
    }


def _checkpoint(state: Snapshot | None, now: datetime) -> dict[str, Any] | None:
    if state is None or state.checkpoint_at is None:
        return None
    return {
        "tree_size": state.checkpoint_size,
        "signed_at": format_time(state.checkpoint_at),
        "age": round((now - state.checkpoint_at).total_seconds()),
    }


def attention(doc: dict[str, Any], cfg: RelayConfig) -> list[str]:
    """What needs someone now, in words, most urgent first (empty: all is well)."""
    found: list[str] = []
    db, relay = doc["database"], doc["relay"]
    if not db["reachable"]:
        found.append(f"database unreachable: {db['error']}")
    elif not db["schema_current"]:
        found.append(
            f"schema {db['schema'] or 'empty'}, this relay needs {db['head']}: "
            "run 'relay db upgrade'"
        )
    if not relay["answering"]:
        found.append(f"relay process: {relay['error']}")
    for m in doc["members"]:
        if m["overdue"]:
            found.append(
                f"{m['overdue']} OVERDUE envelope(s) undelivered to {m['party']}: "
                "call its 24/7 number"
            )
    directory = doc["directory"]
    if directory and directory["expires_in"] is not None:
        left = directory["expires_in"]
        if left <= 0:
            found.append(f"directory version {directory['version']} has EXPIRED")
        elif left < DIRECTORY_WARNING.total_seconds():
            found.append(
                f"directory version {directory['version']} expires in "
                f"{left / 86400:.0f} days: ask the secretariat for a renewed one"
            )
    checkpoint = doc["checkpoint"]
    stale = 3 * cfg.checkpoint_refresh_seconds
    if db["reachable"] and checkpoint is None:
        found.append("no audit checkpoint signed yet (has the relay ever run?)")
    elif checkpoint is not None and checkpoint["age"] > stale:
        found.append(f"no audit checkpoint signed in the last {stale:.0f} s")
    if relay["answering"] and doc["members"] and not doc["connected"]:
        found.append("no member is connected")
    return found


def _local(text: str | None) -> str:
    if text is None:
        return "-"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def to_text(doc: dict[str, Any]) -> str:
    """The status as one screen, times in this computer's zone."""
    db, relay, directory, cp = doc["database"], doc["relay"], doc["directory"], doc["checkpoint"]
    lines = [f"PoCNet relay {doc['version']}   {_local(doc['now'])}"]
    if relay["answering"]:
        lines.append(f"relay          {relay['url']} answering, started {_local(relay['started'])}")
    else:
        lines.append(f"relay          {relay['error']}")
    if db["reachable"]:
        schema = "current" if db["schema_current"] else f"BEHIND, needs {db['head']}"
        lines.append(
            f"database       {db['url']} ok in {db['answered_ms']} ms, "
            f"schema {db['schema']} ({schema})"
        )
    else:
        lines.append(f"database       {db['url']} UNREACHABLE: {db['error']}")
    if directory is not None:
        if directory["mode"] == "members_folder":
            lines.append("directory      none installed: members folder (development)")
        else:
            left = directory["expires_in"]
            when = "EXPIRED" if left <= 0 else f"in {_ago(left)}"
            lines.append(
                f"directory      version {directory['version']}, expires "
                f"{_local(directory['expires'])} ({when})"
            )
    if cp is not None:
        lines.append(
            f"audit          checkpoint of {cp['tree_size']} entries, signed {_ago(cp['age'])} ago"
        )
    if doc["pending"] is not None:
        lines.append(f"envelopes      {doc['pending']} pending, {doc['overdue']} OVERDUE")
    lines.append(f"members        {doc['connected']} of {len(doc['members'])} connected")
    if doc["members"]:
        lines.append(f"  {'party':<12} {'pending':>7} {'overdue':>7}  last poll")
        for m in doc["members"]:
            pending = "-" if m["pending"] is None else m["pending"]
            overdue = "-" if m["overdue"] is None else m["overdue"]
            if m["last_poll"]:
                poll = _local(m["last_poll"]) + (" (connected)" if m["connected"] else "")
            else:
                poll = "not since the relay started" if relay["answering"] else "unknown"
            lines.append(f"  {m['party']:<12} {pending:>7} {overdue:>7}  {poll}")
    if doc["attention"]:
        lines.append("NEEDS ATTENTION")
        lines += [f"  - {item}" for item in doc["attention"]]
    else:
        lines.append("all well")
    return "\n".join(lines)


def _relay_url(cfg: RelayConfig) -> str:
    host = "127.0.0.1" if cfg.host in ("", "0.0.0.0", "::") else cfg.host  # noqa: S104
    scheme = "https" if cfg.tls_cert else "http"
    return f"{scheme}://{host}:{cfg.port}"


def cmd_status(args: argparse.Namespace) -> int:
    cfg, url = database_of(args)
    stored = asyncio.run(read_stored(url, args.data))
    live = read_live(args.url or _relay_url(cfg), args.timeout)
    doc = report(stored, live, cfg, datetime.now(UTC))
    emit(doc, as_json=args.json, text=to_text(doc))
    return 0 if doc["ok"] else EXIT_REFUSED


def register(sub: Any, *, common: AddArgs, database_args: AddArgs, load_config: LoadConfig) -> None:
    """Add ``relay status`` to the ``relay`` command's subparsers."""
    p = sub.add_parser(
        "status",
        help="one screen: database, directory, members' polls, pending, OVERDUE, audit",
        description="Version, database health and schema, the directory in force and its "
        "expiry, envelopes pending and OVERDUE per recipient, the last audit checkpoint "
        "(from the database), and each member's last poll (from the running relay's "
        "/metrics at --url). Exit 0 when all is well, 7 when something needs attention.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--url",
        metavar="URL",
        help="the running relay to ask (default: host and port of the config, "
        "127.0.0.1 for 0.0.0.0)",
    )
    p.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for the relay"
    )
    database_args(p)
    common(p)
    p.set_defaults(func=cmd_status, load_config=load_config)

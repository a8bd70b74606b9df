"""``relay logs``: read the relay's JSON log lines and show them readably, filtered.

Input is a file the operator sent the relay's stdout to, or standard input (for example
``journalctl -u pocnet-relay -o cat | relay logs``). Lines that are not JSON are shown as
they are. ``--follow`` keeps reading a file as it grows (like ``tail -f``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from keys.errors import NotFound, ValidationError

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
PARTY_FIELDS = ("party", "sender", "recipient")
_AGE_RE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOLLOW_PAUSE = 0.25
_SHOWN_FIRST = ("event", "timestamp", "level", "request_id")


def parse_age(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h`` or ``1d`` as a duration.

    Raises:
        ValidationError: another form.
    """
    match = _AGE_RE.match(text.strip())
    if not match:
        raise ValidationError(f"--since wants a number and s, m, h or d (got {text[:20]!r})")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def matches(
    entry: dict[str, Any],
    *,
    event: str | None = None,
    party: str | None = None,
    since: datetime | None = None,
    level: str | None = None,
) -> bool:
    """Whether a parsed log entry passes the filters."""
    name = str(entry.get("event", ""))
    if event and not (name == event or (event.endswith(".") and name.startswith(event))):
        return False
    if party and party not in (entry.get(f) for f in PARTY_FIELDS):
        return False
    if level and LEVELS.get(str(entry.get("level", "info")), 20) < LEVELS[level]:
        return False
    if since is not None:
        try:
            stamp = datetime.fromisoformat(str(entry.get("timestamp", "")).replace("Z", "+00:00"))
        except ValueError:
            return False
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        if stamp < since:
            return False
    return True


def render(entry: dict[str, Any]) -> str:
    """One readable line: time, level, event, request id, then the other fields."""
    stamp = str(entry.get("timestamp", ""))[:23].replace("T", " ")
    level = str(entry.get("level", "")).upper()
    rest = " ".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) or ' ' in v else v}"
        for k, v in sorted(entry.items())
        if k not in _SHOWN_FIRST and v is not None
    )
    return (
        f"{stamp} {level:<7} {entry.get('event', '')!s:<24} [{entry.get('request_id', '-')}] {rest}"
    )


def _lines(stream: TextIO, follow: bool) -> Iterator[str]:
    while True:
        line = stream.readline()
        if line:
            yield line
        elif follow and stream is not sys.stdin:
            time.sleep(FOLLOW_PAUSE)
        else:
            return


def show(args: argparse.Namespace, out: TextIO | None = None, now: datetime | None = None) -> int:
    """Run ``relay logs``."""
    out = out or sys.stdout
    since = None
    if args.since:
        since = (now or datetime.now(UTC)) - parse_age(args.since)
    stream: TextIO
    if args.file is None:
        stream = sys.stdin
    else:
        try:
            stream = open(args.file, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as e:
            raise NotFound(f"cannot read {args.file}: {e.strerror}") from e
    try:
        for line in _lines(stream, args.follow):
            text = line.strip()
            if not text:
                continue
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                entry = None
            if not isinstance(entry, dict):
                if not (args.event or args.party or since or args.level):
                    out.write(text + "\n")
                continue
            if matches(entry, event=args.event, party=args.party, since=since, level=args.level):
                out.write(
                    (json.dumps(entry, sort_keys=True) if args.json else render(entry)) + "\n"
                )
                out.flush()
    except KeyboardInterrupt:
        return 0
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 0

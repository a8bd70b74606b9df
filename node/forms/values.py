"""Checks of single values: dates, times with zones, e-mail, phone, language.

Each ``check_*`` returns None when the value is acceptable, else a short message for the
officer. Nothing here raises on bad input.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
_PHONE_RE = re.compile(r"^\+[0-9][0-9 ()./-]{5,30}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_zone(value: str) -> tzinfo | None:
    """An IANA zone (``Europe/Paris``) or an offset (``+02:00``, ``UTC+2:00``, ``UTC``)."""
    if value in ("UTC", "Z", "GMT"):
        return UTC
    if value in _iana_names():
        return zoneinfo.ZoneInfo(value)
    m = _OFFSET_RE.match(value)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3))
        if hours > 14 or minutes > 59:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if sign == "-" else delta)
    return None


def check_text(value: Any, limit: int, *, one_line: bool) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit}"
    if one_line and ("\n" in value or "\r" in value):
        return "must be one line"
    if _CONTROL_RE.search(value):
        return "contains control characters"
    return None


def check_date(value: Any) -> str | None:
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            date.fromisoformat(value)
            return None
        except ValueError:
            pass
    return "must be a date YYYY-MM-DD"


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date and time (naive or not), or None."""
    if not isinstance(value, str) or len(value) > 40 or "T" not in value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def check_datetime(value: Any) -> str | None:
    moment = parse_datetime(value)
    if moment is None:
        return "must be an ISO 8601 date and time, e.g. 2025-03-01T14:05:00+01:00"
    if moment.tzinfo is None:
        return "has no time zone: add an offset such as +01:00 or Z (a naive time is refused)"
    return None


def check_time_zone(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 64 and parse_zone(value) is not None:
        return None
    return "must be an IANA time zone (e.g. Europe/Paris) or an offset (e.g. +01:00)"


def check_email(value: Any) -> str | None:
    if isinstance(value, str) and _EMAIL_RE.match(value):
        return None
    return "must be an e-mail address"


def check_phone(value: Any) -> str | None:
    if isinstance(value, str) and _PHONE_RE.match(value):
        return None
    return "must be an international phone number starting with + (e.g. +33 1 23 45 67 89)"


def check_language(value: Any) -> str | None:
    if isinstance(value, str) and _LANG_RE.match(value):
        return None
    return "must be a language tag such as en, fr or pt-BR"


def check_ip_address(value: Any) -> str | None:
    # No IPv6 zone ("fe80::1%eth0"): it names an interface of one machine, takes any text.
    if isinstance(value, str) and len(value) <= 64 and "%" not in value:
        try:
            ipaddress.ip_address(value)
            return None
        except ValueError:
            pass
    return "must be an IPv4 or IPv6 address without the port, e.g. 203.0.113.7 or 2001:db8::1"


def check_port(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return None
    return "must be a port number, an integer from 1 to 65535"


COUNT_MAX = 1_000_000_000
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def check_count(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX:
        return None
    return f"must be a whole number from 0 to {COUNT_MAX:,}"


def check_month(value: Any) -> str | None:
    if isinstance(value, str) and _MONTH_RE.match(value):
        return None
    return "must be a month YYYY-MM"


def window_problems(value: Any) -> list[tuple[str, str]]:
    """Problems of a time window as (sub-path, message); empty when it is valid.

    A window is ``{"start", "end"}`` with an optional ``time_zone``. Each time carries an
    offset, or ``time_zone`` says in which zone it is read. ``start`` is not after ``end``.
    """
    if not isinstance(value, dict):
        return [("", 'must be an object {"start": ..., "end": ..., "time_zone": ...}')]
    out: list[tuple[str, str]] = []
    extra = sorted(set(value) - {"start", "end", "time_zone"})
    out.extend((f".{k}", "unknown field") for k in extra)
    zone: tzinfo | None = None
    if value.get("time_zone") not in (None, ""):
        problem = check_time_zone(value["time_zone"])
        if problem:
            out.append((".time_zone", problem))
        else:
            zone = parse_zone(value["time_zone"])
    moments: dict[str, datetime] = {}
    for key in ("start", "end"):
        raw = value.get(key)
        if raw in (None, ""):
            out.append((f".{key}", "missing"))
            continue
        moment = parse_datetime(raw)
        if moment is None:
            out.append((f".{key}", "must be an ISO 8601 date and time, e.g. 2025-03-01T14:05:00"))
        elif moment.tzinfo is None and zone is None:
            if "time_zone" not in value or value.get("time_zone") in (None, ""):
                out.append(
                    (
                        f".{key}",
                        "has no time zone: add an offset (e.g. +01:00) or a time_zone "
                        "(e.g. Europe/Paris); a naive time is refused",
                    )
                )
        else:
            moments[key] = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    if len(moments) == 2 and moments["start"] > moments["end"]:
        out.append((".end", "is before start"))
    return out


def days_between(later: str, earlier: datetime) -> int:
    """Whole days from ``earlier``'s date to the date ``later`` (``YYYY-MM-DD``)."""
    return (date.fromisoformat(later) - earlier.date()).days

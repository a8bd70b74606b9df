"""Times as a person types them on the command line: ``--since 7d``, ``yesterday``.

Accepted: ``YYYY-MM-DD``, an RFC 3339 time (``2026-01-10T03:00:00Z``), ``today``,
``yesterday``, or a span back from now: ``90m``, ``24h``, ``7d``, ``2w``. Anything else is
the typist's mistake, answered with the formats (:class:`InvalidInput`, exit 5). A pure
function of the text and ``now``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from keys.encoding import format_time
from keys.errors import InvalidInput

SPAN_RE = re.compile(r"^(\d{1,5})\s*(m|mins?|minutes?|h|hours?|d|days?|w|weeks?)$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FORMATS = "YYYY-MM-DD, an RFC 3339 time, today, yesterday, or a span such as 90m, 24h, 7d, 2w"


def parse_since(value: str, now: datetime, *, option: str = "--since") -> str:
    """The stored-time string from which on to count (dates and times sort as text).

    Raises:
        InvalidInput: none of the accepted forms.
    """
    text = value.strip().lower()
    if text == "today":
        return now.date().isoformat()
    if text == "yesterday":
        return (now.date() - timedelta(days=1)).isoformat()
    span = SPAN_RE.match(text)
    if span:
        unit = UNITS[span.group(2)[0]]
        return format_time(now - timedelta(**{unit: int(span.group(1))}))
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None:
        return format_time(moment)
    raise InvalidInput(f"{option} {value[:40]!r} is not a time: use {FORMATS}", code="bad_time")

"""Field checks shared by the directory's parts: times, free text, exact field sets.

Every time in a directory is an RFC 3339 UTC instant with milliseconds (the form
:func:`keys.encoding.format_time` writes), so that parsing and writing a payload gives back
the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from keys.encoding import format_time, has_controls, parse_time
from keys.errors import DecodeError, ValidationError


def instant(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to the millisecond (what a directory can hold).

    Raises:
        ValidationError: a naive datetime.
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValidationError("a directory time must be a timezone-aware datetime", code="bad_time")
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def read_time(value: Any, name: str) -> datetime:
    """Parse a time written by :func:`keys.encoding.format_time`, refusing other spellings.

    Raises:
        DecodeError: not of the form ``YYYY-MM-DDTHH:MM:SS.mmmZ``.
    """
    moment = parse_time(value, name)
    if format_time(moment) != value:
        raise DecodeError(f"{name} must be written with milliseconds (….000Z)", code="bad_time")
    return moment


def read_optional_time(value: Any, name: str) -> datetime | None:
    """Like :func:`read_time`, but ``null`` means open-ended."""
    return None if value is None else read_time(value, name)


def write_optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def exact_fields(
    obj: Any, required: tuple[str, ...], what: str, optional: tuple[str, ...] = ()
) -> Mapping[str, Any]:
    """Return ``obj`` if it is an object with the ``required`` fields and no unknown one.

    Raises:
        ValidationError: not an object, a field missing or one unexpected.
    """
    if not isinstance(obj, Mapping):
        raise ValidationError(f"{what} must be a JSON object", code="bad_fields")
    missing = [f for f in required if f not in obj]
    extra = sorted(set(obj) - set(required) - set(optional))
    if missing or extra:
        raise ValidationError(
            f"{what}: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}",
            code="bad_fields",
        )
    return obj


def text(value: Any, name: str, limit: int) -> str:
    """Return ``value`` if it is printable text of 1 to ``limit`` characters.

    Raises:
        ValidationError: not a string, empty, too long, with control characters, or with
            characters that reorder or break the displayed line (bidi controls, U+2028,
            U+2029, U+FEFF).
    """
    if not isinstance(value, str) or not value.strip() or len(value) > limit or has_controls(value):
        raise ValidationError(
            f"{name} must be printable text of 1 to {limit} characters", code="bad_text"
        )
    return value


def list_of(value: Any, name: str, limit: int, *, allow_empty: bool = False) -> list[Any]:
    """Return ``value`` if it is a list of at most ``limit`` items.

    Raises:
        ValidationError: not a list, empty (unless allowed), or too long.
    """
    if not isinstance(value, list) or len(value) > limit or (not value and not allow_empty):
        least = 0 if allow_empty else 1
        raise ValidationError(
            f"{name} must be a list of {least} to {limit} items", code="bad_fields"
        )
    return value

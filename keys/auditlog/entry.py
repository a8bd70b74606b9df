"""Audit log entries: the bytes of one leaf (DESIGN.md section 10).

An entry is the RFC 8785 canonical JSON of an event's metadata, and nothing else:
:data:`ENTRY_FIELDS`, each checked for its form, ``None`` values omitted. Free text cannot
enter: every field is a code, an id, a party, a time, a digest or a number. The leaf's
position (its index) is not part of the entry; it is where the entry sits in the tree.

``type`` is a short lower-case code naming the event (the relay's are ``accepted``,
``delivered``, ``retrieved``, ``acknowledged``, ``rejected``, ``overdue``, ``expired``,
``directory_installed``, ``retention_purge``): which types exist is the relay's business,
the format only bounds their shape, so adding one needs no change here.
``directory_version`` is the directory's version number, or the 64-hex digest that names
a directory without one (the interim set of public bundles).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keys.encoding import canonical, format_time, loads_strict, parse_time
from keys.errors import DecodeError, ValidationError
from keys.identities import validate_party_id

ENTRY_FIELDS = (
    "type",
    "time",
    "msg_id",
    "sender",
    "recipient",
    "envelope_sha256",
    "receipt_sha256",
    "directory_version",
)
REQUIRED_FIELDS = ("type", "time")
MAX_ENTRY_BYTES = 1024
"""No valid entry is longer (the fields are bounded); larger input is rejected unread."""
MAX_DIRECTORY_VERSION = (1 << 53) - 1
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_VERSION_RE = re.compile(r"^([0-9]{1,16}|[0-9a-f]{64})$")
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _check(name: str, value: Any) -> Any:
    """Return ``value`` in its canonical form if it is valid for ``name``, else raise."""
    if name == "type":
        if isinstance(value, str) and _TYPE_RE.match(value):
            return value
        raise ValidationError("entry type must be a lower-case code", code="bad_entry")
    if name == "time":
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise ValidationError("entry time must be timezone-aware", code="bad_entry")
            return format_time(value)
        parse_time(value, "entry time")
        return value
    if name == "msg_id":
        if isinstance(value, str) and _ID_RE.match(value):
            return value
        raise ValidationError("entry msg_id must be 32 lower-case hex digits", code="bad_entry")
    if name in ("sender", "recipient"):
        return validate_party_id(value, allow_relay=True)
    if name in ("envelope_sha256", "receipt_sha256"):
        if isinstance(value, str) and _SHA256_RE.match(value):
            return value
        raise ValidationError(f"entry {name} must be 64 lower-case hex digits", code="bad_entry")
    # directory_version
    if (type(value) is int and 0 <= value <= MAX_DIRECTORY_VERSION) or (
        isinstance(value, str) and _VERSION_RE.match(value)
    ):
        return value
    raise ValidationError(
        "entry directory_version must be a version number or a 64-hex digest", code="bad_entry"
    )


def entry_dict(event: Mapping[str, Any]) -> dict[str, Any]:
    """The validated, JSON-ready form of ``event`` (``None`` values dropped).

    Raises:
        ValidationError: a field outside :data:`ENTRY_FIELDS`, a required field missing, or
            a value of the wrong form.
    """
    extra = sorted(set(event) - set(ENTRY_FIELDS))
    if extra:
        raise ValidationError(
            f"audit entry: unexpected fields {extra[:8]} (allowed: {', '.join(ENTRY_FIELDS)})",
            code="bad_entry",
        )
    out = {name: _check(name, event[name]) for name in ENTRY_FIELDS if event.get(name) is not None}
    missing = [name for name in REQUIRED_FIELDS if name not in out]
    if missing:
        raise ValidationError(f"audit entry: missing {missing}", code="bad_entry")
    return out


def entry_bytes(event: Mapping[str, Any]) -> bytes:
    """The leaf bytes of an event: canonical JSON of its validated metadata.

    ``time`` may be an aware ``datetime`` (written with millisecond precision, as
    :func:`keys.encoding.format_time` does) or an RFC 3339 UTC string (kept as is).

    Raises:
        ValidationError: as :func:`entry_dict`.
    """
    return canonical(entry_dict(event))


def parse_entry(data: bytes) -> dict[str, Any]:
    """Parse leaf bytes back into the event metadata, strictly.

    Raises:
        TooLarge: more than :data:`MAX_ENTRY_BYTES`.
        DecodeError: not strict JSON, or not in canonical form.
        ValidationError: as :func:`entry_dict`.
    """
    obj = loads_strict(data, max_bytes=MAX_ENTRY_BYTES, max_depth=1)
    out = entry_dict(obj)
    if canonical(out) != data:
        raise DecodeError("audit entry is not canonical JSON", code="bad_entry")
    return out

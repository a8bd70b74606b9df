"""Redaction of log events, shared by the relay and the node (pure: no I/O, no structlog).

A log event is a mapping of field names to values. :func:`redact_event` replaces the value
of any field whose name (case-insensitive, at any depth of nested dicts) is in the given
set of secret field names, and masks, inside every remaining string (the event name, an
error message, a traceback), any long base64 or base64url run that looks random: 40 or
more characters of the base64 alphabets mixing upper case, lower case and digits. Such a
run is a key, a signature, a token or a ciphertext. Lower-case hex (SHA-256 digests,
message ids), paths and prose pass. Byte strings are replaced by their length.

:func:`make_processor` wraps it in the ``(logger, method, event_dict)`` shape of a
structlog processor; callers add it to their chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

REDACTED = "[redacted]"
MIN_RUN = 40
_B64_RUN = re.compile(rf"[A-Za-z0-9_+/=-]{{{MIN_RUN},}}")

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


def _looks_random(run: str) -> bool:
    return (
        any(c.isupper() for c in run)
        and any(c.islower() for c in run)
        and any(c.isdigit() for c in run)
    )


def mask(text: str) -> str:
    """``text`` with every random-looking base64 run of :data:`MIN_RUN`+ characters replaced
    by :data:`REDACTED`."""
    return _B64_RUN.sub(lambda m: REDACTED if _looks_random(m.group(0)) else m.group(0), text)


def clean(value: Any, secret_fields: frozenset[str]) -> Any:
    """A copy of ``value`` safe to log: strings masked, bytes reduced to their length,
    secret fields of nested dicts redacted, lists and tuples cleaned item by item."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in secret_fields else clean(v, secret_fields)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [clean(v, secret_fields) for v in value]
    return value


def redact_event(
    event_dict: MutableMapping[str, Any], secret_fields: frozenset[str]
) -> MutableMapping[str, Any]:
    """Redact ``event_dict`` in place (see the module docstring) and return it.

    Args:
        event_dict: the log event; ``event`` (its name or message) is masked, never dropped.
        secret_fields: lower-case field names whose values are always dropped.
    """
    for key in list(event_dict):
        if key != "event" and str(key).lower() in secret_fields:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = clean(event_dict[key], secret_fields)
    return event_dict


def make_processor(secret_fields: Iterable[str]) -> Processor:
    """A structlog-shaped processor running :func:`redact_event` with these field names."""
    fields = frozenset(f.lower() for f in secret_fields)

    def redact(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return redact_event(event_dict, fields)

    return redact


__all__ = ["MIN_RUN", "REDACTED", "clean", "make_processor", "mask", "redact_event"]

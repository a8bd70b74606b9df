"""Redaction of log events, shared by the relay and the node (pure: no I/O, no structlog).

A log event is a mapping of field names to values. :func:`redact_event` replaces the value
of any field whose name (case-insensitive, at any depth of nested dicts) is in the given
set of secret field names, and masks, inside every remaining string (the event name, an
error message, a traceback), any long base64 or base64url run that looks random: 40 or
more characters of the base64 alphabets mixing upper case, lower case and digits. Such a
run is a key, a signature, a token or a ciphertext. Lower-case hex (SHA-256 digests,
message ids), paths and prose pass. Byte strings are replaced by their length.

:func:`make_processor` wraps it in the ``(logger, method, event_dict)`` shape of a
structlog processor; :data:`redact` is that processor over :data:`SECRET_FIELDS`, the one
list used by the relay and the node.

The processor chain of both sides lives here too. They log through structlog, which this
package may not import: each entry point hands structlog's own processors in as an
:class:`Edge` (context variables, level, timestamp, exception formatting, logger name) and
:func:`chain` fixes what runs around them and in which order. Every line of either side
then carries ``event``, ``level``, ``timestamp`` and ``request_id`` (``"-"`` outside a
request), and :data:`redact` runs last, after exceptions are formatted, so a traceback is
masked like any other field. Standard-library records (aiohttp, asyncpg, SQLAlchemy) go
through :func:`foreign_pre_chain`, then :func:`foreign_chain`, with the same redaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

REDACTED = "[redacted]"

SECRET_FIELDS = frozenset(
    {
        "authorization",
        "body",
        "ciphertext",
        "content",
        "envelope",
        "form",
        "key",
        "message",
        "nonce",
        "passphrase",
        "password",
        "payload",
        "plaintext",
        "private_key",
        "secret",
        "seed",
        "sig",
        "signature",
        "signature_input",
        "token",
    }
)
"""The one list of field names whose values never reach a log, in the relay's or the node's
lines: what could hold a plaintext, a key, a passphrase, a signature or a token."""
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


redact = make_processor(SECRET_FIELDS)
"""The redaction processor of both the relay's and the node's logs."""


# -- the processor chain of both sides -------------------------------------------------


def default_request_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Give a line ``request_id="-"`` unless one is bound (by the HTTP layer, or a task)."""
    event_dict.setdefault("request_id", "-")
    return event_dict


@dataclass(frozen=True)
class Edge:
    """structlog's processors, supplied by the entry point that imports structlog.

    Attributes:
        merge_context: ``structlog.contextvars.merge_contextvars``.
        add_level: ``structlog.processors.add_log_level``.
        timestamp: ``structlog.processors.TimeStamper(fmt="iso", utc=True)``.
        format_exc_info: ``structlog.processors.format_exc_info``.
        add_logger_name: ``structlog.stdlib.add_logger_name`` (library records only).
        remove_meta: ``ProcessorFormatter.remove_processors_meta`` (library records only).
    """

    merge_context: Processor
    add_level: Processor
    timestamp: Processor
    format_exc_info: Processor
    add_logger_name: Processor
    remove_meta: Processor


def chain(edge: Edge) -> list[Processor]:
    """The processors of the side's own lines, before the renderer."""
    return [
        edge.merge_context,
        default_request_id,
        edge.add_level,
        edge.timestamp,
        edge.format_exc_info,
        redact,
    ]


def foreign_pre_chain(edge: Edge) -> list[Processor]:
    """What a standard-library record gets before it joins the chain."""
    return [default_request_id, edge.add_logger_name, edge.add_level, edge.timestamp]


def foreign_chain(edge: Edge) -> list[Processor]:
    """The processors of a standard-library record, before the renderer."""
    return [edge.remove_meta, edge.format_exc_info, redact]


__all__ = [
    "MIN_RUN",
    "REDACTED",
    "SECRET_FIELDS",
    "Edge",
    "Processor",
    "chain",
    "clean",
    "default_request_id",
    "foreign_chain",
    "foreign_pre_chain",
    "make_processor",
    "mask",
    "redact",
    "redact_event",
]

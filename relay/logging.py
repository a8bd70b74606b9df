"""Operator logs: structlog, JSON lines on stdout (pretty on a terminal).

Every line carries ``event`` (a dotted name such as ``envelope.accepted``), ``timestamp``,
``level`` and ``request_id`` (bound per request by the HTTP layer, or naming a background
task). :func:`redact` runs before rendering: it drops the value of any field whose name
says it holds a secret or content, and masks any long base64url run (a key, a signature, a
ciphertext) that slipped into another field: a run of 40 or more base64 characters mixing
upper case, lower case and digits. SHA-256 digests and ids (lower-case hex) pass.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SECRET_FIELDS = frozenset(
    {
        "authorization",
        "body",
        "ciphertext",
        "envelope",
        "key",
        "nonce",
        "passphrase",
        "payload",
        "private_key",
        "secret",
        "seed",
        "sig",
        "signature",
        "signature_input",
        "token",
    }
)
REDACTED = "[redacted]"
_B64_RUN = re.compile(r"[A-Za-z0-9_+/=-]{40,}")


def _looks_random(run: str) -> bool:
    return (
        any(c.isupper() for c in run)
        and any(c.islower() for c in run)
        and any(c.isdigit() for c in run)
    )


def _mask(text: str) -> str:
    return _B64_RUN.sub(lambda m: REDACTED if _looks_random(m.group(0)) else m.group(0), text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SECRET_FIELDS else _clean(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: remove secrets and content from a log event."""
    for key in list(event_dict):
        if key.lower() in SECRET_FIELDS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(event_dict[key])
    return event_dict


def _default_request_id(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    event_dict.setdefault("request_id", "-")
    return event_dict


def processors() -> list[Any]:
    """The shared processor chain, before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        _default_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


def configure_logging(
    *, stream: TextIO | None = None, pretty: bool | None = None, level: str = "info"
) -> None:
    """Configure structlog once per entry point.

    Args:
        stream: where lines go (standard output by default).
        pretty: human-readable output; by default when ``stream`` is a terminal.
        level: lowest level written.
    """
    out = stream or sys.stdout
    if pretty is None:
        pretty = out.isatty()
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if pretty
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[*processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries log through the standard library: keep their warnings, on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.ERROR)


def get_logger(name: str = "relay") -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)

"""Logging for the node: structlog, JSON lines (pretty on a terminal), dotted event names.

:func:`redact` runs before rendering and replaces the value of any key that could carry a
plaintext, a key, a passphrase, a signature or a token. Callers log metadata only (message
ids, parties, kinds, reasons); the redaction is the safety net.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "body",
        "content",
        "plaintext",
        "message",
        "form",
        "passphrase",
        "password",
        "secret",
        "seed",
        "private_key",
        "signature",
        "sig",
        "token",
        "authorization",
        "envelope",
        "ciphertext",
        "payload",
    }
)
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Replace values of sensitive keys (at any nesting of dicts) with ``[redacted]``."""
    for key in list(event_dict):
        if key == "event":
            continue
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(event_dict[key], dict):
            event_dict[key] = redact(None, "", dict(event_dict[key]))
    return event_dict


def configure_logging(
    *, level: str = "info", fmt: str = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog once per entry point.

    Args:
        level: debug, info, warning or error.
        fmt: ``json``, ``console`` or ``auto`` (console on a terminal, else JSON).
        stream: where lines go (stdout for the daemon, stderr for one-shot commands).
    """
    out = stream or sys.stdout
    pretty = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if pretty
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(**bind: Any) -> Any:
    """A bound logger (``structlog.get_logger().bind(**bind)``)."""
    return structlog.get_logger().bind(**bind)

"""Logging for the node: structlog, JSON lines (pretty on a terminal), dotted event names.

:func:`redact` runs before rendering and replaces the value of any key that could carry a
plaintext, a key, a passphrase, a signature or a token, and masks any long random-looking
base64 run in every other value (an exception message, a traceback). The field list
(:data:`keys.redaction.SECRET_FIELDS`) and the processor chain (:func:`keys.redaction.chain`)
are the relay's: a line is redacted alike on both sides, and carries ``request_id`` (``"-"``).
Callers log metadata only (message ids, parties, kinds, reasons); the redaction is the
safety net. Standard-library logging (aiohttp, sqlalchemy, asyncpg) goes through
structlog's ``ProcessorFormatter`` with the same redaction and renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import FilteringBoundLogger, Processor

from keys import redaction
from keys.redaction import REDACTED, SECRET_FIELDS, redact

Logger = FilteringBoundLogger
"""The node's logger type: what :func:`get_logger` returns (and what tests pass in)."""

EDGE = redaction.Edge(
    merge_context=structlog.contextvars.merge_contextvars,
    add_level=structlog.processors.add_log_level,
    timestamp=structlog.processors.TimeStamper(fmt="iso", utc=True),
    format_exc_info=structlog.processors.format_exc_info,
    add_logger_name=structlog.stdlib.add_logger_name,
    remove_meta=structlog.stdlib.ProcessorFormatter.remove_processors_meta,
)
"""structlog's pieces of the shared chain (:mod:`keys.redaction`)."""

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


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
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if pretty
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[*redaction.chain(EDGE), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(out, renderer)


class _StdlibHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` puts on the root logger (replaced, not added,
    when it is called again)."""


def _route_stdlib(out: TextIO, renderer: Processor) -> None:
    """Libraries' standard-library logging: warnings and above, redacted and rendered like
    the node's own lines."""
    handler = _StdlibHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=redaction.foreign_pre_chain(EDGE),
            processors=[*redaction.foreign_chain(EDGE), renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.ERROR)


def get_logger(**bind: Any) -> Logger:
    """A bound logger (``structlog.get_logger().bind(**bind)``)."""
    log: Logger = structlog.get_logger().bind(**bind)
    return log


__all__ = [
    "EDGE",
    "REDACTED",
    "SECRET_FIELDS",
    "Logger",
    "configure_logging",
    "get_logger",
    "redact",
]

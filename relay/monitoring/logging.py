"""Operator logs: structlog, JSON lines on stdout (pretty on a terminal).

Every line carries ``event`` (a dotted name such as ``envelope.accepted``), ``timestamp``,
``level`` and ``request_id`` (bound per request by the HTTP layer, or naming a background
task). :func:`redact` runs before rendering: it drops the value of any field whose name
says it holds a secret or content, and masks any long base64url run (a key, a signature, a
ciphertext) that slipped into another field: a run of 40 or more base64 characters mixing
upper case, lower case and digits. SHA-256 digests and ids (lower-case hex) pass. The
field list, the masking and the order of the chain live in :mod:`keys.redaction`, shared
with the node: both sides' lines are redacted alike.

Standard-library logging (aiohttp, asyncpg, sqlalchemy, alembic) goes through structlog's
``ProcessorFormatter`` with the same redaction and renderer, so an exception message or a
traceback from a library is masked like any other line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TextIO

import structlog
from structlog.typing import FilteringBoundLogger, Processor

from keys import redaction
from keys.redaction import REDACTED, SECRET_FIELDS, redact

EDGE = redaction.Edge(
    merge_context=structlog.contextvars.merge_contextvars,
    add_level=structlog.processors.add_log_level,
    timestamp=structlog.processors.TimeStamper(fmt="iso", utc=True),
    format_exc_info=structlog.processors.format_exc_info,
    add_logger_name=structlog.stdlib.add_logger_name,
    remove_meta=structlog.stdlib.ProcessorFormatter.remove_processors_meta,
)
"""structlog's pieces of the shared chain (:mod:`keys.redaction`)."""


def processors() -> Sequence[Processor]:
    """The shared processor chain, before rendering (:func:`keys.redaction.chain`)."""
    return redaction.chain(EDGE)


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
    renderer: Processor = (
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
    _route_stdlib(out, renderer)


class _StdlibHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` puts on the root logger (replaced, not added,
    when it is called again)."""


def _route_stdlib(out: TextIO, renderer: Processor) -> None:
    """Third-party libraries log through the standard library: keep their warnings, rendered
    and redacted like the relay's own lines."""
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


def get_logger(name: str = "relay") -> FilteringBoundLogger:
    """A structlog logger."""
    log: FilteringBoundLogger = structlog.get_logger(name)
    return log


__all__ = [
    "REDACTED",
    "SECRET_FIELDS",
    "configure_logging",
    "get_logger",
    "processors",
    "redact",
]

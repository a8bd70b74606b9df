"""What operators see of a running relay: structured logs and Prometheus metrics.

Owns ``configure_logging`` (structlog, JSON lines, redaction) and the relay's metrics
registry. May import :mod:`keys` (the redaction rules), structlog and prometheus_client;
nothing else of :mod:`relay`.
"""

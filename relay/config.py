"""The relay's configuration: one frozen dataclass, read once from ``relay.toml``.

Every limit has a name, a default and a line of help here, and nowhere else:
:func:`default_toml` writes the file ``relay init`` creates from these same fields, and
:func:`load` refuses a key it does not know (a typo must not silently fall back to a
default). Environment variables ``POCNET_RELAY_<FIELD>`` (upper case) override the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from keys.auditlog.checkpoint import origin_for
from keys.envelope.attachments import MAX_CHUNK_BLOB
from keys.errors import ConfigError, ValidationError
from keys.limits import ProtocolLimits

CONFIG_NAME = "relay.toml"
ENV_PREFIX = "POCNET_RELAY_"
SECTIONS = ("server", "database", "limits", "delivery", "audit")
PRIORITY_DELAYS = ("overdue_emergency_seconds", "overdue_urgent_seconds", "overdue_routine_seconds")


def _opt(section: str, default: Any, help: str) -> Any:
    return field(default=default, metadata={"section": section, "help": help})


@dataclass(frozen=True)
class RelayConfig:
    """Every setting of a relay process. Durations are in seconds."""

    host: str = _opt("server", "127.0.0.1", "address to listen on")
    port: int = _opt("server", 8470, "TCP port to listen on")
    tls_cert: str = _opt("server", "", "PEM certificate file; empty: plain HTTP (TLS in front)")
    tls_key: str = _opt("server", "", "PEM private key file for tls_cert")
    shutdown_timeout_seconds: float = _opt(
        "server", 15.0, "on SIGTERM, how long in-flight requests may take to finish"
    )
    trust_request_id: bool = _opt(
        "server", False, "take X-Request-Id from a trusted reverse proxy instead of making one"
    )
    event_loop: str = _opt(
        "server",
        "auto",
        "auto (uvloop when installed, else asyncio), asyncio (the standard library's) or "
        "uvloop (the 'uvloop' extra; refuse to start without it)",
    )
    directory_check_seconds: float = _opt(
        "server",
        2.0,
        "how often a running relay looks for a newly installed directory (PostgreSQL "
        "relays also hear of it at once; SIGHUP checks at once)",
    )
    header_timeout_seconds: float = _opt(
        "server",
        10.0,
        "a new connection must send complete request headers within this (else closed)",
    )
    body_timeout_seconds: float = _opt(
        "server", 60.0, "a request body must arrive within this (else 408, closed)"
    )
    keepalive_timeout_seconds: float = _opt(
        "server",
        75.0,
        "an idle keep-alive connection (partial headers included) is closed after this",
    )
    max_connections_per_address: int = _opt(
        "server",
        64,
        "open connections allowed from one client address (0: no cap; behind a proxy, "
        "the proxy is one address: size it for the proxy)",
    )
    retry_after_seconds: int = _opt(
        "server", 5, "Retry-After of a 503 answer (the database or the store is unavailable)"
    )
    workers: int = _opt(
        "server",
        1,
        "relay processes serving the port together (SO_REUSEPORT) under one supervisor "
        "that restarts a dead one; more than 1 needs PostgreSQL",
    )
    ready_min_free_bytes: int = _opt(
        "server",
        64 * 1024 * 1024,
        "/readyz answers 503 when the SQLite database's disk has less free space than this",
    )
    ready_probe_seconds: float = _opt(
        "server", 2.0, "/readyz repeats its database write probe at most this often"
    )
    ready_timeout_seconds: float = _opt(
        "server", 5.0, "/readyz answers 503 when its database checks take longer than this"
    )

    database_url: str = _opt(
        "database",
        "",
        "empty: SQLite file relay.db in the data folder; else a URL such as "
        "postgresql+asyncpg://user@host/db",
    )
    sqlite_synchronous: str = _opt(
        "database",
        "FULL",
        "SQLite synchronous pragma: FULL (survives power loss) or NORMAL "
        "(survives a process crash; a power cut may lose the last commits)",
    )
    pool_size: int = _opt("database", 10, "database connections kept open (reads and the writer)")
    group_commit_max: int = _opt("database", 256, "most write operations committed together")
    leader_check_seconds: float = _opt(
        "database",
        2.0,
        "PostgreSQL: how often a relay process tries to become the leader (the one that "
        "signs checkpoints and handles deadlines), and the leader checks that it still is",
    )

    max_envelope_bytes: int = _opt("limits", 2 * 1024 * 1024, "largest envelope accepted")
    max_request_bytes: int = _opt("limits", 64 * 1024, "largest body of any other request")
    max_json_depth: int = _opt("limits", 16, "deepest JSON nesting accepted")
    max_field_chars: int = _opt("limits", 256, "longest string in a header or receipt field")
    clock_skew_seconds: float = _opt("limits", 300.0, "how far ahead created_at may be")
    max_lifetime_seconds: float = _opt(
        "limits", 90 * 86400.0, "longest expires_at - created_at accepted"
    )
    replay_window_seconds: float = _opt(
        "limits", 300.0, "request signatures older or newer than this are refused"
    )
    nonce_cache_size: int = _opt(
        "limits", 200_000, "nonces remembered within the replay window (full: refuse, 503)"
    )
    rate_per_second: float = _opt("limits", 20.0, "sustained requests per second per node")
    rate_burst: float = _opt("limits", 100.0, "requests a node may make in a burst")
    longpoll_max_seconds: float = _opt("limits", 30.0, "longest wait of GET /v1/inbox")
    inbox_max_items: int = _opt("limits", 100, "most items in one inbox answer")
    inbox_max_bytes: int = _opt(
        "limits", 8 * 1024 * 1024, "answer size after which an inbox answer stops adding items"
    )
    ack_max_ids: int = _opt("limits", 100, "most ids in one POST /v1/inbox/ack")
    attachment_max_file_bytes: int = _opt(
        "limits", 2 * 1024**3, "largest sealed attachment (its encrypted size) accepted"
    )
    attachment_max_message_bytes: int = _opt(
        "limits", 2 * 1024**3, "largest total of the attachments of one message"
    )
    attachment_quota_bytes: int = _opt(
        "limits",
        8 * 1024**3,
        "attachment bytes one party may have stored at the relay (pending and accepted, "
        "until retention purges them)",
    )
    attachment_max_chunk_bytes: int = _opt(
        "limits", MAX_CHUNK_BLOB, "largest attachment chunk accepted in one request"
    )
    attachment_pending_seconds: float = _opt(
        "delivery",
        7 * 86400.0,
        "uploaded attachment chunks that no accepted envelope claims are deleted after this",
    )

    overdue_emergency_seconds: float = _opt(
        "delivery", 300.0, "an undelivered emergency envelope is OVERDUE after this"
    )
    overdue_urgent_seconds: float = _opt(
        "delivery", 1800.0, "an undelivered urgent envelope is OVERDUE after this"
    )
    overdue_routine_seconds: float = _opt(
        "delivery", 86400.0, "an undelivered routine envelope is OVERDUE after this"
    )
    retention_seconds: float = _opt(
        "delivery", 30 * 86400.0, "envelope bytes kept after delivery or expiry, then purged"
    )
    deadline_batch: int = _opt("delivery", 500, "most deadlines handled in one transaction")

    network: str = _opt(
        "audit",
        "pocnet",
        "this network's name (a-z 0-9 . -): the audit log's origin is pocnet.relay/<network>, "
        "and every node must be configured with the same",
    )
    checkpoint_interval_seconds: float = _opt(
        "audit", 1.0, "sign a checkpoint of the grown audit log at most this often"
    )
    checkpoint_refresh_seconds: float = _opt(
        "audit",
        300.0,
        "re-sign an unchanged log after this long, so nodes see a fresh checkpoint "
        "(keep it below the nodes' maximum checkpoint age)",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"{f.name} must be true or false")
            elif isinstance(f.default, int | float) and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ConfigError(f"{f.name} must be a non-negative number")
            elif isinstance(f.default, str) and not isinstance(value, str):
                raise ConfigError(f"{f.name} must be a string")
        if self.event_loop not in ("auto", "asyncio", "uvloop"):
            raise ConfigError("event_loop must be auto, asyncio or uvloop")
        if self.sqlite_synchronous not in ("FULL", "NORMAL"):
            raise ConfigError("sqlite_synchronous must be FULL or NORMAL")
        if not 0 < self.port < 65536:
            raise ConfigError("port must be between 1 and 65535")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key go together")
        for name in (
            "group_commit_max",
            "inbox_max_items",
            "ack_max_ids",
            "deadline_batch",
            "workers",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.directory_check_seconds <= 0 or self.leader_check_seconds <= 0:
            raise ConfigError("directory_check_seconds and leader_check_seconds must be positive")
        if self.rate_per_second <= 0 or self.rate_burst < 1:
            raise ConfigError("rate_per_second must be positive and rate_burst at least 1")
        try:
            origin_for(self.network)
        except ValidationError as e:
            raise ConfigError(f"network: {e.message}") from e
        if self.checkpoint_refresh_seconds < 1:
            raise ConfigError("checkpoint_refresh_seconds must be at least 1")

    @property
    def audit_origin(self) -> str:
        """The audit log's origin (checkpoint first line and key name)."""
        return origin_for(self.network)

    @property
    def protocol_limits(self) -> ProtocolLimits:
        """The envelope limits of :mod:`keys.limits` built from this configuration."""
        return ProtocolLimits(
            max_envelope_bytes=self.max_envelope_bytes,
            max_depth=self.max_json_depth,
            max_field_chars=self.max_field_chars,
            clock_skew=timedelta(seconds=self.clock_skew_seconds),
            max_lifetime=timedelta(seconds=self.max_lifetime_seconds),
        )

    def overdue_after(self, priority: str) -> timedelta:
        """How long an envelope of ``priority`` may wait undelivered before OVERDUE."""
        return timedelta(seconds=float(getattr(self, f"overdue_{priority}_seconds")))


def _coerce(name: str, default: Any, raw: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as e:
        raise ConfigError(f"environment value for {name} is not a {type(default).__name__}") from e
    return raw


def from_mapping(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> RelayConfig:
    """Build a configuration from a parsed TOML document and the environment.

    Raises:
        ConfigError: an unknown section or key, or a bad value.
    """
    by_name = {f.name: f for f in fields(RelayConfig)}
    values: dict[str, Any] = {}
    for section, body in doc.items():
        if section not in SECTIONS or not isinstance(body, dict):
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(SECTIONS)})")
        for key, value in body.items():
            f = by_name.get(key)
            if f is None or f.metadata["section"] != section:
                raise ConfigError(f"unknown setting {key!r} in [{section}]")
            if isinstance(f.default, float) and type(value) is int:
                value = float(value)
            values[key] = value
    for name, f in by_name.items():
        raw = (env or {}).get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, f.default, raw)
    try:
        return RelayConfig(**values)
    except TypeError as e:
        raise ConfigError(f"invalid configuration: {e}") from e


def load(path: Path | None, env: Mapping[str, str] | None = None) -> RelayConfig:
    """Read ``path`` (None: defaults only) and apply environment overrides.

    Raises:
        ConfigError: the file cannot be read or parsed, or a value is invalid.
    """
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read the configuration {path}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from e
    return from_mapping(doc, env)


def with_overrides(config: RelayConfig, **changes: Any) -> RelayConfig:
    """A copy with command-line overrides (``None`` values are ignored)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def default_toml() -> str:
    """The text of a ``relay.toml`` listing every setting with its default and help."""
    lines = [
        "# PoCNet relay configuration. Every setting is listed with its default.",
        f"# Environment variables {ENV_PREFIX}<NAME> override these values.",
    ]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for f in fields(RelayConfig):
            if f.metadata["section"] != section:
                continue
            assert f.default is not MISSING
            lines.append(f"# {f.metadata['help']}")
            lines.append(f"{f.name} = {_toml_value(f.default)}")
    return "\n".join(lines) + "\n"

"""The node's configuration: ``node.toml`` in the data folder, as frozen dataclasses.

Every setting has a name, a default and a one-line help (the field's metadata); ``node
init`` writes them all out (:func:`render`), and :func:`load` refuses unknown keys and wrong
types with a message naming the key. Environment variables override the file's relay
addresses: ``POCNET_NODE_RELAY_URLS`` (several, separated by commas) or
``POCNET_NODE_RELAY_URL`` (one).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from keys.auditlog.checkpoint import origin_for
from keys.errors import ConfigError, ValidationError
from keys.identities import validate_party_id

CONFIG_NAME = "node.toml"
ENV_RELAY_URL = "POCNET_NODE_RELAY_URL"
ENV_RELAY_URLS = "POCNET_NODE_RELAY_URLS"
MAX_RELAY_URLS = 8
AUTHORITY_KEYS = ("organisation", "officer", "phone", "email", "office_hours", "time_zone")


def _s(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class KeystoreSettings:
    """Where the private keys are and how an unattended daemon unlocks them."""

    path: str = _s("keys/keystore.json", "keystore file, relative to the data folder")
    passphrase_file: str = _s("", "file holding the passphrase, for an unattended daemon")
    passphrase_env: str = _s("", "environment variable holding the passphrase")


@dataclass(frozen=True)
class RelaySettings:
    """How to reach the relay."""

    url: str = _s("http://127.0.0.1:8470", "relay base URL (https:// in production)")
    urls: tuple[str, ...] = _s(
        (),
        "several relays of one network, tried in this order, sticking to the one that "
        "answers (empty: only url)",
    )
    request_timeout: float = _s(15.0, "seconds before a request to the relay is abandoned")
    long_poll_wait: int = _s(30, "seconds the relay may hold an inbox request open")
    inbox_batch: int = _s(100, "most inbox items fetched at once")
    ca_file: str = _s("", "CA bundle to verify the relay's TLS certificate (empty: system)")
    directory_refresh: int = _s(600, "seconds between fetches of the signed directory")
    reconnect_base: float = _s(0.5, "first delay before reconnecting to the relay, in seconds")
    reconnect_max: float = _s(30.0, "longest delay between reconnection attempts, in seconds")

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The relay URLs to use, in order: ``urls`` if given, else ``url`` alone."""
        return self.urls or (self.url,)


@dataclass(frozen=True)
class OutboxSettings:
    """Retries of what could not be delivered to the relay yet."""

    retry_base: float = _s(1.0, "first retry delay in seconds (doubles each time, jittered)")
    retry_max: float = _s(300.0, "longest delay between two retries (routine; caps all), in s")
    retry_max_urgent: float = _s(30.0, "longest delay between two retries of an urgent message")
    retry_max_emergency: float = _s(5.0, "longest delay between two retries of an emergency")
    probe_interval: float = _s(
        1.0, "while an emergency or urgent message waits for the relay, seconds between probes"
    )
    scan_interval: float = _s(5.0, "seconds between looks for work queued by 'node send'")
    send_grace_seconds: float = _s(
        10.0, "seconds the daemon leaves a message to the 'node send' that queued it"
    )
    ttl_days: int = _s(30, "days before an undelivered request expires (at most 90)")


@dataclass(frozen=True)
class AlertSettings:
    """Telling the duty officer what needs attention now."""

    hook: str = _s("", "command run for each alert; gets the alert as JSON on stdin")
    hook_timeout: float = _s(10.0, "seconds before the hook command is killed")
    include_content: bool = _s(False, "put the request's content in the alert JSON")
    ack_deadline_urgent: int = _s(60, "minutes to wait for ACKNOWLEDGED of an urgent request")
    ack_deadline_emergency: int = _s(15, "minutes to wait for ACKNOWLEDGED of an emergency")
    preservation_warn_days: int = _s(14, "warn this many days before a preservation ends")
    watch_interval: float = _s(60.0, "seconds between checks of deadlines and expiries")
    remind_every_emergency: float = _s(
        5.0, "minutes between reminders of an unacknowledged incoming emergency"
    )
    remind_every_urgent: float = _s(
        30.0, "minutes between reminders of an unacknowledged incoming urgent request"
    )
    relay_unreachable_after: float = _s(
        120.0, "seconds of relay failures before the relay_unreachable alert"
    )
    relay_unreachable_repeat: float = _s(
        900.0, "seconds between relay_unreachable alerts while the relay stays unreachable"
    )


@dataclass(frozen=True)
class LimitSettings:
    """Sizes and times accepted."""

    max_form_bytes: int = _s(262144, "largest form file read")
    clock_skew: int = _s(300, "seconds a peer's clock may be ahead of ours")


@dataclass(frozen=True)
class LogSettings:
    """Logs: JSON lines on stdout (pretty on a terminal)."""

    level: str = _s("info", "debug, info, warning or error")
    format: str = _s("auto", "auto, json or console")


@dataclass(frozen=True)
class PeerSettings:
    """Development mode only (no root pinned): a known party's key changes in bundles."""

    on_key_change: str = _s("warn", "warn (accept, loudly) or refuse (keep the pinned key)")


@dataclass(frozen=True)
class AuditSettings:
    """Checking the relay's audit log (signed checkpoints, inclusion of our receipts)."""

    network: str = _s("pocnet", "the network's name: the relay's log is pocnet.relay/<network>")
    check_interval: float = _s(60.0, "seconds between fetches of the relay's latest checkpoint")
    max_checkpoint_age: int = _s(900, "seconds after which a relay checkpoint is stale")
    batch: int = _s(50, "most messages whose receipts are checked in one pass")


@dataclass(frozen=True)
class StatisticsSettings:
    """The monthly statistics report to the secretariat (ADR 0011)."""

    secretariat: str = _s("", "the secretariat's party; empty: the daemon sends no report")
    send_day: int = _s(1, "day of the month (1-28) from which last month's report is sent")


@dataclass(frozen=True)
class ConsoleSettings:
    """The duty officers' web console ('node console', or 'node run' when enabled)."""

    enabled: bool = _s(False, "serve the web console from 'node run' as well")
    host: str = _s("127.0.0.1", "address it listens on (another than loopback needs TLS)")
    port: int = _s(8471, "port it listens on")
    tls_cert: str = _s("", "TLS certificate (PEM), relative to the data folder")
    tls_key: str = _s("", "TLS private key (PEM), relative to the data folder")
    insecure_bind: bool = _s(False, "allow a non-loopback address without TLS (proxy in front)")
    idle_minutes: int = _s(15, "minutes without a request before a session ends")
    login_failures: int = _s(5, "failed logins per name or address before a 5-minute wait")


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics of 'node run': directory expiry, outbox, relay reachable, last poll."""

    enabled: bool = _s(False, "serve Prometheus text at http://HOST:PORT/metrics from 'node run'")
    host: str = _s("127.0.0.1", "address it listens on (loopback unless allow_remote)")
    port: int = _s(9471, "port it listens on")
    allow_remote: bool = _s(False, "allow another address than loopback (no authentication)")
    refresh_seconds: float = _s(15.0, "how often the figures read from the store are renewed")


SECTIONS: dict[str, type] = {
    "keystore": KeystoreSettings,
    "relay": RelaySettings,
    "outbox": OutboxSettings,
    "alerts": AlertSettings,
    "limits": LimitSettings,
    "log": LogSettings,
    "peers": PeerSettings,
    "audit": AuditSettings,
    "statistics": StatisticsSettings,
    "console": ConsoleSettings,
    "metrics": MetricsSettings,
}


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node needs to know, loaded once at the entry point."""

    party: str
    data_dir: Path
    language: str = "en"
    keystore: KeystoreSettings = field(default_factory=KeystoreSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    log: LogSettings = field(default_factory=LogSettings)
    peers: PeerSettings = field(default_factory=PeerSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    statistics: StatisticsSettings = field(default_factory=StatisticsSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    authority: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    contacts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / self.keystore.path

    @property
    def database_path(self) -> Path:
        return self.data_dir / "node.db"

    @property
    def bundle_path(self) -> Path:
        return self.keystore_path.parent / "bundle.json"


def _check_type(where: str, value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, not {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{where} must be a {type(default).__name__}, not {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"{where} must not be negative")
    return value


def _section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{name}]: {', '.join(unknown)}")
    values = {k: _check_type(f"{name}.{k}", v, known[k].default) for k, v in raw.items()}
    return cls(**values)


def _string_table(name: str, raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError(f"[{name}] must be a table of strings")
    return MappingProxyType({str(k): v for k, v in raw.items() if v})


def _relay_from_env(relay: RelaySettings, env: Mapping[str, str]) -> RelaySettings:
    """``relay`` with the environment's addresses, if any (several win over one)."""
    if env.get(ENV_RELAY_URLS):
        urls = tuple(u.strip() for u in env[ENV_RELAY_URLS].split(",") if u.strip())
        return dataclasses.replace(relay, urls=urls)
    if env.get(ENV_RELAY_URL):
        return dataclasses.replace(relay, url=env[ENV_RELAY_URL], urls=())
    return relay


def _check_relay_urls(relay: RelaySettings) -> None:
    name = "relay.urls" if relay.urls else "relay.url"
    if len(relay.endpoints) > MAX_RELAY_URLS:
        raise ConfigError(f"relay.urls lists more than {MAX_RELAY_URLS} relays")
    if len(set(relay.endpoints)) != len(relay.endpoints):
        raise ConfigError("relay.urls names one relay twice")
    for url in relay.endpoints:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name} must start with http:// or https://, not {url!r}")


def parse(
    doc: Mapping[str, Any], data_dir: Path, env: Mapping[str, str] | None = None
) -> NodeConfig:
    """Build a :class:`NodeConfig` from a parsed TOML document.

    Raises:
        ConfigError: a missing, unknown or invalid setting (named in the message).
    """
    env = os.environ if env is None else env
    top_known = {"party", "language", "authority", "contacts", *SECTIONS}
    unknown = sorted(set(doc) - top_known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {CONFIG_NAME}: {', '.join(unknown)}")
    try:
        party = validate_party_id(doc.get("party"))
    except ValidationError as e:
        raise ConfigError(f"party: {e.message}") from e
    sections = {name: _section(name, cls, doc.get(name, {})) for name, cls in SECTIONS.items()}
    sections["relay"] = _relay_from_env(sections["relay"], env)
    _check_relay_urls(sections["relay"])
    if sections["log"].level not in ("debug", "info", "warning", "error"):
        raise ConfigError("log.level must be debug, info, warning or error")
    if sections["log"].format not in ("auto", "json", "console"):
        raise ConfigError("log.format must be auto, json or console")
    if sections["peers"].on_key_change not in ("warn", "refuse"):
        raise ConfigError("peers.on_key_change must be 'warn' or 'refuse'")
    if not 1 <= sections["outbox"].ttl_days <= 90:
        raise ConfigError("outbox.ttl_days must be between 1 and 90")
    outbox = sections["outbox"]
    for name in ("retry_base", "retry_max", "retry_max_urgent", "retry_max_emergency"):
        if not 0 < getattr(outbox, name) <= 86400:
            raise ConfigError(f"outbox.{name} must be more than 0 and at most 86400 seconds")
    if not 0.05 <= outbox.probe_interval <= 3600:
        raise ConfigError("outbox.probe_interval must be between 0.05 and 3600 seconds")
    if not 0 <= sections["outbox"].send_grace_seconds <= 3600:
        raise ConfigError("outbox.send_grace_seconds must be between 0 and 3600")
    try:
        origin_for(sections["audit"].network)
    except ValidationError as e:
        raise ConfigError(f"audit.network: {e.message}") from e
    if sections["audit"].batch < 1 or sections["audit"].check_interval <= 0:
        raise ConfigError("audit.batch must be at least 1 and audit.check_interval positive")
    stats = sections["statistics"]
    if not 1 <= stats.send_day <= 28:
        raise ConfigError("statistics.send_day must be between 1 and 28")
    if stats.secretariat:
        try:
            validate_party_id(stats.secretariat)
        except ValidationError as e:
            raise ConfigError(f"statistics.secretariat: {e.message}") from e
    if not 1 <= sections["console"].port <= 65535 or sections["console"].idle_minutes < 1:
        raise ConfigError("console.port must be 1-65535 and console.idle_minutes at least 1")
    if bool(sections["console"].tls_cert) != bool(sections["console"].tls_key):
        raise ConfigError("console.tls_cert and console.tls_key go together")
    _check_metrics(sections["metrics"])
    contacts = _string_table("contacts", doc.get("contacts", {}))
    for key in contacts:
        validate_party_id(key)
    language = doc.get("language", "en")
    if not isinstance(language, str):
        raise ConfigError("language must be a string such as en")
    return NodeConfig(
        party=party,
        data_dir=data_dir,
        language=language,
        authority=_string_table("authority", doc.get("authority", {})),
        contacts=contacts,
        **sections,
    )


def _check_metrics(metrics: MetricsSettings) -> None:
    if not 1 <= metrics.port <= 65535 or not 1 <= metrics.refresh_seconds <= 3600:
        raise ConfigError("metrics.port must be 1-65535, metrics.refresh_seconds 1-3600")
    if metrics.allow_remote:
        return
    try:
        loopback = metrics.host == "localhost" or ipaddress.ip_address(metrics.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"metrics.host {metrics.host!r} is not a loopback address: /metrics has no "
            "authentication; set metrics.allow_remote = true to serve it there anyway"
        )


def load(data_dir: Path, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read ``DATA/node.toml``.

    Raises:
        ConfigError: missing, unreadable or invalid.
    """
    path = data_dir / CONFIG_NAME
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(
            f"no {CONFIG_NAME} in {data_dir}: create a node with 'node init', or give "
            "--data DIR (or set POCNET_NODE_DATA)",
            code="not_initialised",
        ) from e
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    return parse(doc, data_dir.resolve(), env)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def render(party: str, relay_url: str, *, language: str = "en") -> str:
    """The text of a new ``node.toml``: every setting with its default and a comment."""
    lines = [
        "# PoCNet node configuration. Every setting is listed with its default.",
        "# Paths are relative to this folder.",
        "",
        f"party = {_toml_value(party)}",
        "# default language of requests (BCP 47)",
        f"language = {_toml_value(language)}",
    ]
    for name, cls in SECTIONS.items():
        lines += ["", f"[{name}]", f"# {cls.__doc__}"]
        for f in dataclasses.fields(cls):
            value = relay_url if (name, f.name) == ("relay", "url") else f.default
            lines.append(f"# {f.metadata['help']}")
            lines.append(f"{f.name} = {_toml_value(value)}")
    lines += [
        "",
        "[authority]",
        "# Defaults for every form's requesting_authority (filled in when a form leaves them out).",
        *[f"{key} = {_toml_value('')}" for key in AUTHORITY_KEYS],
        "",
        "[contacts]",
        "# 24/7 phone numbers of other points of contact, named when a request is not",
        "# acknowledged in time, for parties the signed directory does not list, e.g.",
        '# DE = "+49 30 1234 5678"',
        "",
    ]
    return "\n".join(lines)

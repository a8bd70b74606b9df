"""Configuration errors are not outages: which relay failures this installation must fix.

A relay that does not answer (refused, reset, timeout, 5xx) is an outage: the work is kept
and retried. But a relay host that does not resolve, a TLS handshake that fails, a 404
from a path every relay serves, or a 401/403 for this node's own key will not heal by
waiting: they are :class:`RelayConfigError` (exit 8), each naming the setting to fix. The
outbox still keeps the message queued, so it goes out once the setting is fixed.
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
from yarl import URL

from keys.errors import ConfigError

RELAY_CONFIG_CODES = ("relay_dns", "relay_tls", "relay_path", "relay_refused_key")


class RelayConfigError(ConfigError):
    """The relay cannot be used as configured; ``setting`` names what to fix."""

    def __init__(self, message: str, *, code: str, setting: str) -> None:
        super().__init__(message, code=code)
        self.setting = setting


def _is_dns(error: BaseException) -> bool:
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return True
    os_error = getattr(error, "os_error", None)
    return isinstance(os_error, socket.gaierror)


def _is_tls(error: BaseException) -> bool:
    return isinstance(error, aiohttp.ClientSSLError | ssl.SSLError)


def connection_error(error: BaseException, base: str) -> RelayConfigError | None:
    """The configuration error behind a failed connection, or None for an outage."""
    host = URL(base).host or base
    if _is_dns(error):
        return RelayConfigError(
            f"the relay host {host!r} does not resolve (DNS): check relay.url in node.toml "
            "(or POCNET_NODE_RELAY_URL)",
            code="relay_dns",
            setting="relay.url",
        )
    if _is_tls(error):
        reason = type(error).__name__
        return RelayConfigError(
            f"the TLS connection to the relay at {base} failed ({reason}): check that "
            "relay.url names the relay's host (https://) and relay.ca_file its CA bundle",
            code="relay_tls",
            setting="relay.ca_file",
        )
    return None


def wrong_path(base: str, path: str) -> RelayConfigError:
    """A 404 from a path that every relay serves: the base URL is wrong."""
    return RelayConfigError(
        f"{base} answered 404 for {path.split('?')[0]}, which every relay serves: relay.url "
        "is not the relay's base URL (check its path in node.toml)",
        code="relay_path",
        setting="relay.url",
    )


def refused_key(status: int, message: str, party: str) -> RelayConfigError:
    """A 401/403 for this node's own signed request."""
    return RelayConfigError(
        f"the relay refused this node's key ({status}: {message[:120]}): check 'party' "
        f"({party}) and the keystore in node.toml, that the relay operator added this "
        "node's keys/bundle.json, and this machine's clock",
        code="relay_refused_key",
        setting="party / keystore.path",
    )

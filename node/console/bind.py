"""Where the console may listen: loopback freely; any other address only with TLS
settings, or with an explicit ``--insecure-bind`` (a TLS proxy in front), and said so."""

from __future__ import annotations

import ipaddress

from keys.errors import ValidationError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, tls: bool, insecure: bool) -> str | None:
    """None when the bind is safe; a warning to print when it is allowed but exposed.

    Raises:
        ValidationError: a non-loopback address without TLS and without ``--insecure-bind``.
    """
    if is_loopback(host) or tls:
        return None
    if insecure:
        return (
            f"WARNING: the console listens on {host} without TLS (--insecure-bind): "
            "passwords and requests cross the network in clear unless a TLS proxy is in front"
        )
    raise ValidationError(
        f"refusing to serve the console on {host} without TLS: give [console] tls_cert and "
        "tls_key (or --tls-cert/--tls-key), bind to 127.0.0.1, or pass --insecure-bind if "
        "a TLS proxy terminates the connections",
        code="insecure_bind",
    )

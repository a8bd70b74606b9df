"""``node run`` with ``[console] enabled = true`` serves the web console too (a real relay
and daemon on loopback, plain HTTP requests)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.nodeproc import LocalNetwork
from tests.support.processes import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def status_of(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def test_the_daemon_serves_the_console_when_enabled(tmp_path: Path) -> None:
    port = free_port()
    net = LocalNetwork.create(
        tmp_path, ["DE"], options={"console": {"enabled": True, "port": port}}
    )
    with net.running("DE"):
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: "console of DE" in net["DE"].output(), 20, "the console line")
        code, body, headers = status_of(base + "/login")
        assert code == 200 and 'name="password"' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        code, body, _ = status_of(base + "/")
        assert code == 401 and "Log in" in body


def test_a_public_address_without_tls_is_refused(tmp_path: Path) -> None:
    net = LocalNetwork.create(
        tmp_path, ["DE"], options={"console": {"enabled": True, "host": "0.0.0.0"}}
    )
    with net.running():
        result = net["DE"].cli("console", "--port", str(free_port()), timeout=60)
    assert result.returncode != 0
    assert "refusing to serve the console on 0.0.0.0 without TLS" in result.stderr

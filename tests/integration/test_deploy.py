"""The deployment kit runs: the image's entry point on an empty volume (``setup``: relay init
and db upgrade; ``serve``; any other relay command), as the container would run it, in a
plain subprocess on SQLite and PostgreSQL; Caddy terminating TLS in front of a real relay
(``deploy/compose/Caddyfile``); the systemd units through ``systemd-analyze verify``; the
compose file's structure; and the image itself when a container engine works. Each tool
that is not installed skips its test and says which."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from relay.storage.database import head_revision
from tests.integration.relaykit import make_member
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENTRYPOINT = DEPLOY / "relay-entrypoint.sh"
BIN = Path(sys.executable).parent  # where this checkout's relay and node commands are
BOUND = 60.0


def container_env(volume: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment the image gives the entry point (deploy/Containerfile, compose.yaml)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCNET_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", POCNET_RELAY_DATA=str(volume))
    env.update(POCNET_RELAY_HOST="127.0.0.1")  # the image says 0.0.0.0; a test stays local
    if database_url:
        env["POCNET_RELAY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def entrypoint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _get(url: str, context: ssl.SSLContext | None = None) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def test_entrypoint_setup_on_an_empty_volume_then_serve(
    tmp_path: Path, process_database_url: str | None
) -> None:
    volume = tmp_path / "data"
    volume.mkdir()  # an empty volume, as a new container gets it
    secret = tmp_path / "relay-passphrase"
    secret.write_text("a long passphrase for the container\n")
    secret.chmod(0o600)
    port = free_port()
    env = container_env(
        volume,
        process_database_url,
        POCNET_RELAY_PASSPHRASE_FILE=str(secret),
        POCNET_RELAY_PORT=str(port),
    )
    # Neither a passphrase file nor an explicit choice of an unencrypted key: refused.
    bare = {k: v for k, v in env.items() if k != "POCNET_RELAY_PASSPHRASE_FILE"}
    refused = entrypoint("setup", env=bare)
    assert refused.returncode == 8 and "POCNET_RELAY_PASSPHRASE_FILE" in refused.stderr
    assert not (volume / "keystore.json").exists()

    first = entrypoint("setup", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "relay initialised in" in first.stdout and f"-> {head_revision()}" in first.stdout
    assert (volume / "keystore.json").stat().st_mode & 0o777 == 0o600
    again = entrypoint("setup", env=env)  # a restarted setup container changes nothing
    assert again.returncode == 0 and "not initialised again" in again.stdout, again.stderr
    assert f"{head_revision()} -> {head_revision()}" in again.stdout

    serve = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz") == 200, BOUND, "/readyz 200")
        status = entrypoint("status", "--url", f"http://127.0.0.1:{port}", "--json", env=env)
        doc = json.loads(status.stdout)
        assert status.returncode == 0 and doc["ok"], doc
        assert doc["database"]["schema"] == head_revision() and doc["relay"]["answering"]
        serve.send_signal(signal.SIGTERM)  # exec'd: the relay itself gets the stop signal
        out, _ = serve.communicate(timeout=BOUND)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate(timeout=BOUND)
    assert serve.returncode == 0, out
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert "relay.listening" in events and events[-1] == "relay.stopped"
    assert "keystore.unencrypted" not in events


# -- TLS: Caddy in front of a real relay -------------------------------------------------

CADDY = shutil.which("caddy")


def _caddyfile(tmp: Path) -> Path:
    """deploy/compose/Caddyfile's site as written, behind global options for a test:
    no admin endpoint, no HTTP redirect listener on port 80, state in ``tmp``."""
    site = (DEPLOY / "compose" / "Caddyfile").read_text()
    options = (
        "{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n"
        f"\tstorage file_system {tmp / 'caddy-state'}\n}}\n"
    )
    path = tmp / "Caddyfile"
    path.write_text(options + site)
    return path


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed (apt-get install caddy)")
@pytest.mark.parametrize("config", ["compose/Caddyfile", "Caddyfile"])
def test_caddy_accepts_the_configurations(tmp_path: Path, config: str) -> None:
    assert CADDY is not None
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run(
        [CADDY, "validate", "--config", str(DEPLOY / config), "--adapter", "caddyfile"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0 and "Valid configuration" in proc.stdout + proc.stderr, (
        proc.stdout + proc.stderr
    )


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed (apt-get install caddy)")
def test_a_node_reaches_the_relay_through_caddy_over_tls(tmp_path: Path) -> None:
    assert CADDY is not None
    relay = RelayProcess.create(tmp_path / "relay")
    fr = make_member("FR")
    relay.add_member(fr.bundle)
    tls_port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "POCNET_RELAY_HOSTNAME": f"localhost:{tls_port}",
        "POCNET_RELAY_UPSTREAMS": f"127.0.0.1:{relay.port}",
    }
    caddyfile = _caddyfile(tmp_path)
    with relay.running():
        caddy = subprocess.Popen(
            [CADDY, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            ca = tmp_path / "caddy-state" / "pki" / "authorities" / "local" / "root.crt"
            wait_for(ca.exists, BOUND, "Caddy's local CA")
            context = ssl.create_default_context(cafile=str(ca))
            base = f"https://localhost:{tls_port}"
            wait_for(lambda: _get(base + "/healthz", context) == 200, BOUND, "/healthz over TLS")
            assert _get(base + "/metrics", context) == 403  # monitoring reads each relay directly
            status, body = asyncio.run(_signed_inbox(base, fr, context))
            assert status == 200 and body == {"items": []}
        finally:
            caddy.terminate()
            caddy.communicate(timeout=BOUND)


async def _signed_inbox(base: str, member: Any, context: ssl.SSLContext) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(ssl=context)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        SignedClient(base, member.party, member.key, session=session) as client,
    ):
        return await client.inbox()


# -- systemd ------------------------------------------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize(
    ("unit", "command"),
    [("pocnet-relay.service", "relay serve"), ("pocnet-node.service", "node run")],
)
def test_systemd_units_verify(tmp_path: Path, unit: str, command: str) -> None:
    """The unit as shipped, with its install prefix (/opt/pocnet/bin) pointed at this
    checkout's commands so that ``verify`` can check the executable."""
    assert SYSTEMD_ANALYZE is not None
    text = (DEPLOY / unit).read_text()
    assert f"ExecStart=/opt/pocnet/bin/{command} " in text
    assert (
        "LoadCredential=passphrase:" in text
        and "--passphrase-file ${CREDENTIALS_DIRECTORY}" in text
    )
    local = tmp_path / unit
    local.write_text(text.replace("/opt/pocnet/bin/", f"{BIN}/"))
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(local)], capture_output=True, text=True, timeout=120
    )
    complaints = [line for line in proc.stderr.splitlines() if unit in line]
    assert proc.returncode == 0 and not complaints, proc.stderr


# -- compose ------------------------------------------------------------------------------


def test_compose_file_wires_what_the_repository_ships() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    assert set(services) == {
        "postgres", "relay-setup", "relay1", "relay2", "caddy", "prometheus", "grafana",
    }  # fmt: skip
    relays = ["relay1", "relay2"]
    for name in ["relay-setup", *relays]:
        svc = services[name]
        assert svc["build"] == {"context": "..", "dockerfile": "deploy/Containerfile"}
        assert svc["environment"]["POCNET_RELAY_DATA"] == "/data"
        assert "relay-data:/data" in svc["volumes"]
        assert svc["env_file"] == ["relay-database.env"]  # the database password stays out
    assert services["relay-setup"]["command"] == ["setup"]
    assert services["relay-setup"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in relays:
        assert services[name]["command"] == ["serve"]
        assert services[name]["depends_on"]["relay-setup"] == {
            "condition": "service_completed_successfully"
        }
    # Every file mounted from the repository exists.
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
    for secret in doc["secrets"].values():
        assert Path(secret["file"]).name in (DEPLOY / ".gitignore").read_text()
    # Caddy proxies to both relays; Prometheus scrapes each relay process directly.
    assert services["caddy"]["environment"]["POCNET_RELAY_UPSTREAMS"].split() == [
        f"{r}:8470" for r in relays
    ]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "pocnet-relay")
    assert job["static_configs"][0]["targets"] == [f"{r}:8470" for r in relays]
    assert prometheus["rule_files"] == ["alerts.yml"]


# -- the image, where a container engine works ---------------------------------------------


def test_containerfile_copies_the_packages_and_the_entry_point() -> None:
    """What can be checked without an engine: every COPY source exists, the packages
    pyproject.toml installs are all copied, and the entry point is the tested script."""
    lines = (DEPLOY / "Containerfile").read_text().splitlines()
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    sources = {source for sources in copies for source in sources}
    assert all((ROOT / source).exists() for source in sources), sources
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in found}
    assert packages <= sources and "pyproject.toml" in sources
    assert "deploy/relay-entrypoint.sh" in sources
    assert 'ENTRYPOINT ["pocnet-relay-entrypoint"]' in lines and 'CMD ["serve"]' in lines
    assert "USER pocnet" in lines  # never as root


def _engine() -> str | None:
    for tool in ("podman", "docker"):
        path = shutil.which(tool)
        if path is None:
            continue
        probe = subprocess.run([path, "info"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return path
    return None


def test_the_image_builds_and_serves(tmp_path: Path) -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no working container engine (podman or docker: 'info' fails or is absent)")
    tag = f"pocnet-relay-test:{os.getpid()}"
    build = subprocess.run(
        [engine, "build", "-f", str(DEPLOY / "Containerfile"), "-t", tag, str(ROOT)],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    volume, port = f"pocnet-test-{os.getpid()}", free_port()
    run = [engine, "run", "--rm", "-v", f"{volume}:/data", "-e", "POCNET_RELAY_NO_PASSPHRASE=1"]
    name = f"pocnet-relay-test-{os.getpid()}"
    try:
        setup = subprocess.run([*run, tag, "setup"], capture_output=True, text=True, timeout=300)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        subprocess.run(
            [*run, "-d", "--name", name, "-p", f"127.0.0.1:{port}:8470", tag],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz") == 200, BOUND, "/readyz 200")
    finally:
        subprocess.run([engine, "stop", name], capture_output=True, timeout=120)
        subprocess.run([engine, "volume", "rm", "-f", volume], capture_output=True, timeout=120)
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=120)

"""The monitoring of deploy/compose.yaml, with processes instead of containers: two relay
processes on one PostgreSQL (set up by the image's entry point), a real Prometheus scraping
both with ``deploy/prometheus/alerts.yml``. Every rule evaluates without error against the
real series, both targets are up, the counters add up over the two processes, and an
emergency left undelivered raises ``PocnetRelayOverdue`` (pending: its ``for`` is a minute).
Skipped, saying why, without the ``prometheus`` server (Debian's package) or PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.relaykit import (
    create_pg_database,
    drop_pg_database,
    make_member,
    seal,
    skip_without_postgres,
)
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
BOUND = 90.0


def _api(base: str, path: str, **query: str) -> Any:
    url = f"{base}/api/v1/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["data"]
    except OSError:
        return None


def _value(base: str, expr: str) -> float | None:
    data = _api(base, "query", query=expr)
    if not data or not data["result"]:
        return None
    return float(data["result"][0]["value"][1])


async def _emergency(url: str, fr: Any, de: Any) -> None:
    async with SignedClient(url, "FR", fr.key) as client:
        env = seal(fr, de, datetime.now(UTC), priority="emergency", ttl=timedelta(hours=1))
        assert (await client.submit(env.to_bytes()))[0] == 201


@pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus server is not installed")
def test_prometheus_evaluates_every_rule_on_two_relays(tmp_path: Path) -> None:
    skip_without_postgres()
    url = asyncio.run(create_pg_database())
    try:
        _stack(tmp_path, url)
    finally:
        asyncio.run(drop_pg_database(url))


def _stack(tmp_path: Path, database_url: str) -> None:
    assert PROMETHEUS is not None
    data = tmp_path / "relay-data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCNET_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        POCNET_RELAY_DATA=str(data),
        POCNET_RELAY_DATABASE_URL=database_url,
        POCNET_RELAY_NO_PASSPHRASE="1",
    )
    setup = subprocess.run(
        ["sh", str(ROOT / "deploy" / "relay-entrypoint.sh"), "setup"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    fr, de = make_member("FR"), make_member("DE")
    limits = {"POCNET_RELAY_OVERDUE_EMERGENCY_SECONDS": "1"}
    relays = [RelayProcess(data, database_url=database_url, env=limits) for _ in range(2)]
    for member in (fr, de):
        relays[0].add_member(member.bundle)
    # deploy/prometheus/prometheus.yml with this machine's targets and a fast pace.
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / "alerts.yml")]
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [
        f"127.0.0.1:{r.port}" for r in relays
    ]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with relays[0].running(), relays[1].running():
        prometheus = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: _value(base, 'sum(up{job="pocnet-relay"})') == 2, BOUND, "both relays up"
            )
            asyncio.run(_emergency(relays[1].url, fr, de))
            wait_for(
                lambda: _value(base, "sum(pocnet_relay_envelopes_accepted_total)") == 1,
                BOUND,
                "the accepted envelope counted once over both processes",
            )

            def overdue_alert() -> bool:
                alerts = (_api(base, "alerts") or {}).get("alerts", [])
                return any(
                    a["labels"].get("alertname") == "PocnetRelayOverdue"
                    and a["labels"].get("recipient") == "DE"
                    and a["state"] in ("pending", "firing")
                    for a in alerts
                )

            wait_for(overdue_alert, BOUND, "PocnetRelayOverdue for DE")
            wait_for(
                lambda: all(
                    r.get("lastEvaluation", "").startswith("2") and r["health"] != "unknown"
                    for g in _api(base, "rules")["groups"]
                    for r in g["rules"]
                ),
                BOUND,
                "every rule evaluated",
            )
            rules = [r for g in _api(base, "rules")["groups"] for r in g["rules"]]
            broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
            assert len(rules) >= 15 and not broken, broken
            # The member gauges: the newest poll over both processes is a time, not absent.
            assert _value(base, 'max(pocnet_relay_member_last_poll_timestamp_seconds{party="FR"})')
        finally:
            prometheus.terminate()
            prometheus.communicate(timeout=BOUND)

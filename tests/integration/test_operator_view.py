"""The operators' view holds to the relay it watches: every metric that an alert rule of
``deploy/prometheus/alerts.yml`` or a panel of ``deploy/grafana/pocnet-relay.json`` reads
is exported by a real ``relay serve`` process, with the labels the expression uses; and
``promtool`` accepts the rules, their unit tests and the Prometheus configuration (skipped,
saying so, where promtool is not installed: ``apt-get install prometheus`` brings it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.relaykit import make_member, seal
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import wait_for
from tests.support.promql import alert_rules, exported, problems

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "pocnet-relay.json"


def rule_expressions(group: str = "pocnet-relay") -> dict[str, str]:
    return alert_rules(yaml.safe_load((PROMETHEUS / "alerts.yml").read_text()), group)


def panel_expressions() -> dict[str, str]:
    doc = json.loads(DASHBOARD.read_text())
    found = {}
    for panel in doc["panels"]:
        for target in panel["targets"]:
            found[f"{panel['title']} [{target['refId']}]"] = target["expr"]
    return found


async def _activity(relay: RelayProcess, fr: Any, de: Any) -> None:
    """An emergency from FR that DE downloads but does not confirm: OVERDUE soon after."""
    async with (
        SignedClient(relay.url, "FR", fr.key) as cf,
        SignedClient(relay.url, "DE", de.key) as cd,
    ):
        env = seal(fr, de, datetime.now(UTC), priority="emergency", ttl=timedelta(hours=1))
        assert (await cf.submit(env.to_bytes()))[0] == 201
        status, inbox = await cd.inbox()
        assert status == 200 and len(inbox["items"]) == 1


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        return str(r.read().decode())


def test_every_rule_and_panel_reads_what_a_live_relay_exports(tmp_path: Path) -> None:
    relay = RelayProcess.create(
        tmp_path / "relay", env={"POCNET_RELAY_OVERDUE_EMERGENCY_SECONDS": "1"}
    )
    fr, de = make_member("FR"), make_member("DE")
    for member in (fr, de):
        relay.add_member(member.bundle)
    with relay.running():
        asyncio.run(_activity(relay, fr, de))
        page = wait_for(
            lambda: (
                (text := _scrape(relay.url))
                and 'overdue_pending{recipient="DE"} 1.0' in text
                and text
            ),
            timeout=30,
            what="the OVERDUE envelope in /metrics",
        )
    live = exported(page)
    expressions = {f"alert {k}": v for k, v in rule_expressions().items()}
    expressions.update({f"panel {k}": v for k, v in panel_expressions().items()})
    assert len(expressions) >= 30
    wrong = [p for where, expr in expressions.items() for p in problems(where, expr, live)]
    assert not wrong, "\n".join(wrong)
    # The names the issue asks alerts for are all there.
    alerts = set(rule_expressions())
    assert {
        "PocnetRelayDown",
        "PocnetRelay5xxRate",
        "PocnetRelayAcceptLatencyHigh",
        "PocnetRelayEnvelopesPending",
        "PocnetRelayOverdue",
        "PocnetNodeNotPolling",
        "PocnetDirectoryExpiring",
        "PocnetAuditCheckpointStale",
        "PocnetRelayDatabaseErrors",
        "PocnetRelayDiskLow",
    } <= alerts


def test_a_rule_that_names_a_missing_metric_is_caught() -> None:
    page = exported(
        '# TYPE pocnet_relay_queue_depth gauge\npocnet_relay_queue_depth{recipient="DE"} 1.0\n'
    )
    assert problems("x", "max by (recipient) (pocnet_relay_queue_depth) > 1", page) == []
    assert problems("x", "pocnet_relay_queue_depht > 1", page) == [
        "x: pocnet_relay_queue_depht is not exported"
    ]
    assert problems("x", 'pocnet_relay_queue_depth{party="DE"} > 1', page) == [
        "x: pocnet_relay_queue_depth has no label ['party']"
    ]
    assert problems("x", "max by (party) (pocnet_relay_queue_depth)", page) == [
        "x: groups by ['party'], which nothing has"
    ]
    assert problems("x", "1 > 0", page) == ["x: reads no metric: 1 > 0"]


def test_the_dashboard_is_a_grafana_dashboard_on_the_provisioned_source() -> None:
    doc = json.loads(DASHBOARD.read_text())
    source = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    uid = source["datasources"][0]["uid"]
    assert doc["uid"] and doc["title"] and doc["schemaVersion"] >= 30
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) >= 15
    for panel in doc["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == uid for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus brings it)"
)


@needs_promtool
@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
        ("check", "config", "prometheus.yml"),
    ],
    ids=["check-rules", "test-rules", "check-config"],
)
def test_promtool_accepts(args: tuple[str, ...]) -> None:
    assert PROMTOOL is not None
    proc = subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr

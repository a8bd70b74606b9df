"""End to end with real processes and a signed directory: the node's ``/metrics``
(``[metrics]`` in node.toml) and the relay's agree on the directory's expiry; the node's
figures follow a relay outage (reachable 0, an envelope queued) and its end; ``relay
status`` shows the directory in force."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.nodeproc import LocalNetwork, set_options
from tests.e2e.secretariat import Secretariat
from tests.support.processes import free_port, run_module, wait_for
from tests.support.promql import alert_rules, exported, problems

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
BOUND = 60.0
ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of ``url`` by (name, labels); empty while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def one(samples: dict[Any, float], name: str) -> tuple[dict[str, str], float] | None:
    found = [(dict(k[1]), v) for k, v in samples.items() if k[0] == name]
    return found[0] if len(found) == 1 else None


def test_node_metrics_follow_the_relay_and_agree_on_the_directory(tmp_path: Path) -> None:
    sec = Secretariat.create(tmp_path / "secretariat")
    net = LocalNetwork.create(tmp_path, ["FR", "DE"], root_file=sec.root_file)
    port = free_port()
    fr = net["FR"]
    set_options(
        fr.data / "node.toml", {"metrics": {"enabled": True, "port": port, "refresh_seconds": 1}}
    )
    sec.list_network(net)
    sec.publish(net.relay)
    node_url = f"http://127.0.0.1:{port}/metrics"
    with net.running("FR"):
        node = wait_for(
            lambda: (
                (s := scrape(node_url))
                and s.get(("pocnet_node_relay_reachable", ())) == 1
                and one(s, "pocnet_node_directory_expiry_timestamp_seconds")
                and s
            ),
            timeout=BOUND,
            what="FR's metrics: relay reachable and a directory",
        )
        labels, node_expiry = one(node, "pocnet_node_directory_expiry_timestamp_seconds")  # type: ignore[misc]
        version = labels["version"]
        assert node[("pocnet_node_last_poll_timestamp_seconds", ())] > 0
        assert node[("pocnet_node_build_info", (("party", "FR"), ("version", _version())))] == 1
        left = node[("pocnet_node_directory_expires_in_seconds", (("version", version),))]
        assert 0 < left <= node_expiry
        assert node[("pocnet_node_outbox_queued", (("priority", "routine"),))] == 0
        assert node[("pocnet_node_unacknowledged", (("priority", "emergency"),))] == 0
        # Every rule of the node's group reads what this node exports.
        page = urllib.request.urlopen(node_url, timeout=5).read().decode()
        rules = alert_rules(yaml.safe_load(ALERTS.read_text()), "pocnet-node")
        assert len(rules) >= 4
        wrong = [p for name, expr in rules.items() for p in problems(name, expr, exported(page))]
        assert not wrong, wrong
        # The relay reports the same directory (read from its database).
        relay = scrape(net.relay.url + "/metrics")
        assert relay[("pocnet_relay_directory_version", ())] == float(version)
        key = ("pocnet_relay_directory_expiry_timestamp_seconds", (("version", version),))
        assert relay[key] == node_expiry
        status = run_module("relay", "status", "--data", str(net.relay.data), "--url",
                            net.relay.url, "--json")  # fmt: skip
        doc = json.loads(status.stdout)
        assert doc["directory"]["mode"] == "directory"
        assert str(doc["directory"]["version"]) == version
        # An outage: the node says so, and counts what waits for the relay.
        net.relay.stop()
        wait_for(
            lambda: scrape(node_url).get(("pocnet_node_relay_reachable", ())) == 0,
            timeout=BOUND,
            what="relay_reachable 0",
        )
        sent = fr.cli("send", "--to", "DE", "--kind", "ping", "--no-input")
        assert sent.returncode == 0 and sent.stdout.startswith("queued"), sent.stderr
        wait_for(
            lambda: (
                sum(v for k, v in scrape(node_url).items() if k[0] == "pocnet_node_outbox_queued")
                == 1
            ),
            timeout=BOUND,
            what="one envelope queued in FR's metrics",
        )
        net.relay.start()
        wait_for(
            lambda: (
                (s := scrape(node_url)).get(("pocnet_node_relay_reachable", ())) == 1
                and sum(v for k, v in s.items() if k[0] == "pocnet_node_outbox_queued") == 0
            ),
            timeout=BOUND,
            what="relay reachable again and the outbox empty",
        )


def _version() -> str:
    from keys.host.command import version

    return version()

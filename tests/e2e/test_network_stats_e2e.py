"""End to end with real processes: network statistics.

Four nodes (FR, DE, IT, ES) and the secretariat's node (CE), listed in a 2-of-3 signed
directory, exchange six requests through the relay and a ping, which statistics leave
out. One request is in French to a party that does not list French: it is sent with a
warning and read labelled in French. Each node sends CE its signed report for the month
(``node stats send``); ES also sends a report whose figures were changed after signing
(its signature does not verify); then the secretariat suspends IT. CE's ``node stats
collect`` counts exactly what FR, DE and ES sent and received, refuses ES's forged report
and IT's (suspended), and renders the charts. ``relay stats`` counts the same envelopes
from metadata.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.e2e.secretariat import Secretariat
from tests.support.processes import run_module, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
PARTIES = ("FR", "DE", "IT", "ES")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Secretariat, LocalNetwork]]:
    root = tmp_path_factory.mktemp("network-stats-e2e")
    sec = Secretariat.create(root / "secretariat")
    net = LocalNetwork.create(root, [*PARTIES, "CE"], root_file=sec.root_file)
    net.relay.env["POCNET_RELAY_DIRECTORY_CHECK_SECONDS"] = "0.2"
    sec.list_network(net)
    sec.publish(net.relay)
    with net.running(*PARTIES, "CE"):
        yield sec, net


def relay_serves(net: LocalNetwork, version: int) -> bool:
    return any(
        json.loads(line).get("event") == "directory.loaded"
        and json.loads(line).get("version") == version
        for line in net.relay.output().splitlines()
        if line.startswith("{")
    )


def send(
    node: NodeProcess, to: str, kind: str, priority: str | None = None, language: str = "en"
) -> tuple[str, dict[str, object]]:
    form = node.data / f"{kind}-{datetime.now(UTC).timestamp()}.json"
    data = example(kind, datetime.now(UTC), node.party)
    if data:
        data["language"] = language
    form.write_text(json.dumps(data))
    extra = ["--priority", priority] if priority else []
    code, out = node.call(
        "send", "--to", to, "--kind", kind, "--form", str(form), "--no-input", *extra
    )
    assert code == 0 and out["state"] == "accepted", out
    return str(out["msg_id"]), dict(out)


def test_four_nodes_report_and_the_secretariat_counts_them_exactly(
    world: tuple[Secretariat, LocalNetwork],
) -> None:
    sec, net = world
    ce = net["CE"]
    plan = [
        ("FR", "DE", "preservation_request", None),
        ("FR", "IT", "subscriber_info_request", None),
        ("DE", "ES", "emergency_disclosure_request", "emergency"),
        ("IT", "FR", "assistance_request", None),
        ("ES", "FR", "preservation_request", "urgent"),
        ("ES", "DE", "ping", None),
    ]
    sent = [(net[s], send(net[s], to, kind, p)[0]) for s, to, kind, p in plan]
    for node, msg_id in sent:
        wait_for(lambda n=node, m=msg_id: "RETRIEVED" in n.receipt_types(m), 60, "RETRIEVED")
    # In French to DE, which accepts en and de (Protocol Art. 4): sent, with a warning; DE
    # reads it labelled in French. It counts like any other request.
    french, out = send(net["FR"], "DE", "assistance_request", language="fr")
    assert out["recipient_languages"] == ["en", "de"]
    assert "Protocol Art. 4" in str(out["warnings"])
    wait_for(lambda: "RETRIEVED" in net["FR"].receipt_types(french), 60, "RETRIEVED")
    shown = net["DE"].cli("show", french, "--lang", "fr")
    assert shown.returncode == 0 and "Assistance immédiate du point de contact 24/7" in shown.stdout
    assert "informations juridiques [legal_information]" in shown.stdout
    month = datetime.now(UTC).strftime("%Y-%m")
    for party in PARTIES:
        code, out = net[party].call("stats", "send", "--period", month, "--to", "CE")
        assert code == 0 and out["outcome"] == "accepted", out

    # ES's figures changed after signing: a report that does not verify.
    es = net["ES"]
    forged = es.data / "forged-report.json"
    report = next(m for m in es.messages("out") if m.kind == "statistics_report").body
    body = {k: report[k] for k in ("party", "period", "counts", "signature")}
    body["generated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body["counts"][0]["count"] += 100
    forged.write_text(json.dumps(body))
    code, out = es.call(
        "send", "--to", "CE", "--kind", "statistics_report", "--form", str(forged), "--no-input"
    )
    assert code == 0, out
    wait_for(
        lambda: len([m for m in ce.messages("in") if m.kind == "statistics_report"]) == 5,
        60,
        "five reports at CE",
    )

    # The secretariat suspends IT; CE takes up the new directory.
    sec.suspend("IT", "under review")
    second = sec.publish(net.relay, signers=(1, 2))["version"]
    wait_for(lambda: relay_serves(net, second), 30, "the relay to serve the new version")
    code, refreshed = ce.call("directory", "refresh")
    assert code == 0 and refreshed["version"] == second, refreshed

    out_dir = ce.data / "network-report"
    code, result = ce.call("stats", "collect", "--period", month, "--out", str(out_dir))
    assert code == 0, result
    refused = sorted((r["party"], r["reason"]) for r in result["refused"])
    assert refused == [("ES", "bad_signature"), ("IT", "suspended")]
    assert sorted(result["reported"][month]) == ["DE", "ES", "FR"]
    assert result["missing"][month] == []  # IT, suspended, is not expected
    # exactly what FR, DE and ES sent (IT's report is refused), and what they received
    assert result["requests"][month] == {
        "assistance_request": 1,  # FR's, in French (IT's is in IT's refused report)
        "emergency_disclosure_request": 1,
        "preservation_request": 2,
        "subscriber_info_request": 1,
    }
    assert result["emergency_share"][month] == [1, 5]
    csv_rows = (out_dir / "network-report.csv").read_text().splitlines()
    counts = ("received_routine", "received_urgent", "received_emergency")
    received = [r.split(",") for r in csv_rows[1:]]
    total = sum(int(r[5]) for r in received if r[4] in counts)
    assert total == 5  # preservation 2, emergency disclosure 1, assistance 2
    for name in ("requests-by-month.svg", "emergency-share.svg", "time-to-respond.svg"):
        svg = (out_dir / name).read_text()
        assert svg.startswith("<svg") and svg.count("<rect") >= 3 and len(svg) > 800, name
    html = (out_dir / "network-report.html").read_text()
    assert "Reports refused" in html and "bad_signature" in html
    assert "| preservation_request | 2 |" in (out_dir / "network-report.md").read_text()

    # The relay's own count, from metadata: the six envelopes of the plan, the French
    # request, the five reports, and nothing the nodes did not send.
    stats = run_module(
        "relay", "stats", "--data", str(net.relay.data), *net.relay._db_args(), "--json"
    )
    assert stats.returncode == 0, stats.stderr
    pairs = {
        (p["sender"], p["recipient"]): p["envelopes"] for p in json.loads(stats.stdout)["pairs"]
    }
    assert pairs[("FR", "DE")] == 2 and pairs[("ES", "DE")] == 1 and pairs[("ES", "CE")] == 2
    assert sum(pairs.values()) == 7 + 5

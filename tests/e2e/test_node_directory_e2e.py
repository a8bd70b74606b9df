"""End to end with real processes: a network built from a 2-of-3 signed directory.

The secretariat makes the directory with the ``keys directory`` command (three
administrators; two sign separately; ``combine``), the operator installs it with
``relay directory install``, the nodes pin the root with ``node init --root``. A request is
delivered; then a version revoking FR (signed by another pair of administrators) is
installed at the relay and refreshed by DE: FR's new request is refused, and the evidence
of its earlier one still verifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.host.command import EXIT_REFUSED
from node.forms.examples import example
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.e2e.secretariat import CONTACTS, Secretariat
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Secretariat, LocalNetwork]]:
    root = tmp_path_factory.mktemp("directory-e2e")
    sec = Secretariat.create(root / "secretariat")
    net = LocalNetwork.create(root, ["FR", "DE"], root_file=sec.root_file)
    net.relay.env["POCNET_RELAY_DIRECTORY_CHECK_SECONDS"] = "0.2"
    sec.list_network(net)
    sec.publish(net.relay)  # XX-ADMIN1 and XX-ADMIN2
    with net.running("FR", "DE"):
        yield sec, net


def send(node: NodeProcess, to: str, kind: str) -> tuple[int, dict[str, object]]:
    form = node.data / f"{kind}-{datetime.now(UTC).timestamp()}.json"
    form.write_text(json.dumps(example(kind, datetime.now(UTC), node.party)))
    code, out = node.call("send", "--to", to, "--kind", kind, "--form", str(form), "--no-input")
    return code, dict(out)


def relay_loaded(net: LocalNetwork, version: int) -> bool:
    return any(
        json.loads(line).get("event") == "directory.loaded"
        and json.loads(line).get("version") == version
        for line in net.relay.output().splitlines()
        if line.startswith("{")
    )


def test_network_from_a_signed_directory_then_a_revocation(
    world: tuple[Secretariat, LocalNetwork],
) -> None:
    sec, net = world
    fr, de = net["FR"], net["DE"]
    first = sec.installed[0]["version"]
    started = [e for e in de.events() if e["event"] == "directory.refreshed"]
    assert started and (started[0]["mode"], started[0]["version"]) == ("directory", first)

    code, out = send(fr, "DE", "assistance_request")
    assert code == 0 and out["state"] == "accepted", out
    before = str(out["msg_id"])
    wait_for(lambda: "RETRIEVED" in fr.receipt_types(before), 30, "RETRIEVED at FR")
    code, shown = de.call("directory", "show")
    assert code == 0 and shown["signatures"]["signers"] == ["XX-ADMIN1", "XX-ADMIN2"]
    phones = {p["id"]: p["contact"]["phone"] for p in shown["directory"]["parties"]}
    assert phones == {p: CONTACTS[p][0] for p in ("FR", "DE")}

    # Version 2 revokes FR, signed by another pair of administrators.
    sec.revoke("FR", "key compromise")
    second = sec.publish(net.relay, signers=(0, 2))["version"]
    wait_for(lambda: relay_loaded(net, second), 20, "the relay to serve version 2")
    code, report = de.call("directory", "refresh")
    assert code == 0 and (report["previous_version"], report["version"]) == (first, second)
    code, out = send(fr, "DE", "assistance_request")
    assert code == EXIT_REFUSED and out["state"] == "failed", out
    assert [m.msg_id for m in de.messages("in")] == [before]
    wait_for(
        lambda: any(e["event"] == "directory.reloaded" for e in de.events()),
        20,
        "DE's daemon to take up version 2",
    )
    code, shown = de.call("directory", "show")
    [fr_entry] = [p for p in shown["directory"]["parties"] if p["id"] == "FR"]
    assert fr_entry["status"]["state"] == "revoked"
    code, verified = de.call("directory", "verify")
    assert code == 0 and verified["versions_checked"] == 2

    # FR's request from before the revocation keeps its evidence value.
    bundle = Path(de.data / "evidence.json")
    code, _ = de.call("evidence", before, "--out", str(bundle))
    assert code == 0
    code, checked = de.call("evidence", "verify", str(bundle))
    assert code == 0 and checked["valid"] and checked["key_source"] == "pinned", checked

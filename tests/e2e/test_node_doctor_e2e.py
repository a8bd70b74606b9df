"""End to end with real processes: ``node doctor`` against a real relay, and configuration
errors (a wrong relay path) told apart from outages (exit 8, the setting named)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keys.host.command import EXIT_CONFIG, EXIT_UNREACHABLE
from tests.e2e.nodeproc import LocalNetwork, NodeProcess, set_options

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork.create(tmp_path_factory.mktemp("e2e-doctor"), ["FR", "DE"])
    with network.running():  # the relay only: doctor and one-shot commands
        yield network


def statuses(out: dict[str, object]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in out["checks"]}  # type: ignore[attr-defined,index]


def test_a_healthy_node_passes(net: LocalNetwork) -> None:
    fr = net["FR"]
    set_options(fr.data / "node.toml", {"alerts": {"hook": "/bin/cat"}})
    assert fr.call("directory", "refresh")[0] == 0
    code, out = fr.call("doctor")
    assert code == 0 and out["ok"], out
    checks = statuses(out)
    for name in (
        "keystore file",
        "keystore opens",
        "relay reachable",
        "clock",
        "relay accepts this node",
        "relay identity",
        "alert hook",
    ):
        assert checks[name] == "pass", (name, out)
    assert checks["directory"] == "warn"  # development mode: no root pinned
    # The clock as a figure, with the relay's window: same machine, so well within it.
    clock = out["clock"]
    assert clock["within_window"] is True and clock["window_seconds"] == 300.0, clock
    assert isinstance(clock["offset_seconds"], float) and abs(clock["offset_seconds"]) < 5
    text = fr.cli("doctor")
    assert text.returncode == 0 and "PASS  relay reachable" in text.stdout
    assert "within its signature window of ±300 s" in text.stdout


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"alerts": {"hook": "/no/such/hook --x"}}, "alert hook"),
        ({"relay": {"url": "http://127.0.0.1:9/"}}, "relay reachable"),
    ],
    ids=["missing hook", "relay port wrong"],
)
def test_a_misconfigured_node_fails_naming_the_check(
    net: LocalNetwork, change: dict[str, dict[str, str]], failing: str
) -> None:
    de = net["DE"]
    before = (de.data / "node.toml").read_text()
    try:
        set_options(de.data / "node.toml", change)
        code, out = de.call("doctor")
        assert code == EXIT_CONFIG and not out["ok"]
        assert statuses(out)[failing] == "fail", out
    finally:
        (de.data / "node.toml").write_text(before)


def test_keystore_readable_by_others_fails(net: LocalNetwork) -> None:
    de = net["DE"]
    path = de.data / "keys" / "keystore.json"
    path.chmod(0o644)
    try:
        code, out = de.call("doctor")
        assert code == EXIT_CONFIG and statuses(out)["keystore file"] == "fail"
        assert "chmod 600" in next(c["detail"] for c in out["checks"] if c["status"] == "fail")
    finally:
        path.chmod(0o600)


def test_a_wrong_relay_path_is_a_configuration_error_not_an_outage(net: LocalNetwork) -> None:
    fr: NodeProcess = net["FR"]
    assert fr.call("directory", "refresh")[0] == 0  # DE's key known: no fetch before queueing
    before = (fr.data / "node.toml").read_text()
    try:
        set_options(fr.data / "node.toml", {"relay": {"url": net.relay.url + "/pocnet"}})
        code, out = fr.call("send", "--to", "DE", "--kind", "ping", "--no-input")
        assert code == EXIT_CONFIG, out
        assert out["error"] == "relay_path" and out["setting"] == "relay.url" and out["queued"]
        code, out = fr.call("doctor")
        assert code == EXIT_CONFIG and statuses(out)["relay accepts this node"] == "fail"
    finally:
        (fr.data / "node.toml").write_text(before)
    # Fixed: the kept message goes out; an outage, by contrast, is exit 6 and not 8.
    assert fr.call("flush")[0] == 0
    net.relay.stop()
    try:
        code, out = fr.call("directory", "refresh")
        assert code == EXIT_UNREACHABLE, out
    finally:
        net.relay.start()


def test_doctor_checks_every_relay_url(net: LocalNetwork) -> None:
    fr = net["FR"]
    before = (fr.data / "node.toml").read_text()
    dead = "http://127.0.0.1:9"
    try:
        set_options(fr.data / "node.toml", {"relay": {"urls": [dead, net.relay.url]}})
        code, out = fr.call("doctor")
        reach = [c for c in out["checks"] if c["name"] == "relay reachable"]
        assert [c["status"] for c in reach] == ["warn", "pass"], out
        assert dead in reach[0]["detail"] and net.relay.url in reach[1]["detail"]
        assert statuses(out)["relay accepts this node"] == "pass", out  # through the live one
        set_options(fr.data / "node.toml", {"relay": {"urls": [dead, "http://127.0.0.1:7"]}})
        code, out = fr.call("doctor")
        reach = [c for c in out["checks"] if c["name"] == "relay reachable"]
        assert code == EXIT_CONFIG and [c["status"] for c in reach] == ["fail", "fail"], out
    finally:
        (fr.data / "node.toml").write_text(before)

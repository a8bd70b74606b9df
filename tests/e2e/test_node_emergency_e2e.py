"""End to end with real processes: an emergency queued while the relay is down is
ACCEPTED within 2 s of the relay answering again (issue 11).

One relay and two ``node run`` daemons (FR, DE) on loopback, FR with production-like retry
settings (:data:`tests.e2e.outage.PRODUCTION_RETRY`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.nodeproc import LocalNetwork, set_options
from tests.e2e.outage import GOAL_S, PRODUCTION_RETRY, emergency_after_outage

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    network = LocalNetwork.create(
        tmp_path_factory.mktemp("e2e-emergency"),
        ["FR", "DE"],
        options={"contacts": {"DE": "+49 30 5555 0100"}},
    )
    set_options(network["FR"].data / "node.toml", PRODUCTION_RETRY)
    with network.running("FR", "DE"):
        yield network


def test_emergency_accepted_within_2s_of_the_relay_answering(net: LocalNetwork) -> None:
    elapsed, sent = emergency_after_outage(net, "FR", "DE", failures=4)
    assert elapsed <= GOAL_S, f"ACCEPTED {elapsed:.2f} s after the relay answered"
    # Queued while the relay was down: the officer is told at once whom to call.
    assert sent["call"]["phone"] == "+49 30 5555 0100", sent
    events = [e["event"] for e in net["FR"].events()]
    assert "relay.reconnected" in events
    retries = [e for e in net["FR"].events() if e["event"] == "outbox.retry"]
    assert retries and all(e["delay_s"] <= 5.0 for e in retries)  # the emergency cap

"""One scrape of ``relay serve --workers 2`` gives the whole relay's figures (issue 16).

Real processes on a private PostgreSQL: the supervisor and two workers share one port, so a
scrape reaches either. Envelopes are submitted on new connections until both workers have
accepted some; then every scrape (each on a new connection) must count all of them, not one
worker's share. A worker killed with SIGKILL and restarted leaves the sum as it was (its
counters stay) and its start time goes (``mark_process_dead``). The folder of metric files
is private while the relay runs and gone after it stops. Every wait is on a condition, with
a bound.
"""

from __future__ import annotations

import os
import signal
import stat
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from tests.integration.relaykit import Member, make_member, seal
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.integration.test_relay_workers import BOUND, start_workers
from tests.support.pgcluster import PgCluster
from tests.support.processes import wait_for
from tests.unit.relay.test_operator_metrics import samples

MAX_SUBMITS = 60  # both workers accept some long before this, however the kernel spreads
MIN_SUBMITS = 6
SCRAPES = 8
ACCEPTED = ("pocnet_relay_envelopes_accepted_total", ())


def scrape(relay: RelayProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One ``GET /metrics`` on a new connection: every sample by (name, sorted labels)."""
    with urllib.request.urlopen(relay.url + "/metrics", timeout=BOUND) as r:
        text = r.read().decode()
    return samples(text)


def accepted_by_worker(folder: Path) -> dict[str, float]:
    """Each worker's own accepted count, read from its counter file (by file name)."""
    found = {}
    for path in sorted(folder.glob("counter_*.db")):
        for family in MultiProcessCollector.merge([str(path)]):
            for s in family.samples:
                if (s.name, s.labels) == (ACCEPTED[0], {}) and s.value:
                    found[path.name] = s.value
    return found


async def submit_until_both_accepted(folder: Path, fr: Member, de: Member, url: str) -> int:
    """Submit on new connections, at least ``MIN_SUBMITS`` and until each worker has accepted
    one; how many were sent."""
    sent = 0
    while sent < MIN_SUBMITS or len(accepted_by_worker(folder)) < 2:
        assert sent < MAX_SUBMITS, f"one worker took every connection: {accepted_by_worker(folder)}"
        async with SignedClient(url, "FR", fr.key) as client:
            envelope = seal(fr, de, datetime.now(UTC))
            assert (await client.submit(envelope.to_bytes()))[0] == 201
        sent += 1
    assert sum(accepted_by_worker(folder).values()) == sent
    return sent


STARTED = "pocnet_relay_started_timestamp_seconds"


def started_pids(got: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[int]:
    return {int(dict(labels)["pid"]) for name, labels in got if name == STARTED}


async def test_every_scrape_counts_every_worker(tmp_path: Path, pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database("relay_worker_metrics")
    relay = RelayProcess.create(tmp_path / "relay", database_url=url)
    now = datetime.now(UTC)
    fr, de = make_member("FR", now=now), make_member("DE", now=now)
    relay.add_member(fr.bundle)
    relay.add_member(de.bundle)
    start_workers(relay, 2)
    try:
        wait_for(lambda: len(relay.events("relay.listening")) >= 2, BOUND, "2 listening")
        folder = Path(relay.events("workers.metrics_folder")[0]["folder"])
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        sent = await submit_until_both_accepted(folder, fr, de, relay.url)
        polled = datetime.now(UTC).timestamp()
        async with SignedClient(relay.url, "DE", de.key) as client:
            assert (await client.inbox())[0] == 200
        pids = {w["pid"] for w in relay.events("workers.started")}
        for _ in range(SCRAPES):
            got = scrape(relay)
            assert got[ACCEPTED] == sent, f"a scrape saw {got[ACCEPTED]} of {sent}"
            assert got[("pocnet_relay_receipts_total", (("type", "ACCEPTED"),))] == sent
            assert got[("pocnet_relay_queue_depth", (("recipient", "DE"),))] == sent
            last = got[("pocnet_relay_member_last_poll_timestamp_seconds", (("party", "DE"),))]
            assert last >= int(polled)
            assert started_pids(got) == pids
        print(f"{SCRAPES} scrapes, each counted {sent} accepted of {accepted_by_worker(folder)}")
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(relay.events("workers.started")) >= 3, BOUND, "a restart")
        wait_for(lambda: len(relay.events("relay.listening")) >= 3, BOUND, "it listening")
        after = {w["pid"] for w in relay.events("workers.started")} - {victim}
        for _ in range(SCRAPES):
            got = scrape(relay)
            assert got[ACCEPTED] == sent  # the killed worker's accepts still count
            assert started_pids(got) == after  # and its start time is gone
    finally:
        code = relay.stop(BOUND)
    assert code == 0
    assert not folder.exists()

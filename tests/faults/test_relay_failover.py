"""Issue 16's done-when: two relays on one PostgreSQL, three nodes that know both URLs.

Real processes on 127.0.0.1: relays A and B (one relay key, one private PostgreSQL
cluster: :mod:`tests.support.pgcluster`), and the daemons of FR, DE and IT with
``[relay] urls = [A, B]``. Messages flow between the three while:

1. relay A is killed (SIGKILL) once some messages are ACCEPTED and more are on their way:
   each daemon must move to B, and how long that took is measured from the daemons' own
   ``relay.switched`` log lines and printed;
2. PostgreSQL is stopped and started again: B answers 503 meanwhile, recovers by itself
   (not restarted), and the queued messages go through.

Then every message sent is ACCEPTED, delivered exactly once (one DELIVERED in the relay's
audit log, one copy in the recipient's inbox) and the audit log verifies. Every wait is a
condition with a bound.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from node.forms.examples import example
from tests.e2e.nodeproc import NodeProcess, set_options
from tests.integration.relayproc import RelayProcess, relay_cli
from tests.support.pgcluster import PgCluster
from tests.support.processes import free_port, wait_for

PARTIES = ("FR", "DE", "IT")
FAILOVER_BOUND_S = 15.0  # each daemon on B within this of A's death (measured: well below)
DELIVERY_BOUND_S = 120.0
RELAY_LIMITS = {"limits": {"rate_per_second": 1000.0, "rate_burst": 1000.0}}


def twin(relay: RelayProcess, data: Path) -> RelayProcess:
    """A second relay with the same key, members and database, on its own port."""
    shutil.copytree(relay.data, data, ignore=shutil.ignore_patterns("*.log"))
    return RelayProcess(data, database_url=relay.database_url, env=dict(relay.env))


def send(node: NodeProcess, to: str) -> str:
    form = node.data / f"ping-{time.time_ns()}.json"
    form.write_text(json.dumps(example("ping", datetime.now(UTC), node.party)))
    code, out = node.call("send", "--to", to, "--kind", "ping", "--form", str(form), "--no-input")
    assert code == 0, out
    return str(out["msg_id"])


def send_round(nodes: dict[str, NodeProcess], sent: dict[str, tuple[str, str]]) -> None:
    """Each node sends one ping to the next."""
    for i, party in enumerate(PARTIES):
        to = PARTIES[(i + 1) % len(PARTIES)]
        sent[send(nodes[party], to)] = (party, to)


def accepted_count(nodes: dict[str, NodeProcess], sent: dict[str, tuple[str, str]]) -> int:
    return sum("ACCEPTED" in nodes[s].receipt_types(m) for m, (s, _) in sent.items())


def switched_at(node: NodeProcess, url: str) -> float | None:
    """When (Unix seconds) the daemon first switched to ``url``, from its log."""
    for event in node.events():
        if event.get("event") == "relay.switched" and event.get("url") == url:
            return datetime.fromisoformat(str(event["timestamp"])).timestamp()
    return None


def all_delivered(nodes: dict[str, NodeProcess], sent: dict[str, tuple[str, str]]) -> bool:
    for msg_id, (sender, _) in sent.items():
        if not {"ACCEPTED", "DELIVERED", "RETRIEVED"} <= set(nodes[sender].receipt_types(msg_id)):
            return False
    return True


async def relay_events(url: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch("SELECT type, msg_id FROM events ORDER BY seq"))
    finally:
        await conn.close()


def test_kill_one_relay_then_restart_postgres_nothing_accepted_is_lost(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    url = pg_cluster.create_database("relay_ha")
    a = RelayProcess.create(tmp_path / "relay-a", database_url=url)
    set_options(a.data / "relay.toml", RELAY_LIMITS)
    b = twin(a, tmp_path / "relay-b")
    b.port = free_port()
    nodes: dict[str, NodeProcess] = {}
    for party in PARTIES:
        options = {"relay": {"urls": [a.url, b.url], "reconnect_max": 2.0}}
        node = NodeProcess.create(tmp_path / party.lower(), party, a.url, options)
        a.add_member(node.bundle)
        b.add_member(node.bundle)
        nodes[party] = node
    sent: dict[str, tuple[str, str]] = {}
    started: list[Any] = []
    try:
        for service in (a, b, *nodes.values()):
            service.start()
            started.append(service)
        # 1. Under load, kill relay A after three messages are ACCEPTED.
        for _ in range(3):
            send_round(nodes, sent)
        wait_for(lambda: accepted_count(nodes, sent) >= 3, DELIVERY_BOUND_S, "3 ACCEPTED")
        killed_at = time.time()
        a.kill()
        send_round(nodes, sent)
        switches = {
            p: wait_for(lambda n=n: switched_at(n, b.url), FAILOVER_BOUND_S * 2, f"{p} on B")
            for p, n in nodes.items()
        }
        failover = {p: round(at - killed_at, 3) for p, at in switches.items()}
        print(f"failover after kill -9 of relay A, per node (s): {failover}")
        assert max(failover.values()) <= FAILOVER_BOUND_S, failover
        send_round(nodes, sent)
        # 2. Restart PostgreSQL under B, messages queued meanwhile.
        before = accepted_count(nodes, sent)
        pg_cluster.stop()
        down_at = time.monotonic()
        send_round(nodes, sent)  # B answers 503: queued at the senders
        pg_cluster.start()
        send_round(nodes, sent)
        wait_for(lambda: all_delivered(nodes, sent), DELIVERY_BOUND_S, "every message delivered")
        recovery = time.monotonic() - down_at
        print(f"PostgreSQL stopped and started: all delivered {recovery:.2f} s after the stop")
        assert accepted_count(nodes, sent) == len(sent) > before
        assert b.proc is not None and b.proc.poll() is None  # B was never restarted
        statuses = Counter(e.get("status") for e in b.events("http.request"))
        assert statuses[503] > 0 and statuses[500] == 0, statuses  # 503s only, meanwhile
    finally:
        for service in reversed(started):
            service.stop()
    for msg_id, (_, to) in sent.items():
        assert [m.msg_id for m in nodes[to].messages("in")].count(msg_id) == 1, msg_id
    kinds = Counter((e["type"], e["msg_id"]) for e in asyncio.run(relay_events(url)))
    for msg_id in sent:
        assert kinds[("accepted", msg_id)] == 1 and kinds[("delivered", msg_id)] == 1, msg_id
    report = relay_cli("audit", "verify", "--data", str(b.data), "--database-url", url)
    assert report["ok"] is True, report

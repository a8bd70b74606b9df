"""Issue 16's failover recipe, run: a synchronous standby promoted under a working relay.

Real processes on 127.0.0.1: a private PostgreSQL primary and its streaming standby
(``pg_basebackup -R``, ``synchronous_standby_names``: :mod:`tests.support.pgcluster`), one
``relay serve`` whose ``database_url`` names both hosts with
``target_session_attrs=read-write``, and the daemons of FR, DE and IT sending to each other.
Once some messages are ACCEPTED and more are on their way, the primary is killed (SIGKILL
of every server process, as a crash of its machine); when the relay has answered 503, the
standby is promoted (``pg_ctl promote``). Then:

- the relay answered 503 while no server took writes, never 500, and was not restarted; its
  leader lock found the promoted server (elected again, signing checkpoints again);
- every message sent is ACCEPTED, delivered exactly once (one ``accepted`` and one
  ``delivered`` row in the promoted server's audit log, one copy in the recipient's inbox),
  and ``relay audit verify`` passes on the promoted server;
- the time from the kill to the first envelope ACCEPTED on the promoted server is measured
  (the relay's own ``envelope.accepted`` log line) and printed.

Before the promotion, a URL whose hosts all answer but none is writable (only the standby)
must be "unavailable" (503) to the relay's pool and its LISTEN connection, not an
internal error: asyncpg reports it with an error of its own.

Every wait is a condition with a bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text

from relay.storage.database import (
    Unavailable,
    asyncpg_dsn,
    database_failure,
    database_url,
    make_engine,
)
from relay.storage.notify import ListenConnectFailed, listening
from tests.e2e.nodeproc import NodeProcess, set_options
from tests.faults.test_relay_failover import (
    DELIVERY_BOUND_S,
    PARTIES,
    RELAY_LIMITS,
    accepted_count,
    all_delivered,
    relay_events,
    send_round,
)
from tests.integration.relayproc import RelayProcess, relay_cli
from tests.support.pgcluster import PgCluster
from tests.support.processes import ServiceProcess, wait_for

pytestmark = pytest.mark.timeout(600)  # private servers (pgcluster): not the shared one

PROMOTED_BOUND_S = 60.0  # first ACCEPTED on the promoted server within this of the kill


def failover_url(primary: PgCluster, standby: PgCluster, name: str) -> str:
    """The relay's database_url naming both servers, asking for the writable one."""
    hosts = f"host=127.0.0.1:{primary.port}&host=127.0.0.1:{standby.port}"
    return f"postgresql+asyncpg://postgres@/{name}?{hosts}&target_session_attrs=read-write"


def first_event_after(relay: RelayProcess, name: str, after: float) -> float | None:
    """When (Unix seconds) the relay first logged event ``name`` after ``after``."""
    for event in relay.events(name):
        at = datetime.fromisoformat(str(event["timestamp"])).timestamp()
        if at > after:
            return at
    return None


def statuses(relay: RelayProcess) -> Counter[object]:
    return Counter(e.get("status") for e in relay.events("http.request"))


def test_primary_killed_standby_promoted_the_relay_recovers_and_nothing_accepted_is_lost(
    tmp_path: Path, pg_cluster: PgCluster, pg_standby: PgCluster
) -> None:
    pg_cluster.create_database("relay_ha")
    url = failover_url(pg_cluster, pg_standby, "relay_ha")
    relay = RelayProcess.create(tmp_path / "relay", database_url=url)
    set_options(relay.data / "relay.toml", RELAY_LIMITS)
    nodes: dict[str, NodeProcess] = {}
    for party in PARTIES:
        options = {"relay": {"reconnect_max": 2.0}, "outbox": {"retry_max": 2.0}}
        node = NodeProcess.create(tmp_path / party.lower(), party, relay.url, options)
        relay.add_member(node.bundle)
        nodes[party] = node
    sent: dict[str, tuple[str, str]] = {}
    started: list[ServiceProcess] = []
    try:
        for service in (relay, *nodes.values()):
            service.start()
            started.append(service)
        # Under load, kill the primary once three messages are ACCEPTED.
        for _ in range(3):
            send_round(nodes, sent)
        wait_for(lambda: accepted_count(nodes, sent) >= 3, DELIVERY_BOUND_S, "3 ACCEPTED")
        before = accepted_count(nodes, sent)
        killed_at = time.time()
        pg_cluster.kill()
        send_round(nodes, sent)  # no writable server: the relay answers 503, senders retry
        wait_for(lambda: statuses(relay)[503] > 0, DELIVERY_BOUND_S, "a 503 from the relay")
        promoting_at = time.time()
        pg_standby.promote()
        send_round(nodes, sent)
        first = wait_for(
            lambda: first_event_after(relay, "envelope.accepted", killed_at),
            DELIVERY_BOUND_S,
            "an ACCEPTED",
        )
        print(
            f"primary killed: first ACCEPTED on the promoted standby {first - killed_at:.2f} s"
            f" after the kill ({first - promoting_at:.2f} s after `pg_ctl promote` began,"
            f" which was {promoting_at - killed_at:.2f} s after the kill)"
        )
        assert first - killed_at <= PROMOTED_BOUND_S
        wait_for(lambda: all_delivered(nodes, sent), DELIVERY_BOUND_S, "every message delivered")
        # The leader lock's connection found the new primary: it leads and signs again.
        for duty in ("leader.elected", "audit.checkpoint"):
            wait_for(partial(first_event_after, relay, duty, killed_at), DELIVERY_BOUND_S, duty)
        assert accepted_count(nodes, sent) == len(sent) > before
        assert relay.proc is not None and relay.proc.poll() is None  # never restarted
        seen = statuses(relay)
        assert seen[503] > 0 and seen[500] == 0, seen  # 503s only, meanwhile
        assert not relay.events("http.internal_error")
    finally:
        for service in reversed(started):
            service.stop()
    for msg_id, (_, to) in sent.items():
        assert [m.msg_id for m in nodes[to].messages("in")].count(msg_id) == 1, msg_id
    promoted = pg_standby.database_url("relay_ha")
    kinds = Counter((e["type"], e["msg_id"]) for e in asyncio.run(relay_events(promoted)))
    for msg_id in sent:
        assert kinds[("accepted", msg_id)] == 1 and kinds[("delivered", msg_id)] == 1, msg_id
    report = relay_cli("audit", "verify", "--data", str(relay.data), "--database-url", url)
    assert report["ok"] is True, report


async def test_hosts_that_answer_but_none_writable_are_unavailable_not_an_error(
    tmp_path: Path, pg_standby: PgCluster
) -> None:
    url = (
        f"postgresql+asyncpg://postgres@/postgres?host=127.0.0.1:{pg_standby.port}"
        "&target_session_attrs=read-write"
    )
    engine = make_engine(database_url(url, tmp_path))
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert isinstance(database_failure(caught.value), Unavailable), repr(caught.value)
    finally:
        await engine.dispose()
    with pytest.raises(ListenConnectFailed):
        async with listening(asyncpg_dsn(url), lambda _payload: None):
            pass

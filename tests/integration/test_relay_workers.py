"""``relay serve --workers 2`` on a private PostgreSQL: one leader, a takeover after kill -9.

Real processes: the supervisor and its two forked workers share one port (SO_REUSEPORT).
The leader (the worker holding the leader lock) signs checkpoints and issues OVERDUE;
killed with SIGKILL, it is restarted by the supervisor and the other worker (or the new
one) takes the lock. SIGHUP reaches every worker; a port held by another program makes the
supervisor give up with exit 8 instead of restarting for ever; a supervisor killed outright
takes its workers with it. Nothing is done twice: one
OVERDUE per envelope, no two checkpoints of one tree size. Every wait is on a condition,
with a bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from keys.host.command import EXIT_CONFIG
from tests.integration.relaykit import Member, make_member, seal
from tests.integration.relayproc import RelayProcess, SignedClient, relay_cli
from tests.support.pgcluster import PgCluster
from tests.support.processes import run_module, wait_for

BOUND = 60.0  # seconds: generous for a loaded 2-core machine
TAKEOVER_BOUND = 20.0  # leader_check_seconds is 0.5 here: a takeover far inside this


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def db_rows(url: str, query: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def submit_emergencies(
    relay: RelayProcess, fr: Member, de: Member, sent: list[str], count: int = 4
) -> None:
    """``count`` emergencies from FR to DE, each ACCEPTED (201), on new connections."""
    async with SignedClient(relay.url, "FR", fr.key) as client:
        for _ in range(count):
            envelope = seal(fr, de, datetime.now(UTC), priority="emergency")
            assert (await client.submit(envelope.to_bytes()))[0] == 201
            sent.append(envelope.header.msg_id)


def start_workers(relay: RelayProcess, count: int) -> None:
    args = ["serve", "--data", str(relay.data), "--port", str(relay.port), "--workers", str(count)]
    assert relay.database_url is not None
    relay.launch(f"workers-{relay.port}", "relay", *args, "--database-url", relay.database_url)
    relay.wait_ready(relay._healthy, BOUND, "no answer on /healthz")


async def test_two_workers_one_leader_and_a_takeover_after_kill_9(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    url = pg_cluster.create_database("relay_workers")
    env = {
        "POCNET_RELAY_OVERDUE_EMERGENCY_SECONDS": "1",
        "POCNET_RELAY_LEADER_CHECK_SECONDS": "0.5",
    }
    relay = RelayProcess.create(tmp_path / "relay", database_url=url, env=env)
    now = datetime.now(UTC)
    fr, de = make_member("FR", now=now), make_member("DE", now=now)
    relay.add_member(fr.bundle)
    relay.add_member(de.bundle)
    sent: list[str] = []
    with socket.socket() as taken:  # the port held by another program: exit 8, not a loop
        taken.bind(("127.0.0.1", relay.port))
        taken.listen()
        args = ["--port", str(relay.port), "--database-url", url, "--workers", "2"]
        busy = run_module("relay", "serve", "--data", str(relay.data), *args, env=env)
    assert busy.returncode == EXIT_CONFIG, busy.stdout + busy.stderr
    assert '"workers.giving_up"' in busy.stdout and "cannot listen" in busy.stdout
    start_workers(relay, 2)
    try:
        wait_for(lambda: len(relay.events("workers.started")) >= 2, BOUND, "2 workers")
        pids = {w["pid"] for w in relay.events("workers.started")}
        first = wait_for(lambda: relay.events("leader.elected"), BOUND, "a leader")
        leader = first[0]["pid"]
        assert leader in pids
        await submit_emergencies(relay, fr, de, sent)
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        taken = wait_for(
            lambda: [e for e in relay.events("leader.elected") if e["pid"] != leader],
            TAKEOVER_BOUND,
            "another worker to lead",
        )
        takeover = time.monotonic() - killed_at
        print(f"leader takeover after kill -9: {takeover:.2f} s (pid {taken[0]['pid']})")
        assert not alive(leader)
        wait_for(lambda: len(relay.events("workers.started")) >= 3, BOUND, "a restart")
        # New connections: those to the killed worker died with it (a client reconnects).
        await submit_emergencies(relay, fr, de, sent)

        async def overdue() -> list[Any]:
            return await db_rows(url, "SELECT msg_id FROM events WHERE type = 'overdue'")

        deadline = time.monotonic() + BOUND
        while len(await overdue()) < len(sent):
            assert time.monotonic() < deadline, "OVERDUE not issued for every envelope"
            await asyncio.sleep(0.1)
        issued = [r["msg_id"] for r in await overdue()]
        assert sorted(issued) == sorted(sent)  # one each: no duplicate duty
        twice = await db_rows(
            url, "SELECT tree_size FROM checkpoints GROUP BY tree_size HAVING count(*) > 1"
        )
        assert twice == []
        assert len(relay.events("leader.elected")) == 2
        assert relay.proc is not None
        relay.proc.send_signal(signal.SIGHUP)  # passed on: every worker re-reads the members
        wait_for(lambda: len(relay.events("members.reloaded")) >= 2, BOUND, "2 reloads")
    finally:
        code = relay.stop(BOUND)
    assert code == 0
    assert not any(alive(w["pid"]) for w in relay.events("workers.started"))
    # The supervisor killed outright: its workers stop too (Linux parent-death signal).
    start_workers(relay, 2)
    wait_for(lambda: len(relay.events("workers.started")) >= 2, BOUND, "2 workers again")
    orphans = [w["pid"] for w in relay.events("workers.started")]
    relay.kill()
    wait_for(lambda: not any(alive(p) for p in orphans), BOUND, "the workers to stop")
    report = relay_cli("audit", "verify", "--data", str(relay.data), "--database-url", url)
    assert report["ok"] is True and report["entries"] >= 2 * len(sent)

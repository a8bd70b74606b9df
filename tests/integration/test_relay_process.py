"""The real ``relay serve`` process: HTTP on loopback, logs, signals, crash recovery.

Each test starts ``python -m relay serve`` on a free 127.0.0.1 port with its own data folder
and stops it; waits are bounded. PostgreSQL variants skip without POCNET_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.keystore import verify_bundle
from keys.receipts import verify as verify_receipt
from tests.integration.relaykit import (
    create_pg_database,
    drop_pg_database,
    make_member,
    node_receipt,
    seal,
    skip_without_postgres,
)
from tests.integration.relayproc import RelayProcess, SignedClient, relay_cli
from tests.support.processes import run_module

KILL_AFTER_ACCEPTED = 30  # the relay is killed once this many (to twice this many) are ACCEPTED

pytestmark = pytest.mark.e2e


def _now() -> datetime:
    return datetime.now(UTC)


async def test_serve_end_to_end_logs_reload_and_graceful_stop(tmp_path: Path) -> None:
    relay = RelayProcess.create(tmp_path / "relay")
    fr, de, it = make_member("FR"), make_member("DE"), make_member("IT")
    relay.add_member(fr.bundle)
    relay.add_member(de.bundle)
    relay_key = verify_bundle(relay.relay_bundle).signing_key
    env = seal(fr, de, _now(), priority="urgent")
    secrets = [env.to_wire()["ciphertext"], env.to_wire()["sig"]]
    relay.start()
    try:
        async with (
            SignedClient(relay.url, "FR", fr.key) as cf,
            SignedClient(relay.url, "DE", de.key) as cd,
        ):
            waiting = asyncio.create_task(cd.inbox(wait=20))
            await asyncio.sleep(0.3)
            status, body = await cf.submit(env.to_bytes())
            assert status == 201
            receipt = verify_receipt(body["receipt"], relay_key).receipt
            secrets.append(body["receipt"]["sig"])
            status, inbox = await asyncio.wait_for(waiting, 5)
            assert inbox["items"][0]["envelope"] == env.to_wire()
            assert await cd.ack([inbox["items"][0]["id"]]) == (200, {"acked": 1, "unknown": 0})
            retrieved = node_receipt(de, env, "RETRIEVED", _now())
            secrets.append(retrieved.to_wire()["sig"])
            assert (await cd.send_receipt(retrieved.to_bytes()))[0] == 201
            _, sender_inbox = await cf.inbox()
            assert [i["type"] for i in sender_inbox["items"]] == ["receipt", "receipt"]
            assert (await cf.evidence(receipt.msg_id))[0] == 200
            secrets += [cf.sign("GET", "/v1/inbox")["Signature"].split(":")[1]]

            # A member added while running is let in after SIGHUP.
            async with SignedClient(relay.url, "IT", it.key) as ci:
                assert (await ci.inbox())[0] == 403
                relay.add_member(it.bundle)
                assert relay.proc is not None
                relay.proc.send_signal(signal.SIGHUP)
                for _ in range(100):
                    if (await ci.inbox())[0] == 200:
                        break
                    await asyncio.sleep(0.05)
                assert (await ci.inbox())[0] == 200

            # SIGTERM releases a waiting long-poll at once and exits cleanly.
            waiting = asyncio.create_task(cd.inbox(wait=25))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            relay.proc.send_signal(signal.SIGTERM)
            status, inbox = await asyncio.wait_for(waiting, 10)
            assert status == 200 and inbox == {"items": []}
            assert relay.proc.wait(15) == 0
            assert time.monotonic() - started < 10
            relay.proc = None
    finally:
        relay.stop()

    output = relay.output()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all("request_id" in line and "." in line["event"] for line in lines)
    events = {line["event"] for line in lines}
    assert {
        "envelope.accepted",
        "envelope.delivered",
        "receipt.retrieved",
        "http.request",
    } <= events
    assert {"relay.listening", "relay.stopped", "directory.installed"} <= events
    keystore = json.loads((relay.data / "keystore.json").read_text())
    secrets.append(keystore["secrets"]["signing_key"])
    for secret in secrets:
        assert secret not in output, "a ciphertext, signature or key reached the log"
    # The operator's reader understands the same file.
    logs = run_module("relay", "logs", "--event", "envelope.", str(relay.log_path), timeout=30)
    assert logs.returncode == 0, logs.stderr
    shown = logs.stdout
    assert "envelope.accepted" in shown and "http.request" not in shown


def test_serve_refuses_a_database_whose_schema_is_behind(tmp_path: Path) -> None:
    data = tmp_path / "relay"
    relay_cli("init", "--data", str(data), "--no-passphrase")
    status = run_module("relay", "db", "status", "--data", str(data), timeout=30)
    assert status.returncode == 8 and "relay db upgrade" in status.stdout
    proc = run_module("relay", "serve", "--data", str(data), "--port", "1", timeout=30)
    assert proc.returncode == 8
    assert "relay db upgrade" in proc.stderr


async def _submit_until_killed(
    relay: RelayProcess, senders: list, recipient: object, accepted: set[str], tried: set[str]
) -> None:
    async def sender(member: object) -> None:
        async with SignedClient(relay.url, member.party, member.key) as c:  # type: ignore[attr-defined]
            while True:
                env = seal(member, recipient, _now())  # type: ignore[arg-type]
                tried.add(env.header.msg_id)
                try:
                    status, _ = await c.submit(env.to_bytes())
                except Exception:
                    return  # the relay is gone
                if status in (200, 201):
                    accepted.add(env.header.msg_id)

    # Kill once N envelopes are ACCEPTED (N varies, so the kill lands at various points of
    # the writer's cycle), not after a delay: a loaded machine only makes it later.
    target = random.randint(KILL_AFTER_ACCEPTED, 2 * KILL_AFTER_ACCEPTED)
    tasks = [asyncio.create_task(sender(m)) for m in senders]
    deadline = time.monotonic() + 120  # bounded: far beyond a loaded machine's pace
    while len(accepted) < target and time.monotonic() < deadline:
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.005)
    relay.kill()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_kill_9_loses_no_accepted_envelope(tmp_path: Path, backend: str) -> None:
    url = None
    if backend == "postgres":
        skip_without_postgres()
        url = await create_pg_database()
    try:
        relay = RelayProcess.create(
            tmp_path / "relay",
            database_url=url,
            env={"POCNET_RELAY_RATE_PER_SECOND": "10000", "POCNET_RELAY_RATE_BURST": "10000"},
        )
        senders = [make_member(p) for p in ("FR", "IT", "ES", "NL")]
        de = make_member("DE")
        for m in [*senders, de]:
            relay.add_member(m.bundle)
        accepted: set[str] = set()
        tried: set[str] = set()
        relay.start()
        await _submit_until_killed(relay, senders, de, accepted, tried)
        assert len(accepted) >= KILL_AFTER_ACCEPTED, "the test must kill a busy relay"

        relay.start()
        received: list[str] = []
        async with SignedClient(relay.url, "DE", de.key) as cd:
            while True:
                _, inbox = await cd.inbox(limit=100)
                if not inbox["items"]:
                    break
                received += [
                    json.loads(_b64(i["envelope"]["header"]))["msg_id"] for i in inbox["items"]
                ]
                await cd.ack([i["id"] for i in inbox["items"]])
        relay.stop()
        print(
            f"FAULT-SUMMARY kill-9-{backend} tried={len(tried)} accepted={len(accepted)} "
            f"delivered={len(set(received))} lost={len(accepted - set(received))} "
            f"duplicated={len(received) - len(set(received))}"
        )
        assert accepted <= set(received), f"{len(accepted - set(received))} accepted envelopes lost"
        assert len(received) == len(set(received)), "an envelope was delivered twice"
        assert set(received) <= tried
    finally:
        if url is not None:
            await drop_pg_database(url)


def _b64(text: str) -> bytes:
    from keys.encoding import b64u_decode

    return b64u_decode(text)


@pytest.mark.postgres
async def test_postgres_long_poll_wakes_across_relay_processes(tmp_path: Path) -> None:
    skip_without_postgres()
    url = await create_pg_database()
    try:
        a = RelayProcess.create(tmp_path / "a", database_url=url)
        b = RelayProcess(tmp_path / "b", database_url=url)
        relay_cli("init", "--data", str(b.data), "--no-passphrase")
        fr, de = make_member("FR"), make_member("DE")
        for relay in (a, b):
            relay.add_member(fr.bundle)
            relay.add_member(de.bundle)
        with a.running(), b.running():
            async with (
                SignedClient(a.url, "FR", fr.key) as cf,
                SignedClient(b.url, "DE", de.key) as cd,
            ):
                waiting = asyncio.create_task(cd.inbox(wait=20))
                await asyncio.sleep(0.5)
                env = seal(fr, de, _now())
                started = time.perf_counter()
                assert (await cf.submit(env.to_bytes()))[0] == 201
                status, inbox = await asyncio.wait_for(waiting, 10)
                latency = time.perf_counter() - started
                assert status == 200
                assert inbox["items"][0]["envelope"] == env.to_wire()
                assert latency < 1.0, f"cross-process wake-up took {latency:.3f} s"
    finally:
        await drop_pg_database(url)

"""SIGTERM while senders submit: in-flight requests finish, nothing is half-written.

Starts the real ``relay serve`` on a free loopback port, keeps four senders submitting,
sends SIGTERM in the middle, and checks after a restart that every envelope answered with
an ``ACCEPTED`` receipt (each verified with the relay's key) is delivered exactly once, that
nothing the relay holds was not sent, that the audit log verifies, and that the process
exited 0 within a bounded time.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.encoding import b64u_decode
from keys.keystore import verify_bundle
from keys.receipts import verify as verify_receipt
from tests.integration.relaykit import make_member, seal
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import run_module

pytestmark = pytest.mark.e2e


async def test_sigterm_finishes_in_flight_submits_and_loses_nothing(tmp_path: Path) -> None:
    relay = RelayProcess.create(
        tmp_path / "relay",
        env={"POCNET_RELAY_RATE_PER_SECOND": "10000", "POCNET_RELAY_RATE_BURST": "10000"},
    )
    senders = [make_member(p) for p in ("FR", "IT", "ES", "NL")]
    de = make_member("DE")
    for m in [*senders, de]:
        relay.add_member(m.bundle)
    relay_key = verify_bundle(relay.relay_bundle).signing_key
    accepted: set[str] = set()
    tried: set[str] = set()
    stop = asyncio.Event()

    async def sender(member: object) -> None:
        async with SignedClient(relay.url, member.party, member.key) as c:  # type: ignore[attr-defined]
            while not stop.is_set():
                env = seal(member, de, datetime.now(UTC))  # type: ignore[arg-type]
                tried.add(env.header.msg_id)
                try:
                    status, body = await c.submit(env.to_bytes())
                except Exception:
                    return  # the listener is closed: the relay is shutting down
                if status in (200, 201):
                    receipt = verify_receipt(body["receipt"], relay_key).receipt
                    assert receipt.type == "ACCEPTED" and receipt.msg_id == env.header.msg_id
                    accepted.add(env.header.msg_id)
                elif status != 503:  # 503 = shutting down; anything else is a defect
                    raise AssertionError(f"unexpected status {status}: {body}")

    relay.start()
    try:
        tasks = [asyncio.create_task(sender(m)) for m in senders]
        await asyncio.sleep(1.0)
        assert relay.proc is not None
        started = time.monotonic()
        relay.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(relay.proc.wait, 20)
        elapsed = time.monotonic() - started
        relay.proc = None
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert code == 0, "relay serve must exit 0 on SIGTERM"
        assert elapsed < 15
        assert len(accepted) > 10, "the test must stop a busy relay"

        relay.start()
        received: list[str] = []
        async with SignedClient(relay.url, "DE", de.key) as cd:
            for _ in range(1000):  # bounded: at most 100 envelopes per answer
                _, inbox = await cd.inbox(limit=100)
                if not inbox["items"]:
                    break
                received += [
                    json.loads(b64u_decode(i["envelope"]["header"]))["msg_id"]
                    for i in inbox["items"]
                ]
                await cd.ack([i["id"] for i in inbox["items"]])
    finally:
        relay.stop()

    assert accepted <= set(received), f"{len(accepted - set(received))} accepted envelopes lost"
    assert len(received) == len(set(received)), "an envelope was delivered twice"
    assert set(received) <= tried
    output = relay.output()
    assert '"relay.stopped"' in output
    verify = run_module("relay", "audit", "verify", "--data", str(relay.data), timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr

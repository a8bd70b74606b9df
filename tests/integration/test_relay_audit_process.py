"""The audit log of a real ``relay serve`` process, checked as a node and an operator would.

A node exchanges a message, fetches its evidence, the checkpoint and a consistency proof
over HTTP and verifies them with ``keys.auditlog.check``; ``relay audit tail --follow`` (a
second process) prints the entries as they are logged; after the relay stops,
``relay audit verify`` passes, then names the entry an intruder changed and exits 7.
SQLite (bounded re-reads) and PostgreSQL (LISTEN/NOTIFY) when POCNET_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog.check import check_consistency, check_entry_inclusion
from keys.encoding import b64u_decode
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
from tests.support.processes import ROOT, run_module

pytestmark = pytest.mark.e2e
ORIGIN = "pocnet.relay/pocnet"


@contextlib.asynccontextmanager
async def follow(relay: RelayProcess) -> AsyncIterator[asyncio.subprocess.Process]:
    cmd = [sys.executable, "-m", "relay", "audit", "tail", "--follow", "--json", "--from", "0"]
    cmd += ["--data", str(relay.data), *relay._db_args()]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def read_entries(proc: asyncio.subprocess.Process, count: int) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    lines = [await asyncio.wait_for(proc.stdout.readline(), 10) for _ in range(count)]
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_a_real_relay_keeps_a_log_nodes_and_operators_can_verify(
    tmp_path: Path, backend: str
) -> None:
    url = None
    if backend == "postgres":
        skip_without_postgres()
        url = await create_pg_database()
    try:
        relay = RelayProcess.create(tmp_path / "relay", database_url=url)
        fr, de = make_member("FR"), make_member("DE")
        relay.add_member(fr.bundle)
        relay.add_member(de.bundle)
        relay_key = verify_bundle(relay.relay_bundle).signing_key
        now = datetime.now(UTC)
        env = seal(fr, de, now)
        with relay.running():
            async with (
                follow(relay) as tail,
                SignedClient(relay.url, "FR", fr.key) as cf,
                SignedClient(relay.url, "DE", de.key) as cd,
            ):
                assert [e["type"] for e in await read_entries(tail, 1)] == ["directory_installed"]
                status, body = await cf.submit(env.to_bytes())
                assert status == 201
                accepted = verify_receipt(body["receipt"], relay_key)
                shown = await read_entries(tail, 1)  # printed as soon as it is committed
                assert shown[0]["seq"] == accepted.receipt.leaf_index == 1
                assert shown[0]["msg_id"] == env.header.msg_id
                _, inbox = await cd.inbox()
                await cd.ack([inbox["items"][0]["id"]])
                retrieved = node_receipt(de, env, "RETRIEVED", datetime.now(UTC))
                assert (await cd.send_receipt(retrieved.to_bytes()))[0] == 201
                assert [e["type"] for e in await read_entries(tail, 2)] == [
                    "delivered",
                    "retrieved",
                ]

                status, evidence = await cf.evidence(env.header.msg_id)
                assert status == 200
                cp = signed_checkpoint.verify(evidence["checkpoint"].encode(), relay_key, ORIGIN)
                assert cp.size == 4
                for proof in evidence["proofs"]:
                    entry = b64u_decode(proof["entry"])
                    hashes = [b64u_decode(h) for h in proof["hashes"]]
                    check_entry_inclusion(
                        entry, proof["leaf_index"], hashes, cp, expect={"msg_id": env.header.msg_id}
                    )
                assert evidence["proofs"][0]["leaf_index"] == accepted.receipt.leaf_index
                retrieved_entry = b64u_decode(evidence["proofs"][2]["entry"])
                assert json.loads(retrieved_entry)["receipt_sha256"] == retrieved.sha256

                second = seal(fr, de, datetime.now(UTC))
                assert (await cf.submit(second.to_bytes()))[0] == 201
                status, latest, _ = await cf.request("GET", "/v1/audit/checkpoint")
                newer = signed_checkpoint.verify(latest["checkpoint"].encode(), relay_key, ORIGIN)
                if newer.size == cp.size:  # signed at most once a second: ask again shortly
                    await asyncio.sleep(1.2)
                    _, latest, _ = await cf.request("GET", "/v1/audit/checkpoint")
                    newer = signed_checkpoint.verify(
                        latest["checkpoint"].encode(), relay_key, ORIGIN
                    )
                assert newer.size == 5
                _, body, _ = await cd.request(
                    "GET", f"/v1/audit/proofs/consistency?from={cp.size}&to={newer.size}"
                )
                proof = [b64u_decode(h) for h in body["hashes"]]
                assert check_consistency(cp, newer, proof) == newer

        args = ["--data", str(relay.data), *relay._db_args()]
        report = relay_cli("audit", "verify", *args)
        assert report["ok"] and report["entries"] == 5 and report["checkpoints_checked"] >= 3
        shown = relay_cli("audit", "checkpoint", *args)
        assert shown["verified"] and shown["tree_size"] == 5

        await _change_event(relay, url, seq=2)
        proc = run_module("relay", "audit", "verify", *args, "--json")
        assert proc.returncode == 7, proc.stdout + proc.stderr
        problem = json.loads(proc.stdout)["problem"]
        assert (problem["kind"], problem["seq"], problem["type"]) == (
            "leaf_mismatch",
            2,
            "delivered",
        )
        assert problem["msg_id"] == env.header.msg_id
    finally:
        if url is not None:
            await drop_pg_database(url)


async def _change_event(relay: RelayProcess, url: str | None, seq: int) -> None:
    """What an intruder with database access does: change the recipient of one event."""
    statement = "UPDATE events SET recipient = 'IT' WHERE seq = {}"
    if url is None:
        with contextlib.closing(sqlite3.connect(relay.data / "relay.db")) as db, db:
            db.execute(statement.format(int(seq)))
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(statement.format(int(seq)))
    finally:
        await conn.close()

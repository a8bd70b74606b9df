"""The audit API in-process: checkpoints, proofs and evidence verify as a node would check them.

SQLite, and PostgreSQL when POCNET_TEST_POSTGRES_URL is set. The fork test runs two relays
on two SQLite databases that sign with the same key.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.auditlog.check import check_consistency, check_entry_inclusion
from keys.auditlog.checkpoint import Checkpoint
from keys.auditlog.entry import parse_entry
from keys.encoding import b64u_decode
from keys.errors import Rejected
from keys.receipts import peek_issuer
from keys.receipts import verify as verify_receipt
from relay.app import WRITER
from relay.audit.append import Event
from relay.audit.checkpoints import latest
from relay.audit.verify import verify_log
from relay.config import RelayConfig
from relay.http.routes import AUDIT
from relay.storage.database import make_engine
from relay.storage.schema import events
from tests.integration.relaykit import AppUnderTest, database, node_receipt, seal, start_app

ORIGIN = "pocnet.relay/pocnet"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url)


async def get_checkpoint(relay: AppUnderTest, party: str = "FR") -> Checkpoint:
    async with relay.client(party) as c:
        status, body, _ = await c.request("GET", "/v1/audit/checkpoint")
    assert status == 200 and set(body) == {"checkpoint"}
    return signed_checkpoint.verify(body["checkpoint"].encode(), relay.relay_key, ORIGIN)


async def logged_entries(relay: AppUnderTest) -> list[bytes]:
    engine = make_engine(relay.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(events).order_by(events.c.seq))
            return [Event.from_row(r._mapping).entry() for r in rows]
    finally:
        await engine.dispose()


async def exchange(relay: AppUnderTest) -> tuple[Any, dict[str, Any]]:
    """FR sends DE a message; DE downloads, acks and sends RETRIEVED. Returns (env, evidence)."""
    fr, de = relay.members["FR"], relay.members["DE"]
    env = seal(fr, de, relay.clock())
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        _, inbox = await cd.inbox()
        assert (await cd.ack([inbox["items"][0]["id"]]))[1]["acked"] == 1
        retrieved = node_receipt(de, env, "RETRIEVED", relay.clock())
        assert (await cd.send_receipt(retrieved.to_bytes()))[0] == 201
        status, evidence = await cf.evidence(env.header.msg_id)
        assert status == 200
    return env, evidence


async def test_proofs_verify_against_the_served_checkpoint(relay: AppUnderTest) -> None:
    await exchange(relay)  # the evidence call signs a checkpoint covering the exchange
    first = await get_checkpoint(relay)
    entries = await logged_entries(relay)
    assert first.size == len(entries) == 4  # directory_installed, accepted, delivered, retrieved
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert first.root_hash == merkle.mth(leaves)
    async with relay.client("DE") as c:
        for i in range(first.size):
            status, body, _ = await c.request(
                "GET", f"/v1/audit/proofs/inclusion?index={i}&size={first.size}"
            )
            assert status == 200 and (body["leaf_index"], body["tree_size"]) == (i, first.size)
            proof = [b64u_decode(h) for h in body["hashes"]]
            merkle.verify_inclusion(leaves[i], i, first.size, proof, first.root_hash)
    await exchange(relay)
    second = await get_checkpoint(relay, "IT")
    assert second.size == 7
    async with relay.client("IT") as c:
        status, body, _ = await c.request(
            "GET", f"/v1/audit/proofs/consistency?from={first.size}&to={second.size}"
        )
    assert status == 200 and (body["old_size"], body["new_size"]) == (4, 7)
    proof = [b64u_decode(h) for h in body["hashes"]]
    assert check_consistency(first, second, proof) == second
    with pytest.raises(Rejected, match="rejected") as err:
        check_consistency(first, second, proof[:-1])
    assert err.value.reason == "audit_proof_length"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("inclusion?index=0", 400, "invalid_field"),
        ("inclusion?index=0&size=", 400, "invalid_field"),
        ("inclusion?index=01&size=2", 400, "invalid_field"),
        ("inclusion?index=-1&size=2", 400, "invalid_field"),
        ("inclusion?index=0x1&size=2", 400, "invalid_field"),
        (
            "inclusion?index=%C2%B9&size=2",
            400,
            "invalid_field",
        ),  # a superscript one is not a digit here
        ("inclusion?index=1&size=1", 400, "bad_tree_range"),
        ("inclusion?index=0&size=0", 400, "bad_tree_range"),
        ("inclusion?index=0&size=1&size=1", 400, "invalid_field"),
        ("inclusion?index=0&size=9223372036854775808", 400, "invalid_field"),
        ("inclusion?index=0&size=9223372036854775807", 404, "tree_size_unknown"),
        ("inclusion?index=0&size=2", 404, "tree_size_unknown"),
        ("inclusion?index=0&size=1", 200, None),
        ("consistency?from=1", 400, "invalid_field"),
        ("consistency?from=2&to=1", 400, "bad_tree_range"),
        ("consistency?from=0&to=2", 404, "tree_size_unknown"),
        ("consistency?from=1e0&to=1", 400, "invalid_field"),
        ("consistency?from=0&to=0", 200, None),
        ("consistency?from=1&to=1", 200, None),
    ],
)
async def test_bad_proof_requests_are_refused(
    relay: AppUnderTest, query: str, status: int, code: str | None
) -> None:
    async with relay.client("FR") as c:  # the log holds one entry: directory_installed
        got, body, _ = await c.request("GET", "/v1/audit/proofs/" + query)
    assert got == status, body
    if status != 200:
        assert set(body) == {"error", "message"} and body["error"] == code
    else:
        assert body["hashes"] == []


async def test_audit_endpoints_need_a_signed_request(relay: AppUnderTest) -> None:
    async with relay.client("FR") as c:
        for path in ("checkpoint", "proofs/inclusion?index=0&size=1", "proofs/consistency"):
            status, body, _ = await c.request("GET", "/v1/audit/" + path, sign=False)
            assert status == 401 and body["error"] == "unauthenticated"
    async with relay.client("SU") as c:
        assert (await c.request("GET", "/v1/audit/checkpoint"))[0] == 403


async def test_evidence_verifies_offline_for_each_receipt(relay: AppUnderTest) -> None:
    env, evidence = await exchange(relay)
    de = relay.members["DE"]
    checkpoint = signed_checkpoint.verify(evidence["checkpoint"].encode(), relay.relay_key, ORIGIN)
    proofs = evidence["proofs"]
    assert [parse_entry(b64u_decode(p["entry"]))["type"] for p in proofs] == [
        "accepted",
        "delivered",
        "retrieved",
    ]
    by_type = {}
    for wire in evidence["receipts"]:
        key = relay.relay_key if peek_issuer(wire) == "relay" else de.key.public
        signed = verify_receipt(wire, key)
        by_type[signed.receipt.type] = signed
    assert set(by_type) == {"ACCEPTED", "DELIVERED", "RETRIEVED"}
    for p in proofs:
        entry, index = b64u_decode(p["entry"]), p["leaf_index"]
        hashes = [b64u_decode(h) for h in p["hashes"]]
        fields = parse_entry(entry)
        expect: dict[str, Any] = {"msg_id": env.header.msg_id, "envelope_sha256": env.sha256}
        if fields["type"] == "accepted":
            assert index == by_type["ACCEPTED"].receipt.leaf_index
        else:
            expect["receipt_sha256"] = by_type[fields["type"].upper()].sha256
        check_entry_inclusion(entry, index, hashes, checkpoint, expect=expect)
        with pytest.raises(Rejected):
            check_entry_inclusion(entry, index ^ 1, hashes, checkpoint, expect=expect)
    async with relay.client("DE") as cd, relay.client("IT") as ci:
        assert (await cd.evidence(env.header.msg_id))[1]["proofs"] == proofs
        assert (await ci.evidence(env.header.msg_id))[0] == 404


async def test_a_stale_checkpoint_is_replaced_and_time_moves_on(relay: AppUnderTest) -> None:
    before = await get_checkpoint(relay)
    relay.clock.advance(seconds=RelayConfig().checkpoint_refresh_seconds + 1)
    after = await get_checkpoint(relay)
    assert after.size == before.size and after.root_hash == before.root_hash
    assert after.time > before.time
    assert check_consistency(before, after, []) == after


async def test_the_task_signs_soon_after_the_log_grows(tmp_path: Path, aiohttp_server: Any) -> None:
    async with database("sqlite", tmp_path) as url:
        config = RelayConfig(checkpoint_interval_seconds=0.05)
        relay = await start_app(aiohttp_server, url, config=config)
        fr, de = relay.members["FR"], relay.members["DE"]
        async with relay.client("FR") as c:
            assert (await c.submit(seal(fr, de, relay.clock()).to_bytes()))[0] == 201
        engine = make_engine(url)
        try:
            for _ in range(100):  # at most 5 s
                async with engine.connect() as conn:
                    stored = await latest(conn)
                if stored is not None and stored.tree_size == 2:
                    break
                await asyncio.sleep(0.05)
            assert stored is not None and stored.tree_size == 2
        finally:
            await engine.dispose()


async def test_a_relay_showing_two_histories_is_caught(tmp_path: Path, aiohttp_server: Any) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        database("sqlite", tmp_path / "a") as url_a,
        database("sqlite", tmp_path / "b") as url_b,
    ):
        a = await start_app(aiohttp_server, url_a)
        b = await start_app(aiohttp_server, url_b)
        b.members = a.members  # the same nodes...
        b.app[AUDIT].signer = a.app[AUDIT].signer  # ...and the same relay key
        b.relay_key = a.relay_key
        b.runtime.service.members = a.runtime.service.members
        for relay in (a, b):  # one message each: same size, different entries
            await exchange(relay)
        trusted = await get_checkpoint(a)
        shown = await get_checkpoint(b)
        assert trusted.size == shown.size and trusted.root_hash != shown.root_hash
        with pytest.raises(Rejected) as err:
            check_consistency(trusted, shown, [])
        assert err.value.reason == "fork"
        await exchange(b)  # b grows; its proof cannot reach a's root
        grown = await get_checkpoint(b)
        async with b.client("FR") as c:
            _, body, _ = await c.request(
                "GET", f"/v1/audit/proofs/consistency?from={trusted.size}&to={grown.size}"
            )
        with pytest.raises(Rejected) as err:
            check_consistency(trusted, grown, [b64u_decode(h) for h in body["hashes"]])
        assert err.value.reason == "fork"


async def test_deadline_and_purge_events_are_logged_and_proven(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    service = relay.runtime.service
    env = seal(fr, de, relay.clock(), priority="emergency", ttl=timedelta(minutes=10))
    async with relay.client("FR") as cf:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        assert (await service.process_deadlines(relay.clock.advance(minutes=6))).overdue == 1
        assert (await service.process_deadlines(relay.clock.advance(minutes=5))).expired == 1
        assert (await service.process_deadlines(relay.clock.advance(days=31))).purged == 1
        status, evidence = await cf.evidence(env.header.msg_id)
    assert status == 200
    checkpoint = signed_checkpoint.verify(evidence["checkpoint"].encode(), relay.relay_key, ORIGIN)
    kinds = []
    for p in evidence["proofs"]:
        entry = b64u_decode(p["entry"])
        hashes = [b64u_decode(h) for h in p["hashes"]]
        fields = check_entry_inclusion(
            entry, p["leaf_index"], hashes, checkpoint, expect={"msg_id": env.header.msg_id}
        )
        kinds.append(fields["type"])
    assert kinds == ["accepted", "overdue", "expired", "retention_purge"]
    engine = make_engine(relay.database_url)
    try:
        report = await verify_log(engine, [relay.relay_key], ORIGIN)
    finally:
        await engine.dispose()
    assert report.ok and report.entries == 5, report


async def test_concurrent_submits_share_commits_and_make_one_consistent_log(
    relay: AppUnderTest,
) -> None:
    senders = [relay.members[p] for p in ("FR", "DE", "IT")]
    envs = [
        seal(s, relay.members["DE" if s.party != "DE" else "FR"], relay.clock()) for s in senders
    ]
    envs += [
        seal(senders[i % 3], relay.members["IT" if i % 3 != 2 else "FR"], relay.clock())
        for i in range(27)
    ]
    batches_before = relay.app[WRITER].batches

    async def submit(env: Any) -> Any:
        async with relay.client(env.header.sender) as c:
            status, body = await c.submit(env.to_bytes())
        assert status == 201
        return verify_receipt(body["receipt"], relay.relay_key).receipt

    receipts = await asyncio.gather(*(submit(e) for e in envs))
    assert relay.app[WRITER].batches - batches_before < len(envs), "submits shared commits"
    entries = await logged_entries(relay)
    assert sorted(r.leaf_index for r in receipts) == list(range(1, len(envs) + 1))
    for r in receipts:
        fields = parse_entry(entries[r.leaf_index])
        assert (fields["type"], fields["msg_id"]) == ("accepted", r.msg_id)
    engine = make_engine(relay.database_url)
    try:
        report = await verify_log(engine, [relay.relay_key], ORIGIN)
    finally:
        await engine.dispose()
    assert report.ok and report.entries == len(envs) + 1, report
    head = await get_checkpoint(relay)
    assert head.size <= len(entries)
    assert head.root_hash == merkle.mth([merkle.leaf_hash(e) for e in entries[: head.size]])

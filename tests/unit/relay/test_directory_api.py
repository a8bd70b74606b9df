"""The relay API against an installed signed directory (in-process aiohttp server).

Revocation, suspension and reinstatement, evidence from before a revocation, encryption
keys rotated while envelopes are in flight, a retired signing key, pickup of a newly
installed version, and the relay key check at start. On SQLite and, when
POCNET_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from keys.directory import Directory, TrustedDirectory, edit
from keys.encoding import b64u_decode, canonical, parse_time
from keys.envelope import open_at
from keys.errors import ConfigError
from keys.identities import SigningKey
from keys.keystore import Keystore, make_bundle, verify_bundle
from keys.receipts import verify as verify_receipt
from relay.app import LISTENER, reload_members
from relay.config import RelayConfig
from relay.storage.database import is_postgres, make_engine
from relay.storage.schema import events
from tests.integration.directorykit import (
    DAY,
    World,
    directory_database,
    install_file,
    make_world,
    start_directory_app,
)
from tests.integration.relaykit import (
    AppUnderTest,
    FakeClock,
    Member,
    node_receipt,
    seal,
)

QUIET = RelayConfig(directory_check_seconds=3600.0)  # pickup only when the test asks


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: Any, tmp_path: Path) -> Any:
    async with directory_database(request.param, tmp_path) as url:
        yield url


def _world() -> tuple[World, FakeClock]:
    # In the past, as relaykit does: moving the clock forward never signs "in the future".
    clock = FakeClock(datetime.now(UTC) - timedelta(days=60))
    return make_world(clock() - timedelta(hours=1)), clock


async def _relay(
    aiohttp_server: Any, db: str, config: RelayConfig = QUIET
) -> tuple[World, AppUnderTest]:
    w, clock = _world()
    await install_file(db, w.signed(), clock(), w, pin=True)
    return w, await start_directory_app(aiohttp_server, db, w, clock, config=config)


async def _publish(relay: AppUnderTest, w: World) -> Directory:
    """Sign the newest version, install it, and have the running relay pick it up."""
    assert (await install_file(relay.database_url, w.signed(), relay.clock(), w, pin=False)).changed
    await reload_members(relay.app)  # on PostgreSQL, the NOTIFY may have been faster
    assert relay.runtime.service.members.version == str(w.directory.version)
    return w.directory


async def _directory_events(url: str) -> list[str]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(events.c.directory_version).where(events.c.type == "directory_installed")
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


def _relay_receipt(d: Directory, wire: dict[str, Any]) -> Any:
    issued = json.loads(b64u_decode(wire["payload"]))["issued_at"]
    return verify_receipt(wire, d.relay_key_for(parse_time(issued))).receipt


async def test_directory_is_served_as_signed(db: str, aiohttp_server: Any) -> None:
    w, relay = await _relay(aiohttp_server, db)
    async with relay.client("FR") as c:
        status, body = await c.directory()
    assert status == 200 and canonical(body) == w.signed()
    assert TrustedDirectory(w.root).update(canonical(body), relay.clock()).version == 1


async def test_revoked_party_is_refused_and_its_earlier_envelope_stays_evidence(
    db: str, aiohttp_server: Any
) -> None:
    w, relay = await _relay(aiohttp_server, db)
    fr, de = w.members["FR"], w.members["DE"]
    before = seal(fr, de, relay.clock())
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        status, body = await cf.submit(before.to_bytes())
        assert status == 201
        assert _relay_receipt(w.directory, body["receipt"]).type == "ACCEPTED"

        relay.clock.advance(minutes=5)
        sealed_earlier = seal(fr, de, relay.clock())  # sealed before the revocation
        relay.clock.advance(minutes=5)
        w.change(
            lambda d: edit.revoke(d, "FR", at=relay.clock(), reason="compromise"), relay.clock()
        )
        v2 = await _publish(relay, w)
        relay.clock.advance(seconds=1)

        # Its requests and its new envelopes are refused: 403.
        assert (await cf.inbox())[0] == 403
        assert (await cf.submit(seal(fr, de, relay.clock()).to_bytes()))[0] == 403
        assert (await cf.submit(sealed_earlier.to_bytes()))[0] == 403
        # Nobody can send to it either.
        status, err = await cd.submit(seal(de, fr, relay.clock()).to_bytes())
        assert (status, err) == (400, {"error": "rejected", "message": "rejected"})

        # The envelope accepted before the revocation is still delivered and verifies.
        _, inbox = await cd.inbox()
        [item] = inbox["items"]
        opened = open_at(
            relay.clock(),
            canonical(item["envelope"]),
            me="DE",
            sender_keys=v2,
            decryption_keys=de.keystore.decryption_keys(),
        )
        assert opened.msg_id == before.header.msg_id and opened.sender == "FR"
        assert (await cd.ack([item["id"]]))[1]["acked"] == 1
        retrieved = node_receipt(de, before, "RETRIEVED", relay.clock())
        assert (await cd.send_receipt(retrieved.to_bytes()))[0] == 201
        status, evidence = await cd.evidence(before.header.msg_id)
    assert status == 200 and evidence["envelope_sha256"] == before.sha256
    relay_types = [_relay_receipt(v2, r).type for r in evidence["receipts"][:2]]
    assert relay_types == ["ACCEPTED", "DELIVERED"]
    node = evidence["receipts"][2]
    assert verify_receipt(node, v2.signing_key_for("DE", relay.clock())).receipt.type == "RETRIEVED"
    # Each version is in the audit log once: the relay's pickup adds nothing.
    assert await _directory_events(db) == ["1", "2"]


async def test_suspended_party_is_refused_then_reinstated(db: str, aiohttp_server: Any) -> None:
    w, relay = await _relay(aiohttp_server, db)
    fr, de = w.members["FR"], w.members["DE"]
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        w.change(lambda d: edit.suspend(d, "DE", at=relay.clock(), reason="audit"), relay.clock())
        await _publish(relay, w)
        relay.clock.advance(seconds=1)
        status, err = await cd.inbox()
        assert (status, err["error"]) == (403, "forbidden")
        assert (await cd.submit(seal(de, fr, relay.clock()).to_bytes()))[0] == 403
        assert (await cf.submit(seal(fr, de, relay.clock()).to_bytes()))[0] == 400

        w.change(lambda d: edit.reinstate(d, "DE"), relay.clock())
        await _publish(relay, w)
        relay.clock.advance(seconds=1)
        assert (await cd.inbox())[0] == 200
        assert (await cf.submit(seal(fr, de, relay.clock()).to_bytes()))[0] == 201
        assert (await cd.submit(seal(de, fr, relay.clock()).to_bytes()))[0] == 201
    assert await _directory_events(db) == ["1", "2", "3"]


async def test_encryption_key_rotated_while_envelopes_are_in_flight(
    db: str, aiohttp_server: Any
) -> None:
    w, relay = await _relay(aiohttp_server, db)
    fr, de_old = w.members["FR"], w.members["DE"]
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        queued = seal(fr, de_old, relay.clock())  # at the relay before the rotation
        assert (await cf.submit(queued.to_bytes()))[0] == 201
        outbox = seal(fr, de_old, relay.clock())  # still in FR's outbox during the rotation

        relay.clock.advance(minutes=1)
        de = w.rotate_encryption_key("DE", relay.clock(), overlap=30 * DAY)
        v2 = await _publish(relay, w)
        assert outbox.header.enc_key_id in v2.decryption_key_ids_valid("DE", relay.clock())

        assert (await cf.submit(outbox.to_bytes()))[0] == 201  # old key, in the overlap
        fresh = seal(fr, de, relay.clock())
        assert fresh.header.enc_key_id != outbox.header.enc_key_id
        assert (await cf.submit(fresh.to_bytes()))[0] == 201

        _, inbox = await cd.inbox()
        got = {}
        for item in inbox["items"]:
            m = open_at(
                relay.clock(),
                canonical(item["envelope"]),
                me="DE",
                sender_keys=v2,
                decryption_keys=de.keystore.decryption_keys(),
            )
            got[m.msg_id] = item["id"]
        assert set(got) == {e.header.msg_id for e in (queued, outbox, fresh)}
        assert (await cd.ack(list(got.values())))[1]["acked"] == 3

        relay.clock.advance(days=31)  # the overlap is over: the old key is gone
        status, _ = await cf.submit(seal(fr, de_old, relay.clock()).to_bytes())
        assert status == 400
        assert (await cf.submit(seal(fr, de, relay.clock()).to_bytes()))[0] == 201


async def test_receipt_signed_with_a_retired_key_is_refused(db: str, aiohttp_server: Any) -> None:
    w, relay = await _relay(aiohttp_server, db)
    fr, de = w.members["FR"], w.members["DE"]
    env = seal(fr, de, relay.clock())
    async with relay.client("FR") as cf:
        assert (await cf.submit(env.to_bytes()))[0] == 201
    retrieved_old = node_receipt(de, env, "RETRIEVED", relay.clock())  # made, not yet sent

    relay.clock.advance(minutes=1)
    ks = Keystore("DE", SigningKey.generate(), de.keystore.encryption_keys)
    de_new = Member("DE", ks, make_bundle(ks, relay.clock()))
    at = relay.clock()
    w.change(lambda d: edit.rotate_signing_key(d, "DE", verify_bundle(de_new.bundle), at=at), at)
    await _publish(relay, w)
    w.members["DE"] = de_new
    relay.clock.advance(seconds=1)
    async with relay.client("DE") as cd:
        status, err = await cd.send_receipt(retrieved_old.to_bytes())
        assert (status, err["error"]) == (400, "rejected")
        # The new key, dated back into the old key's window: it would not verify later.
        backdated = node_receipt(de_new, env, "RETRIEVED", at - timedelta(seconds=30))
        assert (await cd.send_receipt(backdated.to_bytes()))[0] == 400
        fresh = node_receipt(de_new, env, "RETRIEVED", relay.clock())
        assert (await cd.send_receipt(fresh.to_bytes()))[0] == 201


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_running_relay_picks_up_a_new_version_by_itself(
    kind: str, tmp_path: Path, aiohttp_server: Any
) -> None:
    # SQLite: the version check every directory_check_seconds. PostgreSQL: the NOTIFY
    # alone (the periodic check is set to an hour, and the listener is connected before
    # the install, so its reconnect wake-up cannot be what finds the new version).
    interval = 0.05 if kind == "sqlite" else 3600.0
    async with directory_database(kind, tmp_path) as url:
        w, relay = await _relay(aiohttp_server, url, RelayConfig(directory_check_seconds=interval))
        assert is_postgres(relay.runtime.service.store.engine) == (kind == "postgres")
        async with relay.client("IT") as ci:
            assert (await ci.inbox())[0] == 200
            if kind == "postgres":
                await asyncio.wait_for(relay.app[LISTENER].ready.wait(), 30)
            w.change(lambda d: edit.revoke(d, "IT", at=relay.clock(), reason="left"), relay.clock())
            await install_file(url, w.signed(), relay.clock(), w, pin=False)
            relay.clock.advance(seconds=1)
            deadline = time.monotonic() + 10
            while (await ci.inbox())[0] != 403:
                assert time.monotonic() < deadline, "the new version was not picked up"
                await asyncio.sleep(0.05)
        assert relay.runtime.service.members.version == "2"


async def test_relay_refuses_to_start_with_a_key_the_directory_does_not_list(
    db: str, aiohttp_server: Any
) -> None:
    w, clock = _world()
    await install_file(db, w.signed(), clock(), w, pin=True)
    with pytest.raises(ConfigError) as info:
        await start_directory_app(aiohttp_server, db, w, clock, signing_key=SigningKey.generate())
    assert info.value.code == "relay_key_mismatch"
    assert "keys directory set-relay" in info.value.message


async def _checkpoint_size(client: Any) -> int:
    status, body, _ = await client.request("GET", "/v1/audit/checkpoint")
    assert status == 200
    return int(body["checkpoint"].split("\n")[1])


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_an_install_by_another_process_is_in_the_next_checkpoint_promptly(
    kind: str, tmp_path: Path, aiohttp_server: Any
) -> None:
    # The checkpoint refresh is an hour: only the install's wake-up can bring it in.
    # SQLite: the watcher's version check; PostgreSQL: the NOTIFY alone.
    interval = 0.05 if kind == "sqlite" else 3600.0
    cfg = RelayConfig(directory_check_seconds=interval, checkpoint_refresh_seconds=3600)
    async with directory_database(kind, tmp_path) as url:
        w, relay = await _relay(aiohttp_server, url, cfg)
        async with relay.client("FR") as c:
            before = await _checkpoint_size(c)
            if kind == "postgres":  # let the listener connect: then only NOTIFY can wake it
                await asyncio.sleep(0.5)
            w.change(
                lambda d: edit.suspend(d, "IT", at=relay.clock(), reason="audit"), relay.clock()
            )
            await install_file(url, w.signed(), relay.clock(), w, pin=False)  # its own engine
            deadline = time.monotonic() + 10  # bounded; the refresh would take an hour
            while await _checkpoint_size(c) <= before:
                assert time.monotonic() < deadline, "the install is not in a checkpoint"
                await asyncio.sleep(0.05)
        await relay.close()


async def test_a_directory_older_than_the_audit_log_says_is_refused(
    db: str, aiohttp_server: Any
) -> None:
    from structlog.testing import capture_logs

    from relay.directory.installed import DirectoryRollback
    from relay.storage.schema import directories

    w, relay = await _relay(aiohttp_server, db)
    w.change(lambda d: edit.suspend(d, "IT", at=relay.clock(), reason="audit"), relay.clock())
    await _publish(relay, w)  # version 2 in force, and in the audit log
    engine = make_engine(db, pool_size=1)
    try:
        async with engine.begin() as conn:  # the newest row disappears
            await conn.execute(directories.delete().where(directories.c.version == 2))
    finally:
        await engine.dispose()
    with capture_logs() as logs, pytest.raises(DirectoryRollback):
        await reload_members(relay.app)
    assert relay.runtime.service.members.version == "2", "the newer one stays in force"
    [event] = [e for e in logs if e["event"] == "directory.rollback_refused"]
    assert (event["log_level"], event["stored"], event["audited"]) == ("error", 1, 2)
    metrics = relay.runtime.metrics.render().decode()
    assert "pocnet_relay_directory_rollback_refused_total 1.0" in metrics
    with pytest.raises(ConfigError) as info:  # and a restart refuses to start on it
        await start_directory_app(aiohttp_server, db, w, relay.clock)
    assert info.value.code == "directory_rollback"

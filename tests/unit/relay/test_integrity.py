"""The relay notices a stored envelope that is no longer the one it accepted, and forwards
the recipient's REJECTED of it although it names another digest.

An intruder with only the database alters an envelope's bytes (and perhaps its digest
column). The relay still serves it (so its recipient refuses it visibly), but logs
``envelope.corrupt`` at error level, counts it, and says ``stored_envelope: altered`` in
the evidence answer. The recipient's ``REJECTED``, naming the digest of what it got, is
stored, logged in the audit log with that digest, and reaches the sender. On SQLite and
PostgreSQL (skipped with a reason when POCNET_TEST_POSTGRES_URL is unset).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from keys.encoding import b64u_decode, b64u_encode, canonical
from keys.envelope import Envelope
from relay.core.integrity import accepted_digest, check_stored, where_altered
from relay.storage.database import make_engine
from relay.storage.schema import envelopes, events
from tests.integration.relaykit import AppUnderTest, database, node_receipt, seal, start_app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url)


def _altered(wire: bytes) -> bytes:
    obj = json.loads(wire)
    ct = bytearray(b64u_decode(obj["ciphertext"]))
    ct[len(ct) // 2] ^= 0x01
    obj["ciphertext"] = b64u_encode(bytes(ct))
    return canonical(obj)


async def _sql(relay: AppUnderTest, statement: Any) -> Any:
    engine = make_engine(relay.database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            return result.all() if statement.is_select else None
    finally:
        await engine.dispose()


async def _tamper(relay: AppUnderTest, msg_id: str, *, fix_digest: bool) -> bytes:
    """Alter the stored bytes of ``msg_id`` (and the digest column); the new bytes."""
    [(raw,)] = await _sql(relay, select(envelopes.c.envelope).where(envelopes.c.msg_id == msg_id))
    data = _altered(bytes(raw))
    values: dict[str, Any] = {"envelope": data}
    if fix_digest:
        values["envelope_sha256"] = hashlib.sha256(data).hexdigest()
    await _sql(relay, update(envelopes).where(envelopes.c.msg_id == msg_id).values(**values))
    return data


async def _corrupt_metric(relay: AppUnderTest, where: str) -> float:
    async with relay.client("FR") as c:
        _, text, _ = await c.request("GET", "/metrics", sign=False)
    prefix = f'pocnet_relay_envelopes_corrupt_total{{where="{where}"}} '
    lines = [line for line in str(text).splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


TAMPERING = [
    # name, digest column rewritten too, what the relay's check says
    ("bytes only", False, "bytes_digest"),
    ("bytes and digest column", True, "accepted_digest"),
]


@pytest.mark.parametrize(("name", "fix_digest", "check"), TAMPERING, ids=[t[0] for t in TAMPERING])
async def test_altered_envelope_is_served_logged_and_counted(
    relay: AppUnderTest, name: str, fix_digest: bool, check: str
) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    env = seal(fr, de, relay.clock())
    msg_id = env.header.msg_id
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        assert (await cf.evidence(msg_id))[1]["stored_envelope"] == "intact"
        data = await _tamper(relay, msg_id, fix_digest=fix_digest)
        with capture_logs() as logs:
            _, inbox = await cd.inbox()
            _, evidence = await cf.evidence(msg_id)
    # Served anyway, so that DE refuses it with a REJECTED the sender sees.
    assert canonical(inbox["items"][0]["envelope"]) == data
    assert evidence["stored_envelope"] == "altered"
    corrupt = [e for e in logs if e["event"] == "envelope.corrupt"]
    assert [(e["where"], e["check"], e["log_level"]) for e in corrupt] == [
        ("inbox", check, "error"),
        ("evidence", check, "error"),
    ]
    assert all(e["msg_id"] == msg_id for e in corrupt)
    ciphertext = json.loads(data)["ciphertext"]
    assert ciphertext[:40] not in repr(logs)  # no content in any log line
    assert await _corrupt_metric(relay, "inbox") == 1.0
    assert await _corrupt_metric(relay, "evidence") == 1.0


async def test_intact_and_purged_envelopes(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    env = seal(fr, de, relay.clock())
    msg_id = env.header.msg_id
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        with capture_logs() as logs:
            _, inbox = await cd.inbox()
            assert (await cf.evidence(msg_id))[1]["stored_envelope"] == "intact"
        assert inbox["items"][0]["envelope"] == env.to_wire()
        assert not [e for e in logs if e["event"] == "envelope.corrupt"]
        await _sql(relay, update(envelopes).values(envelope=None))  # as retention does
        assert (await cf.evidence(msg_id))[1]["stored_envelope"] == "purged"
    assert await _corrupt_metric(relay, "inbox") == 0.0


async def test_rejected_naming_the_altered_digest_reaches_the_sender(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    env = seal(fr, de, relay.clock())
    msg_id = env.header.msg_id
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        assert (await cf.submit(env.to_bytes()))[0] == 201
        await _tamper(relay, msg_id, fix_digest=False)
        _, inbox = await cd.inbox()
        got = Envelope.parse(inbox["items"][0]["envelope"])
        assert got.sha256 != env.sha256
        # A RETRIEVED of other bytes is still refused: only a REJECTED may name them.
        retrieved = node_receipt(de, got, "RETRIEVED", relay.clock())
        status, err = await cd.send_receipt(retrieved.to_bytes())
        assert (status, err["error"]) == (400, "rejected")
        rejected = node_receipt(de, got, "REJECTED", relay.clock(), reason="verification_failed")
        with capture_logs() as logs:
            assert await cd.send_receipt(rejected.to_bytes()) == (201, {"stored": True})
        assert await cd.send_receipt(rejected.to_bytes()) == (200, {"stored": True})
        _, sender_inbox = await cf.inbox()
        assert [i["receipt"] for i in sender_inbox["items"]] == [rejected.to_wire()]
        _, evidence = await cf.evidence(msg_id)
        assert evidence["envelope_sha256"] == env.sha256  # the digest accepted stays
        assert rejected.to_wire() in evidence["receipts"]
    [differs] = [e for e in logs if e["event"] == "receipt.digest_differs"]
    assert differs["log_level"] == "error" and differs["altered"] == "relay_storage"
    assert (differs["accepted_sha256"], differs["recipient_sha256"]) == (env.sha256, got.sha256)
    # The audit log holds both digests: the accepted entry's and the rejected entry's.
    rows = await _sql(relay, select(events).where(events.c.msg_id == msg_id).order_by(events.c.seq))
    logged = {r.type: (r.envelope_sha256, r.receipt_sha256) for r in rows}
    assert logged["accepted"][0] == env.sha256
    assert logged["rejected"] == (got.sha256, rejected.sha256)
    assert await _corrupt_metric(relay, "receipt") == 1.0


def test_where_altered_and_the_pure_checks() -> None:
    wire = b'{"v":1}'
    other = b'{"v":2}'
    sha, sha_other = hashlib.sha256(wire).hexdigest(), hashlib.sha256(other).hexdigest()
    assert where_altered(sha, sha_other, other) == "relay_storage"
    assert where_altered(sha, sha_other, wire) == "after_the_relay"
    assert where_altered(sha, sha_other, b"x") == "unknown"
    assert where_altered(sha, sha_other, None) == "unknown"
    assert check_stored(wire, sha, None) is None
    assert check_stored(other, sha, None) == "bytes_digest"
    assert check_stored(wire, sha, b"not a receipt") == "accepted_receipt"
    assert accepted_digest(b'{"payload":"e30","sig":"' + b"A" * 86 + b'"}') is None

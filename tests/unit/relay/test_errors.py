"""Every error status of the relay API, with its stable code, on SQLite and PostgreSQL.

After each refusal nothing new is stored: the audit trail has not moved.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from keys.encoding import b64u_decode, b64u_encode, canonical
from keys.identities import SigningKey
from relay.config import RelayConfig
from tests.integration.relaykit import AppUnderTest, database, seal, start_app
from tests.integration.relayproc import SignedClient

SMALL = RelayConfig(max_envelope_bytes=8192, max_request_bytes=2048)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url, config=SMALL)


async def _event_count(relay: AppUnderTest) -> int:
    from sqlalchemy import func, select

    from relay.storage.schema import events

    async with relay.runtime.service.store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


def _tampered(env: Any) -> bytes:
    wire = env.to_wire()
    ct = bytearray(b64u_decode(wire["ciphertext"]))
    ct[10] ^= 1
    wire["ciphertext"] = b64u_encode(bytes(ct))
    return canonical(wire)


async def test_400_codes_for_bad_envelopes(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    now = relay.clock()
    before = await _event_count(relay)
    cases = {
        "not json": (b"{not json", "malformed"),
        "duplicate key": (b'{"v":1,"v":1}', "duplicate_key"),
        "missing fields": (b'{"v":1,"header":"e30"}', "bad_fields"),
        "wrong version": (b'{"v":2}', "bad_version"),
        "outer signature": (_tampered(seal(fr, de, now)), "rejected"),
        "unknown recipient": (
            seal(fr, dataclasses.replace(de, party="GB"), now).to_bytes(),
            "rejected",
        ),
        "suspended recipient": (seal(fr, relay.members["SU"], now).to_bytes(), "rejected"),
        "expired": (
            seal(fr, de, now - timedelta(hours=2), ttl=timedelta(hours=1)).to_bytes(),
            "rejected",
        ),
        "from the future": (seal(fr, de, now + timedelta(hours=1)).to_bytes(), "rejected"),
    }
    async with relay.client("FR") as c:
        for name, (body, code) in cases.items():
            status, err = await c.submit(body)
            assert (status, err["error"]) == (400, code), name
            if code == "rejected":
                assert err["message"] == "rejected", name  # nothing more for the peer
        status, err, _ = await c.request("GET", "/v1/inbox?wait=soon")
        assert (status, err["error"]) == (400, "invalid_field")
        status, err, _ = await c.request("POST", "/v1/inbox/ack", b'{"ids": [1]}')
        assert (status, err["error"]) == (400, "bad_fields")
        status, err, _ = await c.request("POST", "/v1/receipts", b'{"payload": "x"}')
        assert status == 400
        status, err = await c.evidence("not-an-id")
        assert (status, err["error"]) == (400, "bad_id")
    assert await _event_count(relay) == before


async def test_401_missing_bad_stale_and_replayed_signatures(relay: AppUnderTest) -> None:
    env = seal(relay.members["FR"], relay.members["DE"], relay.clock()).to_bytes()
    before = await _event_count(relay)
    async with relay.client("FR") as c:
        status, err, _ = await c.request("POST", "/v1/envelopes", env, sign=False)
        assert (status, err["error"]) == (401, "unauthenticated"), "missing"

        impostor = SignedClient(c.base_url, "FR", SigningKey.generate(), session=c._session)
        assert (await impostor.request("GET", "/v1/inbox"))[0] == 401, "wrong key"

        headers = c.sign("POST", "/v1/envelopes", b'{"other": "body"}')
        status, _, _ = await c.request("POST", "/v1/envelopes", env, headers=headers, sign=False)
        assert status == 401, "body does not match the signed digest"

        headers = c.sign("GET", "/v1/inbox?limit=1")
        assert (await c.request("GET", "/v1/inbox?limit=5", headers=headers, sign=False))[0] == 401

        stale = relay.clock() - timedelta(minutes=6)
        assert (await c.request("GET", "/v1/inbox", now=stale))[0] == 401, "stale"
        ahead = relay.clock() + timedelta(minutes=6)
        assert (await c.request("GET", "/v1/inbox", now=ahead))[0] == 401, "too far ahead"

        nonce = "n" * 22
        assert (await c.request("GET", "/v1/inbox", nonce=nonce))[0] == 200
        status, err, _ = await c.request("GET", "/v1/inbox", nonce=nonce)
        assert (status, err["error"]) == (401, "unauthenticated"), "replayed nonce"
    assert await _event_count(relay) == before


async def test_403_for_unknown_and_suspended_parties(relay: AppUnderTest) -> None:
    async with relay.client("FR") as c:
        stranger = SignedClient(
            c.base_url, "GB", SigningKey.generate(), session=c._session, clock=relay.clock
        )
        status, err, _ = await stranger.request("GET", "/v1/inbox")
        assert (status, err["error"]) == (403, "forbidden")
    async with relay.client("SU") as su:
        status, err, _ = await su.request("GET", "/v1/inbox")
        assert (status, err["error"]) == (403, "forbidden")


async def test_404_for_unknown_routes_and_messages(relay: AppUnderTest) -> None:
    async with relay.client("FR") as c:
        status, err, _ = await c.request("GET", "/v1/nothing-here")
        assert (status, err["error"]) == (404, "not_found")
        status, err = await c.evidence("0" * 32)
        assert (status, err["error"]) == (404, "not_found")
        status, err, _ = await c.request("DELETE", "/v1/inbox")
        assert (status, err["error"]) == (405, "method_not_allowed")


async def test_413_before_reading_an_oversized_body(relay: AppUnderTest) -> None:
    big = b"x" * (SMALL.max_envelope_bytes + 1)
    before = await _event_count(relay)
    async with relay.client("FR") as c:
        status, err, _ = await c.request("POST", "/v1/envelopes", big)
        assert (status, err["error"]) == (413, "too_large")
        status, err, _ = await c.request("POST", "/v1/inbox/ack", b" " * 4096)
        assert (status, err["error"]) == (413, "too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap still holds
            for _ in range(64):
                yield b"y" * 1024

        async with (
            aiohttp.ClientSession() as session,
            session.post(c.base_url + "/v1/envelopes", data=chunks()) as resp,
        ):
            assert resp.status == 413
            assert (await resp.json())["error"] == "too_large"
    assert await _event_count(relay) == before


async def test_429_past_the_rate_with_retry_after(tmp_path: Any, aiohttp_server: Any) -> None:
    cfg = RelayConfig(rate_per_second=0.5, rate_burst=2)
    async with database("sqlite", tmp_path) as url:
        relay = await start_app(aiohttp_server, url, config=cfg)
        async with relay.client("FR") as c, relay.client("DE") as d:
            assert (await c.request("GET", "/v1/inbox"))[0] == 200
            assert (await c.request("GET", "/v1/inbox"))[0] == 200
            status, err, headers = await c.request("GET", "/v1/inbox")
            assert (status, err["error"]) == (429, "rate_limited")
            assert int(headers["Retry-After"]) >= 1
            assert (await d.request("GET", "/v1/inbox"))[0] == 200, "buckets are per node"


async def test_503_when_the_nonce_cache_is_full(tmp_path: Any, aiohttp_server: Any) -> None:
    async with database("sqlite", tmp_path) as url:
        relay = await start_app(aiohttp_server, url, config=RelayConfig(nonce_cache_size=2))
        async with relay.client("FR") as c:
            assert (await c.request("GET", "/v1/inbox"))[0] == 200
            assert (await c.request("GET", "/v1/inbox"))[0] == 200
            status, err, _ = await c.request("GET", "/v1/inbox")
            assert (status, err["error"]) == (503, "unavailable")


async def test_error_bodies_are_json_with_code_and_message(relay: AppUnderTest) -> None:
    async with relay.client("FR") as c:
        status, err, headers = await c.request("GET", "/v1/inbox", sign=False)
    assert status == 401 and set(err) == {"error", "message"}
    assert headers["Content-Type"].startswith("application/json")
    assert json.dumps(err).count("signature") <= 1  # says what failed, not the values

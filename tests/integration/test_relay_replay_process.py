"""Replay across a restart and across two processes, with real ``relay serve`` processes
(docs/adr/0007): the captured request is sent again, byte for byte, and refused with 401.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.relaykit import (
    create_pg_database,
    drop_pg_database,
    make_member,
    seal,
    skip_without_postgres,
)
from tests.integration.relayproc import RelayProcess, SignedClient, relay_cli


async def _send(url: str, client: SignedClient, captured: tuple[str, str, bytes, dict]) -> int:
    method, path, body, headers = captured
    async with SignedClient(url, client.party, client.key) as c:
        status, _, _ = await c.request(method, path, body, headers=headers, sign=False)
    return status


async def test_sqlite_relay_refuses_a_captured_request_after_a_restart(tmp_path: Path) -> None:
    relay = RelayProcess.create(tmp_path / "relay")
    fr, de = make_member("FR"), make_member("DE")
    relay.add_member(fr.bundle)
    relay.add_member(de.bundle)
    client = SignedClient(relay.url, "FR", fr.key)
    body = seal(fr, de, datetime.now(UTC)).to_bytes()
    captured = ("POST", "/v1/envelopes", body, client.sign("POST", "/v1/envelopes", body))
    with relay.running():
        assert await _send(relay.url, client, captured) == 201
    with relay.running():
        assert await _send(relay.url, client, captured) == 401
        async with SignedClient(relay.url, "FR", fr.key) as fresh:  # the same, newly signed
            assert (await fresh.submit(body))[0] == 200


@pytest.mark.postgres
async def test_postgres_relays_refuse_a_request_accepted_by_another_process(
    tmp_path: Path,
) -> None:
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
        client = SignedClient(a.url, "FR", fr.key)
        body = b'{"ids":["1"]}'
        captured = ("POST", "/v1/inbox/ack", body, client.sign("POST", "/v1/inbox/ack", body))
        with a.running(), b.running():
            assert await _send(a.url, client, captured) == 200
            assert await _send(b.url, client, captured) == 401
            assert await _send(a.url, client, captured) == 401
            async with SignedClient(b.url, "FR", fr.key) as fresh:  # the same, newly signed
                assert (await fresh.ack(["1"]))[0] == 200
    finally:
        await drop_pg_database(url)

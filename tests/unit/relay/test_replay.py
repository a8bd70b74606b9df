"""Replay protection across a restart and across relay instances on one database
(docs/adr/0007): a captured state-changing request is refused once it has been accepted,
whichever instance accepted it and whether or not that instance has restarted since.

The refusal must be for the right reason (``replayed`` in the operator's log), so the
second instance has the same members and keys as the first: a signature that merely
failed to verify would prove nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from relay.app import AppParts
from relay.config import RelayConfig
from relay.core.members import StaticMembers
from relay.storage.nonces import NonceStore
from relay.storage.writer import Writer
from tests.integration.relaykit import (
    PARTIES,
    AppUnderTest,
    FakeClock,
    database,
    engine_on,
    make_member,
    make_relay_keystore,
    seal,
    serve_app,
)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
T = datetime(2026, 3, 1, tzinfo=UTC)


def _parts(url: str) -> tuple[AppParts, FakeClock, dict[str, Any]]:
    members = {p: make_member(p) for p in PARTIES}
    relay_ks, relay_bundle = make_relay_keystore()
    static = StaticMembers({p: m.bundle for p, m in members.items()}, relay_bundle, frozenset())
    clock = FakeClock(datetime.now(UTC) - timedelta(days=60))
    parts = AppParts(
        config=RelayConfig(),
        database_url=url,
        signing_key=relay_ks.signing_key,
        load_members=lambda: static,
        clock=clock,
    )
    return parts, clock, members


async def _replayed(relay: AppUnderTest, method: str, path: str, body: bytes, headers: Any) -> Any:
    with capture_logs() as logs:
        async with relay.client("FR") as c:
            status, err, _ = await c.request(method, path, body, headers=headers, sign=False)
    reasons = [e.get("reason") for e in logs if e["event"] == "auth.rejected"]
    return status, err, reasons


def _captured(relay: AppUnderTest) -> list[tuple[str, str, bytes]]:
    fr, de = relay.members["FR"], relay.members["DE"]
    return [
        ("POST", "/v1/envelopes", seal(fr, de, relay.clock()).to_bytes()),
        ("POST", "/v1/inbox/ack", b'{"ids":["1"]}'),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_captured_request_is_refused_after_a_restart(
    backend: str, tmp_path: Any, aiohttp_server: Any
) -> None:
    async with database(backend, tmp_path) as url:
        parts, clock, members = _parts(url)
        servers: list[Any] = []

        async def keep(app: Any, **kw: Any) -> Any:
            servers.append(await aiohttp_server(app, **kw))
            return servers[-1]

        first = await serve_app(keep, parts, clock, members)
        captured = []
        async with first.client("FR") as c:
            for method, path, body in _captured(first):
                headers = c.sign(method, path, body)
                status, _, _ = await c.request(method, path, body, headers=headers, sign=False)
                assert status in (200, 201), path
                captured.append((method, path, body, headers))
        await servers[0].close()  # the relay stops: its memory of nonces is gone
        clock.advance(seconds=60)  # still inside the 300 s window
        second = await serve_app(aiohttp_server, parts, clock, members)
        for method, path, body, headers in captured:
            status, err, reasons = await _replayed(second, method, path, body, headers)
            assert (status, err["error"]) == (401, "unauthenticated"), path
            assert reasons == ["replayed"], path


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_request_accepted_by_one_instance_is_refused_by_another(
    backend: str, tmp_path: Any, aiohttp_server: Any
) -> None:
    async with database(backend, tmp_path) as url:
        parts, clock, members = _parts(url)
        a = await serve_app(aiohttp_server, parts, clock, members)
        b = await serve_app(aiohttp_server, parts, clock, members)
        async with a.client("FR") as c:
            for method, path, body in _captured(a):
                headers = c.sign(method, path, body)
                status, _, _ = await c.request(method, path, body, headers=headers, sign=False)
                assert status in (200, 201), path
                status, err, reasons = await _replayed(b, method, path, body, headers)
                assert (status, err["error"], reasons) == (401, "unauthenticated", ["replayed"])
        async with a.client("FR") as c:  # reads are remembered per process only (ADR 0007)
            headers = c.sign("GET", "/v1/inbox")
            assert (await c.request("GET", "/v1/inbox", headers=headers, sign=False))[0] == 200
            assert (await _replayed(b, "GET", "/v1/inbox", b"", headers))[0] == 200


CLAIMS = {
    # name: (claims before, the claim, expected)
    "new nonce": ([], ("FR", "n1", T), True),
    "replayed within its life": ([("FR", "n1", T)], ("FR", "n1", T + timedelta(minutes=4)), False),
    "another party's nonce": ([("DE", "n1", T)], ("FR", "n1", T), True),
    "reused after expiry": ([("FR", "n1", T)], ("FR", "n1", T + timedelta(minutes=5)), True),
}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_nonce_claims_table(backend: str, tmp_path: Any) -> None:
    life = timedelta(minutes=5)
    for name, (before, (party, nonce, now), expected) in CLAIMS.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        async with engine_on(backend, folder) as engine:
            writer = Writer(engine)
            writer.start()
            store = NonceStore(engine, writer)
            try:
                for p, n, at in before:
                    assert await store.claim(p, n, at + life, at)
                assert await store.claim(party, nonce, now + life, now) is expected, name
            finally:
                await writer.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_expired_nonces_are_purged(backend: str, tmp_path: Any) -> None:
    life = timedelta(minutes=5)
    async with engine_on(backend, tmp_path) as engine:
        writer = Writer(engine)
        writer.start()
        store = NonceStore(engine, writer, purge_every=timedelta(minutes=1))
        try:
            for i in range(50):
                assert await store.claim("FR", f"nonce-{i:04d}", T + life, T)
            assert await store.count() == 50
            later = T + life + timedelta(seconds=1)
            assert await store.claim("FR", "late-nonce", later + life, later)
            assert await store.count() == 1
        finally:
            await writer.close()

"""Slow and greedy clients against a real ``relay serve`` on 127.0.0.1: a connection that
never finishes its headers is closed, a body that does not arrive is 408, and one address
cannot hold more than ``max_connections_per_address`` connections.

Every wait is bounded; the relay's own timeouts (1 s here) decide what happens, the test
only waits for the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.integration.relayproc import RelayProcess

BOUND = 20.0  # far beyond the relay's 1 s timeouts, even on a loaded machine


@contextlib.asynccontextmanager
async def connection(relay: RelayProcess) -> AsyncIterator[tuple[asyncio.StreamReader, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def test_half_open_and_slow_bodies_are_cut_off(tmp_path: Path) -> None:
    relay = RelayProcess.create(
        tmp_path / "relay",
        env={"POCNET_RELAY_HEADER_TIMEOUT_SECONDS": "1", "POCNET_RELAY_BODY_TIMEOUT_SECONDS": "1"},
    )
    with relay.running():
        async with connection(relay) as (reader, writer):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Partial: ")
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), BOUND) == b"", "closed, no answer"
            assert time.monotonic() - started >= 0.5
        async with connection(relay) as (reader, writer):
            writer.write(
                b"POST /v1/envelopes HTTP/1.1\r\nHost: relay\r\nContent-Length: 100\r\n"
                b'Content-Type: application/json\r\n\r\n{"v":'
            )
            answer = await asyncio.wait_for(reader.read(), BOUND)
            assert answer.split(b" ", 2)[1] == b"408", answer[:60]
            assert b'"request_timeout"' in answer
        async with connection(relay) as (reader, writer):  # a prompt client is unaffected
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), BOUND)
            assert answer.split(b" ", 2)[1] == b"200"


async def test_one_address_cannot_hold_more_than_its_share(tmp_path: Path) -> None:
    relay = RelayProcess.create(
        tmp_path / "relay",
        env={
            "POCNET_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "3",
            "POCNET_RELAY_HEADER_TIMEOUT_SECONDS": "60",
        },
    )
    with relay.running():
        async with contextlib.AsyncExitStack() as stack:
            held = [await stack.enter_async_context(connection(relay)) for _ in range(3)]
            async with connection(relay) as (reader, _writer):
                answer = await asyncio.wait_for(reader.read(), BOUND)
            assert answer.split(b" ", 2)[1] == b"503", answer[:60]
            assert b"Retry-After: " in answer and b'"unavailable"' in answer
            held[0][1].close()  # one leaves: another may come in

            def healthy() -> bool:
                try:
                    with urllib.request.urlopen(relay.url + "/healthz", timeout=2) as r:
                        return bool(r.status == 200)
                except OSError:
                    return False

            deadline = time.monotonic() + BOUND
            while not await asyncio.to_thread(healthy):
                assert time.monotonic() < deadline, "a freed slot was never given back"
                await asyncio.sleep(0.05)

"""The test suite's signing proxy (tests/support/signing_proxy.py): what it forwards is
signed as the member over the exact path, query and body, so the relay's handlers answer;
every path is forwarded, one with a percent-encoded newline too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.relaykit import database, seal, start_app
from tests.support.signing_proxy import running_proxy

CASES = [
    ("a signed read", "GET", "/v1/inbox?limit=5", 200, None),
    ("a query the schema refuses", "GET", "/v1/inbox?limit=0", 400, "invalid_field"),
    ("a newline in the path", "GET", "/v1/envelopes/%0A/evidence", 400, "bad_id"),
    ("no such route", "GET", "/v1/nowhere", 404, "not_found"),
    ("an unsigned route", "GET", "/healthz", 200, None),
]


@pytest.mark.parametrize(("name", "method", "path", "status", "code"), CASES)
async def test_the_proxy_signs_and_forwards(
    tmp_path: Path, aiohttp_server: Any, name: str, method: str, path: str, status: int, code: str
) -> None:
    async with database("sqlite", tmp_path) as url:
        relay = await start_app(aiohttp_server, url)
        fr = relay.members["FR"]
        with running_proxy(relay.url, "FR", fr.key, relay.clock) as proxy:
            async with aiohttp.ClientSession() as session:
                async with session.request(method, proxy + path) as resp:
                    body = await resp.json(content_type=None)
                    assert (resp.status, body.get("error")) == (status, code), (name, body)
                # A body is signed over its exact bytes: the relay accepts the envelope.
                env = seal(fr, relay.members["DE"], relay.clock())
                async with session.post(proxy + "/v1/envelopes", data=env.to_bytes()) as resp:
                    assert resp.status == 201, await resp.text()
        await relay.close()

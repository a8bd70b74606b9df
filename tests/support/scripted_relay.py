"""A stand-in relay for the node's HTTP transport tests: a real aiohttp server on 127.0.0.1
that checks each request's signature, records the request and answers what the test sets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from keys.httpsig_fast import verify_request
from keys.identities import SigningKey
from tests.support.processes import free_port

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class ScriptedRelay:
    """Accepts only requests signed by ``party`` with ``key`` (RFC 9421, 60 s window).

    Attributes:
        seen: every accepted request: (method, path and query, body).
        answer: what to answer next: status, JSON document (or text), and optionally headers.
        script: answers to give first, one per request, before ``answer``.
        delay: seconds to wait before answering.
    """

    def __init__(self, key: SigningKey, party: str = "FR", answer: Answer = (200, {})) -> None:
        self.key = key
        self.party = party
        self.seen: list[tuple[str, str, bytes]] = []
        self.answer: Answer = answer
        self.script: list[Answer] = []
        self.delay = 0.0

    @property
    def paths(self) -> list[str]:
        """The path and query of every accepted request, in order."""
        return [path for _, path, _ in self.seen]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        verify_request(
            request.method,
            str(request.url),
            dict(request.headers),
            body,
            lookup=lambda party: self.key.public if party == self.party else None,
            now=datetime.now(UTC),
            window=timedelta(seconds=60),
        )
        self.seen.append((request.method, request.path_qs, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        status, doc, headers = (*(self.script.pop(0) if self.script else self.answer), {})[:3]
        text = doc if isinstance(doc, str) else json.dumps(doc)
        return web.Response(
            status=status, text=text, headers=headers, content_type="application/json"
        )


@contextlib.asynccontextmanager
async def serving(relay: ScriptedRelay) -> AsyncIterator[str]:
    """``relay`` answering every method and path on a free port; its base URL. Stopped on
    the way out."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()

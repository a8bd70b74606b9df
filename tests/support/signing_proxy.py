"""A reverse proxy that signs every request as a member, for tools that cannot sign.

A schema fuzzer (schemathesis) sends plain HTTP to the proxy; the proxy adds the RFC 9421
headers (``Content-Digest``, ``Signature-Input``, ``Signature``) over the exact method,
path, query and body it received, as ``party`` with ``key``, forwards the request to the
relay and hands back the relay's status, headers and body unchanged. So generated
requests are authenticated and reach the relay's handlers instead of all ending in 401.

A request the profile cannot sign (a method or URL outside it) goes on unsigned: the
relay refuses it, which is what a fuzzer should see. The proxy runs on its own event loop
in a daemon thread (:func:`running_proxy`), on 127.0.0.1, and is stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from yarl import URL

from keys.httpsig_fast import UnsignableRequest, sign_request
from keys.identities import SigningKey
from tests.support.processes import free_port

# Headers that describe one connection or that the proxy sets itself: not forwarded.
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "TE",
        "Upgrade",
        "Host",
        "Content-Length",
        "Proxy-Connection",
    )
)
START_TIMEOUT = 30.0  # seconds: bounded, however loaded the machine


def proxy_app(
    target: str,
    party: str,
    key: SigningKey,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    """An aiohttp app forwarding every request to ``target``, signed as ``party``."""
    base = target.rstrip("/")
    session: aiohttp.ClientSession | None = None

    async def forward(request: web.Request) -> web.StreamResponse:
        assert session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = base + request.raw_path
        with contextlib.suppress(UnsignableRequest):
            headers.update(
                sign_request(request.method, url, body, key=key, party=party, now=clock())
            )
        async with session.request(
            request.method, URL(url, encoded=True), data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            kept.pop("Content-Encoding", None)  # the body was read decoded
            return web.Response(body=payload, status=upstream.status, headers=kept)

    async def session_ctx(_app: web.Application) -> object:
        nonlocal session
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60), auto_decompress=True
        )
        yield
        await session.close()

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", r"/{tail:[\s\S]*}", forward)  # every path, a decoded newline too
    return app


@contextlib.contextmanager
def running_proxy(
    target: str,
    party: str,
    key: SigningKey,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[str]:
    """Run :func:`proxy_app` on a free port of 127.0.0.1 in a thread; yield its URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    failure: list[BaseException] = []

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        runner = web.AppRunner(proxy_app(target, party, key, clock), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            started.set()
            await stop.wait()
        finally:
            await runner.cleanup()

    def main() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as e:  # reported to the caller below
            failure.append(e)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="signing-proxy", daemon=True)
    thread.start()
    try:
        if not started.wait(START_TIMEOUT) or failure:
            raise RuntimeError(f"the signing proxy did not start: {failure}")
        yield f"http://127.0.0.1:{port}"
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT)

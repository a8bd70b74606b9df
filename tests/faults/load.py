"""Load for fault tests: members submitting to one recipient without pause, and the count.

:class:`Load` runs one task per sender against a real relay, counting every answer's
status and every envelope ACCEPTED (200 or 201); a request that got no answer at all
(the relay gone) is counted apart. :func:`drain` downloads and acknowledges the
recipient's whole inbox afterwards, so a test can say what was lost (accepted, never
delivered) and what was duplicated (delivered twice). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from keys.encoding import b64u_decode
from tests.integration.relaykit import Member, seal
from tests.integration.relayproc import RelayProcess, SignedClient

BOUND = 90.0  # seconds: every wait below ends by this, however loaded the machine


class Load:
    """``senders`` submitting envelopes to ``recipient`` at ``url`` until :meth:`stop`."""

    def __init__(
        self,
        url: str,
        senders: list[Member],
        recipient: Member,
        *,
        body: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.senders = senders
        self.recipient = recipient
        self.body = body
        self.statuses: Counter[int] = Counter()
        self.no_answer: Counter[str] = Counter()
        self.accepted: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(m)) for m in self.senders]

    async def _send(self, member: Member) -> None:
        async with SignedClient(self.url, member.party, member.key) as client:
            while not self._stop.is_set():
                env = seal(member, self.recipient, datetime.now(UTC), body=self.body)
                try:
                    status, _ = await client.submit(env.to_bytes())
                except (aiohttp.ClientError, TimeoutError) as e:
                    self.no_answer[type(e).__name__] += 1
                    await asyncio.sleep(0.01)  # the relay is gone: do not spin
                    continue
                self.statuses[status] += 1
                if status in (200, 201):
                    self.accepted.add(env.header.msg_id)

    async def until(self, check: Callable[[], bool], what: str) -> None:
        """Wait until ``check()`` holds (bounded); fail if a sender died."""
        deadline = time.monotonic() + BOUND
        while not check():
            for task in self._tasks:
                if task.done():
                    task.result()  # a sender's exception ends the test here
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.report()}"
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), BOUND)

    async def finish(self, relay: RelayProcess) -> dict[str, Any]:
        """Stop; check the relay is ready and is the process it was; drain the recipient's
        inbox; the figures (:meth:`report`)."""
        await self.stop()
        await ready_again(relay.url)
        received = await drain(relay.url, self.recipient)
        assert relay.proc is not None and relay.proc.poll() is None, "the relay restarted"
        return self.report(received)

    def check(self, figures: dict[str, Any]) -> None:
        """Only 200, 201 and 503 answers, none missing, nothing lost or duplicated."""
        assert set(self.statuses) <= {200, 201, 503}, figures
        assert not self.no_answer, figures
        assert figures["lost"] == 0 and figures["duplicated"] == 0, figures

    def report(self, received: list[str] | None = None) -> dict[str, Any]:
        """The figures of docs/reliability.md's table."""
        out: dict[str, Any] = {
            "requests": sum(self.statuses.values()),
            "statuses": dict(sorted(self.statuses.items())),
            "no_answer": dict(self.no_answer),
            "accepted": len(self.accepted),
            "other_5xx": sum(n for s, n in self.statuses.items() if s >= 500 and s != 503),
        }
        if received is not None:
            out["delivered"] = len(set(received))
            out["lost"] = len(self.accepted - set(received))
            out["duplicated"] = len(received) - len(set(received))
        return out


async def drain(url: str, member: Member) -> list[str]:
    """Every msg_id in ``member``'s inbox, in order, acknowledged as they come."""
    received: list[str] = []
    async with SignedClient(url, member.party, member.key) as client:
        for _ in range(10_000):  # bounded: far more pages than a test sends
            status, inbox = await client.inbox(limit=100)
            assert status == 200, inbox
            if not inbox["items"]:
                break
            received += [
                json.loads(b64u_decode(i["envelope"]["header"]))["msg_id"]
                for i in inbox["items"]
                if i["type"] == "envelope"
            ]
            assert (await client.ack([i["id"] for i in inbox["items"]]))[0] == 200
    return received


async def probe(url: str, path: str) -> tuple[int, Any, dict[str, str]]:
    """An unsigned ``GET`` (``/readyz``, ``/healthz``): status, JSON body, headers."""
    timeout = aiohttp.ClientTimeout(total=BOUND)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url + path) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def ready_again(url: str) -> None:
    """Wait (bounded) until ``/readyz`` answers 200: a verdict from the outage may be
    reused for ``ready_probe_seconds``, and a probe may time out on a loaded machine."""
    deadline = time.monotonic() + BOUND
    while (answer := await probe(url, "/readyz"))[0] != 200:
        assert time.monotonic() < deadline, f"the relay never said it was ready: {answer}"
        await asyncio.sleep(0.1)

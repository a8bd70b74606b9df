"""Relay throughput and latency, next to a ceiling measured in the same run.

For SQLite (and PostgreSQL when POCNET_TEST_POSTGRES_URL is set):

- **ceiling**: a bare aiohttp handler (its own process, on the same port, one after the
  other) that reads the same 4 KiB body and writes one row per request through the same
  driver and pragmas (one commit per request);
- **relay**: the real ``relay serve`` process, 32 concurrent senders each its own member,
  every request signed (RFC 9421) and every envelope verified, stored durably and answered
  with a signed ACCEPTED receipt;
- **delivery**: a recipient waiting in a long-poll; one sender submits envelopes one by
  one; the time from the sender's 201 (and from the submit) to the recipient having it.

Each is run with the relay on the standard library's event loop and, when uvloop is
installed, on uvloop (``event_loop``; ``POCNET_BENCH_LOOPS=asyncio`` for one).

Requests are signed before the clock starts, so the client's signing does not compete
with the relay for the two cores. Run with ``python -m tests.bench relay``
(``POCNET_BENCH_BACKENDS=sqlite`` or ``postgresql`` to run one).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp

from keys.httpsig_fast import sign_request
from tests.bench import scoreboard
from tests.integration.relaykit import (
    Member,
    create_pg_database,
    drop_pg_database,
    make_member,
    postgres_url,
    seal,
)
from tests.integration.relayproc import RelayProcess, SignedClient
from tests.support.processes import ROOT, free_port

SENDERS = 32
DURATION = 3.0
MAX_REQUESTS = 7000
DELIVERY_SAMPLES = 150
BODY_PAD = 2140  # makes the envelope's wire bytes about 4 KiB
HIGH_RATE = {"POCNET_RELAY_RATE_PER_SECOND": "100000", "POCNET_RELAY_RATE_BURST": "100000"}


@dataclass
class Prepared:
    url_path: str
    body: bytes
    headers: dict[str, str]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def prepare(senders: list[Member], recipient: Member, base: str, count: int) -> list[Prepared]:
    out = []
    now = datetime.now(UTC)
    for i in range(count):
        sender = senders[i % len(senders)]
        env = seal(sender, recipient, now, body={"pad": "x" * BODY_PAD})
        body = env.to_bytes()
        headers = sign_request(
            "POST", base + "/v1/envelopes", body, key=sender.key, party=sender.party, now=now
        )
        headers["Content-Type"] = "application/json"
        out.append(Prepared("/v1/envelopes", body, headers))
    return out


async def load(base: str, requests: list[Prepared]) -> tuple[float, list[float], int]:
    """Send with SENDERS concurrent workers for DURATION; (rate, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    it = iter(requests)
    connector = aiohttp.TCPConnector(limit=SENDERS * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop_at = time.perf_counter() + DURATION

        async def worker() -> None:
            nonlocal errors
            for req in it:
                if time.perf_counter() >= stop_at:
                    return
                t0 = time.perf_counter()
                async with session.post(
                    base + req.url_path, data=req.body, headers=req.headers
                ) as r:
                    await r.read()
                    if r.status not in (200, 201):
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(SENDERS)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def _wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


# The ceiling server ------------------------------------------------------------------------


def ceiling_main() -> None:
    """``python -c 'from tests.bench.bench_relay import ceiling_main; ceiling_main()' URL PORT``."""
    from aiohttp import web
    from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table

    from relay.storage.database import make_engine

    url, port = sys.argv[1], int(sys.argv[2])
    table = Table(
        "bench_rows",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("body", LargeBinary),
    )

    async def setup(app: web.Application) -> object:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        app["engine"] = engine
        yield
        await engine.dispose()

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        async with request.app["engine"].begin() as conn:
            await conn.execute(table.insert().values(body=body))
        return web.json_response({"stored": True}, status=201)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=4 << 20)
    app.cleanup_ctx.append(setup)
    app.router.add_post("/v1/envelopes", handler)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def run_ceiling(url: str, port: int, requests: list[Prepared]) -> tuple[float, list[float]]:
    code = "from tests.bench.bench_relay import ceiling_main; ceiling_main()"
    proc = subprocess.Popen([sys.executable, "-c", code, url, str(port)], cwd=ROOT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        rate, latencies, _ = asyncio.run(load(f"http://127.0.0.1:{port}", requests))
    finally:
        proc.terminate()
        proc.wait(20)
    return rate, latencies


# Delivery latency --------------------------------------------------------------------------


async def delivery(
    relay: RelayProcess, sender: Member, recipient: Member
) -> tuple[list[float], list[float]]:
    from_201: list[float] = []
    from_submit: list[float] = []
    received: dict[str, float] = {}
    got = asyncio.Event()
    async with (
        SignedClient(relay.url, sender.party, sender.key) as cs,
        SignedClient(relay.url, recipient.party, recipient.key) as cr,
    ):

        async def receive() -> None:
            while True:
                _, body = await cr.inbox(wait=10)
                now = time.perf_counter()
                for item in body["items"]:
                    header = json.loads(_b64(item["envelope"]["header"]))
                    received[header["msg_id"]] = now
                if body["items"]:
                    await cr.ack([i["id"] for i in body["items"]])
                    got.set()

        task = asyncio.create_task(receive())
        await asyncio.sleep(0.3)
        for _ in range(DELIVERY_SAMPLES):
            env = seal(sender, recipient, datetime.now(UTC), body={"pad": "x" * BODY_PAD})
            body = env.to_bytes()
            headers = cs.sign("POST", "/v1/envelopes", body)
            got.clear()
            t0 = time.perf_counter()
            status, _, _ = await cs.request(
                "POST", "/v1/envelopes", body, headers=headers, sign=False
            )
            t1 = time.perf_counter()
            assert status == 201
            while env.header.msg_id not in received:
                await asyncio.wait_for(got.wait(), 10)
                got.clear()
            t2 = received[env.header.msg_id]
            from_201.append(t2 - t1)
            from_submit.append(t2 - t0)
            await asyncio.sleep(0.01)  # let the recipient's next long-poll start waiting
        task.cancel()
    return from_201, from_submit


def _b64(text: str) -> bytes:
    from keys.encoding import b64u_decode

    return b64u_decode(text)


def _group_commit(relay: RelayProcess) -> str:
    with urllib.request.urlopen(relay.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("pocnet_relay_group_commit_size_"):
            name, value = line.split()
            values[name.split("{")[0]] = float(value)
    count = values.get("pocnet_relay_group_commit_size_count", 0)
    return f"{values.get('pocnet_relay_group_commit_size_sum', 0) / count:.1f}" if count else "-"


# One configuration -------------------------------------------------------------------------


def run_backend(
    name: str, tmp: Path, database_url: str | None, loop: str = "asyncio"
) -> dict[str, object]:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    senders = [make_member(f"XA-{i}") for i in range(SENDERS)]
    recipient = make_member("DE")
    waiting = make_member("IT")  # a recipient with an empty inbox, for the delivery figures
    requests = prepare(senders, recipient, base, MAX_REQUESTS)
    size = len(requests[0].body)

    ceiling_url = database_url or f"sqlite+aiosqlite:///{tmp / 'ceiling.db'}"
    ceiling_rate, ceiling_lat = run_ceiling(ceiling_url, port, requests)

    env = {**HIGH_RATE, "POCNET_RELAY_EVENT_LOOP": loop}
    relay = RelayProcess.create(tmp / "relay", database_url=database_url, env=env)
    relay.port = port
    for m in [*senders, recipient, waiting]:
        relay.add_member(m.bundle)
    with relay.running():
        rate, latencies, errors = asyncio.run(load(base, requests))
        batch = _group_commit(relay)
        from_201, from_submit = asyncio.run(delivery(relay, senders[0], waiting))
    return {
        "backend": name,
        "loop": loop,
        "envelope_bytes": size,
        "relay_per_s": round(rate),
        "ceiling_per_s": round(ceiling_rate),
        "ratio": round(rate / ceiling_rate, 2),
        "errors": errors,
        "avg_group_commit": batch,
        "submit_p50_ms": round(_pct(latencies, 0.5) * 1000, 2),
        "submit_p99_ms": round(_pct(latencies, 0.99) * 1000, 2),
        "ceiling_p50_ms": round(_pct(ceiling_lat, 0.5) * 1000, 2),
        "deliver_after_201_p50_ms": round(_pct(from_201, 0.5) * 1000, 2),
        "deliver_after_201_p99_ms": round(_pct(from_201, 0.99) * 1000, 2),
        "deliver_after_submit_p50_ms": round(_pct(from_submit, 0.5) * 1000, 2),
        "deliver_after_submit_p99_ms": round(_pct(from_submit, 0.99) * 1000, 2),
        "deliver_mean_ms": round(statistics.mean(from_submit) * 1000, 2),
    }


def _loops() -> list[str]:
    """The relay's event loops to measure: POCNET_BENCH_LOOPS, else both if uvloop is here."""
    wanted = os.environ.get("POCNET_BENCH_LOOPS")
    if wanted:
        return wanted.split(",")
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


def main() -> None:
    results = []
    wanted = os.environ.get("POCNET_BENCH_BACKENDS", "sqlite,postgresql").split(",")
    loops = _loops()
    with TemporaryDirectory(prefix="pocnet-bench-") as tmp:
        if "sqlite" in wanted:
            for loop in loops:
                results.append(run_backend("sqlite", Path(tmp) / f"sqlite-{loop}", None, loop))
        if "postgresql" not in wanted:
            pass
        elif postgres_url():
            for loop in loops:
                url = asyncio.run(create_pg_database())
                try:
                    results.append(run_backend("postgresql", Path(tmp) / f"pg-{loop}", url, loop))
                finally:
                    asyncio.run(drop_pg_database(url))
        else:
            print("   (PostgreSQL skipped: set POCNET_TEST_POSTGRES_URL to include it)")
    for r in results:
        print(
            f"   {r['backend']:<10} {r['loop']:<8} {r['envelope_bytes']} B envelopes, "
            f"{SENDERS} senders: "
            f"relay {r['relay_per_s']}/s vs ceiling {r['ceiling_per_s']}/s = {r['ratio']} "
            f"(avg group commit {r['avg_group_commit']}; errors {r['errors']})"
        )
        print(
            f"   {'':<10} submit p50 {r['submit_p50_ms']} ms, p99 {r['submit_p99_ms']} ms "
            f"(ceiling p50 {r['ceiling_p50_ms']} ms); delivery to a waiting recipient after "
            f"the 201: p50 {r['deliver_after_201_p50_ms']} ms, p99 {r['deliver_after_201_p99_ms']} "
            f"ms; after the submit: p50 {r['deliver_after_submit_p50_ms']} ms, p99 "
            f"{r['deliver_after_submit_p99_ms']} ms"
        )
    by_loop = {(r["backend"], r["loop"]): r for r in results}
    for (backend, loop), r in by_loop.items():
        plain = by_loop.get((backend, "asyncio"))
        if loop != "asyncio" and plain is not None:
            print(
                f"   {backend}: relay on {loop} {r['relay_per_s']}/s vs on asyncio "
                f"{plain['relay_per_s']}/s (ratios to their own bare handler {r['ratio']} vs "
                f"{plain['ratio']}); delivery p50 {r['deliver_after_201_p50_ms']} vs "
                f"{plain['deliver_after_201_p50_ms']} ms"
            )
    for r in results:
        scoreboard.record(
            1,
            f"{r['backend']} {r['loop']}",
            float(r["ratio"]),  # type: ignore[arg-type]
            f"{r['ratio']}x ({r['relay_per_s']}/s)",
            f"bare handler {r['ceiling_per_s']}/s",
        )
        scoreboard.record(
            3,
            f"{r['backend']} {r['loop']}",
            float(r["deliver_after_201_p50_ms"]),  # type: ignore[arg-type]
            f"p50 {r['deliver_after_201_p50_ms']} ms",
            f"bare handler's commit round trip p50 {r['ceiling_p50_ms']} ms",
        )
    print("   " + json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

"""Node end to end: latency to ``RETRIEVED`` and a run of N messages, on loopback.

Set-up: a real ``relay serve`` and two ``node run`` daemons (FR, DE; SQLite, default hybrid
post-quantum suite), each its own process. The sender is FR's outbox in this process (what
``node send`` runs, without the interpreter start-up): seal, commit, submit, verify
``ACCEPTED``.

- **latency**: one message at a time, 200 times: from ``ACCEPTED`` held by the sender to
  DE's ``RETRIEVED`` stored by FR's daemon (the time FR's daemon stamps when it stores the
  receipt). Goal (issue 12, row 4): p50 at most 5 ms. Baseline in the same run: one signed
  submit round trip to the relay (``POST /v1/envelopes``), p50. The bench waits for the
  receipt on the kernel's report of a write to FR's store (:mod:`tests.bench.filewatch`),
  not on a timer, so it does not compete for the CPU it measures.
- **run**: N messages (10,000; 1,000 with ``POCNET_BENCH_QUICK=1``) sent by 8 concurrent
  senders; the sender's rate; then wait until every message is at DE and every
  ``RETRIEVED`` is back at FR: lost (sent but never received) and duplicated (received
  twice) must both be zero. The daemons' resident memory (RSS) at start and end.
- **backlog**: the outbox flushing envelopes queued while the relay was out of reach (2 x
  500; 2 x 2,000 in the full run), in this process with FR's daemon stopped (it would
  flush them itself) and DE's too (they wait at the relay): one flush submitting one
  envelope at a time (``concurrency=1``, the baseline), then one submitting
  ``FLUSH_CONCURRENCY`` at a time with one commit per batch of ACCEPTED receipts. Every
  envelope must end ``accepted`` with its verified receipt.

- **requests**: relay requests per message during the latency part (every signed and
  unsigned request the relay served, long-polls and the auditors' included, from the
  relay's own ``pocnet_relay_request_seconds_count``), beside the same figure by route.

Run: ``python -m tests.bench node``; ``POCNET_BENCH_NODE=latency`` runs the latency part
only (for interleaved runs of two trees: see docs/adr/0018-fewer-round-trips.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from node import config as node_config
from node.exchange.outbox import FLUSH_CONCURRENCY
from node.forms import validate_form
from node.logs import get_logger
from node.runtime import Node, open_node, unlock
from tests.bench import scoreboard
from tests.bench.filewatch import FileWrites
from tests.e2e.nodeproc import LocalNetwork, NodeProcess

LATENCY_SAMPLES = 200
TARGET_P50_MS = 5.0  # issue 12, row 4
SENDERS = 8
HIGH_RATE = {"rate_per_second": 100000.0, "rate_burst": 100000.0}
QUIET: dict[str, dict[str, Any]] = {
    "log": {"level": "info"},
    "relay": {"reconnect_max": 1.0},
}  # info, as in production


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


async def sender(data: Path) -> Node:
    cfg = node_config.load(data)
    return await open_node(cfg, unlock(cfg, None), log=get_logger(party=cfg.party))


async def wait_retrieved(
    fr: Node, msg_id: str, writes: FileWrites, timeout: float = 10.0
) -> datetime:
    """When FR's daemon stored ``msg_id``'s RETRIEVED: looks once per write to its store."""
    deadline = time.monotonic() + timeout
    while True:
        writes.clear()
        for r in await fr.store.receipts_for(msg_id):
            if r.type == "RETRIEVED":
                return r.stored_at
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no RETRIEVED for {msg_id}")
        await writes.wait(remaining)


async def latency(fr: Node, data: Path) -> tuple[list[float], list[float], float]:
    """(send-to-RETRIEVED latencies, submit round trips) in ms, and looks per message."""
    form = validate_form("ping", {}, now=datetime.now(UTC))
    out, rtt = [], []
    async with FileWrites(data, "node.db-wal") as writes:
        for _ in range(LATENCY_SAMPLES):
            msg = await fr.outbox.queue("DE", form, datetime.now(UTC))
            t0 = time.perf_counter()
            assert await fr.outbox.submit(msg, datetime.now(UTC)) == "accepted"
            rtt.append((time.perf_counter() - t0) * 1000)
            accepted = datetime.now(UTC)
            stored_at = await wait_retrieved(fr, msg.msg_id, writes)
            out.append(max(0.0, (stored_at - accepted).total_seconds() * 1000))
    return out, rtt, (writes.wakeups + LATENCY_SAMPLES) / LATENCY_SAMPLES


async def run(fr: Node, n: int) -> tuple[list[str], float]:
    form = validate_form("ping", {}, now=datetime.now(UTC))
    ids: list[str] = []
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            msg = await fr.outbox.queue("DE", form, datetime.now(UTC))
            ids.append(msg.msg_id)
            assert await fr.outbox.submit(msg, datetime.now(UTC)) == "accepted"

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(SENDERS)))
    return ids, time.perf_counter() - started


async def backlog(fr: Node, n: int, concurrency: int) -> float:
    """Queue ``n`` envelopes, then time one flush of all of them; returns messages/s."""
    form = validate_form("ping", {}, now=datetime.now(UTC))
    ids = [(await fr.outbox.queue("DE", form, datetime.now(UTC))).msg_id for _ in range(n)]
    fr.outbox.concurrency = concurrency
    started = time.perf_counter()
    report = await fr.outbox.flush(datetime.now(UTC), everything=True)
    elapsed = time.perf_counter() - started
    states = {(await fr.store.get_message(i)).state for i in ids}
    if sorted(report.accepted) != sorted(ids) or states != {"accepted"}:
        raise AssertionError(f"backlog flush: {len(report.accepted)}/{n} accepted, {states}")
    return n / elapsed


async def backlog_rates(data: Path, n: int) -> tuple[float, float]:
    fr = await sender(data)
    try:
        await fr.peers.refresh(fr.transport, datetime.now(UTC))
        return await backlog(fr, n, 1), await backlog(fr, n, FLUSH_CONCURRENCY)
    finally:
        await fr.close()


_REQUESTS = re.compile(
    r'^pocnet_relay_request_seconds_count\{method="([A-Z]+)",route="([^"]+)"\} ([0-9.e+]+)$', re.M
)


def relay_requests(url: str) -> Counter[str]:
    """Requests the relay served so far, by ``METHOD route`` (from its ``/metrics``)."""
    with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return Counter(
        {f"{m} {r}": int(float(n)) for m, r, n in _REQUESTS.findall(text) if r != "/metrics"}
    )


def per_message(before: Counter[str], after: Counter[str], n: int) -> tuple[float, str]:
    """Requests per message between two readings, and the split by route."""
    diff = after - before
    parts = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(diff.items(), key=lambda kv: -kv[1]))
    return sum(diff.values()) / n, parts


def count_until(node: NodeProcess, direction: str, n: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        got = len(node.messages(direction))
        if got >= n:
            return got
        time.sleep(0.5)
    return got


def latency_only() -> None:
    """The latency part alone, with the relay's request count per message."""
    with TemporaryDirectory(prefix="bench-node-") as tmp:
        net = LocalNetwork.create(Path(tmp), ["FR", "DE"], relay_limits=HIGH_RATE, options=QUIET)
        fr_proc = net["FR"]
        with net.running("FR", "DE"):

            async def body() -> tuple[list[float], list[float], float]:
                fr = await sender(fr_proc.data)
                try:
                    await fr.peers.refresh(fr.transport, datetime.now(UTC))
                    return await latency(fr, fr_proc.data)
                finally:
                    await fr.close()

            before = relay_requests(net.relay.url)
            lat, rtt, _ = asyncio.run(body())
            after = relay_requests(net.relay.url)
    report_latency(lat, rtt, per_message(before, after, LATENCY_SAMPLES))


def report_latency(lat: list[float], rtt: list[float], requests: tuple[float, str]) -> None:
    p50, p99 = statistics.median(lat), pct(lat, 99)
    base = statistics.median(rtt)
    print(
        f"latency ACCEPTED -> RETRIEVED at the sender ({LATENCY_SAMPLES} messages, one at a time):"
    )
    print(f"  p50 {p50:.1f} ms  p99 {p99:.1f} ms")
    print(f"  baseline: one signed submit round trip p50 {base:.1f} ms; ratio {p50 / base:.1f}")
    print(f"  relay requests per message {requests[0]:.2f} ({requests[1]})")
    scoreboard.record(
        4,
        "sqlite, one message at a time",
        p50,
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {requests[0]:.2f} relay requests a message",
        f"one signed submit round trip p50 {base:.1f} ms",
    )


def main() -> None:
    if os.environ.get("POCNET_BENCH_NODE") == "latency":
        latency_only()
        return
    quick = os.environ.get("POCNET_BENCH_QUICK") == "1"
    n = 1000 if quick else 10_000
    n_backlog = 500 if quick else 2000
    with TemporaryDirectory(prefix="bench-node-") as tmp:
        net = LocalNetwork.create(Path(tmp), ["FR", "DE"], relay_limits=HIGH_RATE, options=QUIET)
        fr_proc, de_proc = net["FR"], net["DE"]
        with net.running("FR", "DE"):
            assert fr_proc.proc and de_proc.proc
            rss0 = {"FR": rss_kib(fr_proc.proc.pid), "DE": rss_kib(de_proc.proc.pid)}

            async def body() -> tuple[list[float], list[float], float, list[str], float]:
                fr = await sender(fr_proc.data)
                try:
                    await fr.peers.refresh(fr.transport, datetime.now(UTC))
                    before = relay_requests(net.relay.url)
                    lat, rtt, looks = await latency(fr, fr_proc.data)
                    requests.append(per_message(before, relay_requests(net.relay.url), len(lat)))
                    ids, elapsed = await run(fr, n)
                    return lat, rtt, looks, ids, elapsed
                finally:
                    await fr.close()

            requests: list[tuple[float, str]] = []
            lat, rtt, looks, ids, elapsed = asyncio.run(body())
            received_all = count_until(de_proc, "in", n + LATENCY_SAMPLES, timeout=300 + n / 20)
            drained = time.monotonic()
            want = set(ids)

            def retrieved() -> int:
                return len(
                    {r.msg_id for r in fr_proc.all_receipts() if r.type == "RETRIEVED"} & want
                )

            while retrieved() < n and time.monotonic() - drained < 120:
                time.sleep(0.5)
            rss1 = {"FR": rss_kib(fr_proc.proc.pid), "DE": rss_kib(de_proc.proc.pid)}
            at_de = [m.msg_id for m in de_proc.messages("in")]
            back = retrieved()
        with net.running():  # the relay only: FR's daemon would flush the backlog itself
            sequential, concurrent = asyncio.run(backlog_rates(fr_proc.data, n_backlog))
        lost = len(want - set(at_de))
        duplicated = len(at_de) - len(set(at_de))
        report_latency(lat, rtt, requests[0])
        print(
            f"  (the bench looked at FR's store {looks:.1f} times a message, woken by writes "
            "to it, not by a timer)"
        )
        print(f"run of {n} messages, {SENDERS} concurrent senders:")
        print(f"  sender rate {n / elapsed:.0f} messages/s (seal, commit, submit, verify ACCEPTED)")
        print(
            f"  at DE {received_all - LATENCY_SAMPLES}, RETRIEVED back at FR {back}; "
            f"lost {lost}, duplicated {duplicated}"
        )
        for party in ("FR", "DE"):
            print(
                f"  {party} daemon RSS {rss0[party] / 1024:.1f} MiB at start, "
                f"{rss1[party] / 1024:.1f} MiB at end"
            )
        print(f"backlog flush of {n_backlog} queued envelopes (relay back after an outage):")
        print(f"  one at a time {sequential:.0f} messages/s (baseline)")
        print(
            f"  {FLUSH_CONCURRENCY} at a time, one commit per batch {concurrent:.0f} messages/s; "
            f"ratio {concurrent / sequential:.1f}"
        )
        if lost or duplicated or back < n:
            raise AssertionError(f"lost {lost}, duplicated {duplicated}, retrieved {back}/{n}")


if __name__ == "__main__":
    main()

"""Accepted envelopes per second with 1, 2 and 4 relay processes on one PostgreSQL.

``relay serve --workers N`` (N processes sharing the port with SO_REUSEPORT) on a fresh
database each time, the counts interleaved over ``ROUNDS`` rounds; the same load as
``bench_relay`` (32 concurrent senders, signed 4 KiB envelopes prepared before the clock
starts). The figure is each N's rate as a ratio to one
process measured in the same run; issue 16 sets no number, so the row is reported, not
passed or failed.

The ceiling on this machine: it has 2 cores, shared by the load generator, PostgreSQL
(every accept is a transaction that takes the audit advisory lock, so commits are
serialised across processes) and the relay workers. A second process can use the core one
relay process leaves idle while it waits for PostgreSQL; beyond the core count, more
processes only add context switches, lock waits and smaller group commits.

Uses the server of POCNET_TEST_POSTGRES_URL if set, else a private cluster
(:mod:`tests.support.pgcluster`, fsync off: absolute figures are then higher than a real
server's; the ratios are what counts). Run with ``python -m tests.bench workers``
(``POCNET_BENCH_WORKERS=1,2`` to choose).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.bench import scoreboard
from tests.bench.bench_relay import HIGH_RATE, MAX_REQUESTS, SENDERS, Prepared, load, prepare
from tests.integration.relaykit import (
    Member,
    create_pg_database,
    drop_pg_database,
    make_member,
    postgres_url,
)
from tests.integration.relayproc import RelayProcess
from tests.support.pgcluster import PgCluster, server_binaries
from tests.support.processes import free_port, wait_for

COUNTS = (1, 2, 4)
ROUNDS = 2  # the counts interleaved (1, 2, 4, 1, 2, 4): a load that drifts hits all alike
READY_BOUND_S = 60.0


def _counts() -> list[int]:
    wanted = os.environ.get("POCNET_BENCH_WORKERS")
    return [int(n) for n in wanted.split(",")] if wanted else list(COUNTS)


def run_workers(
    count: int,
    tmp: Path,
    database_url: str,
    port: int,
    members: list[Member],
    requests: list[Prepared],
) -> dict[str, Any]:
    """Start ``relay serve --workers count``, load it, stop it; its figures."""
    folder = tmp / f"relay-{count}-{database_url.rpartition('/')[2]}"
    relay = RelayProcess.create(folder, database_url=database_url, env=HIGH_RATE)
    relay.port = port
    for member in members:
        relay.add_member(member.bundle)
    args = ["serve", "--data", str(relay.data), "--port", str(port), "--workers", str(count)]
    relay.launch(f"workers-{count}", "relay", *args, "--database-url", database_url)
    try:
        relay.wait_ready(relay._healthy, READY_BOUND_S, "no answer on /healthz")
        wait_for(
            lambda: relay.output().count('"relay.listening"') >= count,
            READY_BOUND_S,
            f"{count} workers listening",
        )
        rate, latencies, errors = asyncio.run(load(relay.url, requests))
    finally:
        relay.stop()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    return {"workers": count, "per_s": round(rate), "errors": errors, "p50_ms": round(p50, 2)}


def _measure(tmp: Path, new_database: Callable[[int], str]) -> list[dict[str, Any]]:
    """Every worker count on a database of its own, with requests signed just before (the
    relay refuses signatures older than its replay window)."""
    senders = [make_member(f"XA-{i}") for i in range(SENDERS)]
    recipient = make_member("DE")
    port = free_port()
    runs: dict[int, list[dict[str, Any]]] = {}
    for round_ in range(int(os.environ.get("POCNET_BENCH_ROUNDS", ROUNDS))):
        for count in _counts():
            url = new_database(count * 100 + round_)
            requests = prepare(senders, recipient, f"http://127.0.0.1:{port}", MAX_REQUESTS)
            figures = run_workers(count, tmp, url, port, [*senders, recipient], requests)
            runs.setdefault(count, []).append(figures)
    # Per count, the round with the median rate (the better of two).
    return [sorted(r, key=lambda f: f["per_s"])[len(r) // 2] for r in runs.values()]


def main() -> None:
    with TemporaryDirectory(prefix="pocnet-bench-workers-") as tmp:
        if postgres_url():
            made: list[str] = []

            def shared(_count: int) -> str:
                made.append(asyncio.run(create_pg_database()))
                return made[-1]

            try:
                results = _measure(Path(tmp), shared)
            finally:
                for url in made:
                    asyncio.run(drop_pg_database(url))
            where = "the shared PostgreSQL server"
        elif server_binaries() is not None:
            cluster = PgCluster.start_new(Path(tempfile.mkdtemp(prefix="pocnet-pg-bench-")))
            try:
                results = _measure(Path(tmp), lambda n: cluster.create_database(f"bench_{n}"))
            finally:
                cluster.close()
            where = "a private PostgreSQL cluster (fsync off)"
        else:
            print("   (skipped: no PostgreSQL: set POCNET_TEST_POSTGRES_URL or install the server)")
            return
    one = next((r for r in results if r["workers"] == 1), None)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"   on {where}, {os.cpu_count()} cores shared by the load, PostgreSQL and the relays "
        f"(load average now {load}: other work on the machine lowers every figure alike)"
    )
    for r in results:
        ratio = r["per_s"] / one["per_s"] if one and one["per_s"] else float("nan")
        r["ratio_to_1"] = round(ratio, 2)
        print(
            f"   workers={r['workers']}: {r['per_s']} accepted/s, p50 {r['p50_ms']} ms, "
            f"errors {r['errors']}, ratio to 1 process {ratio:.2f}"
        )
    if one is None:
        return
    for r in results:
        if r["workers"] != 1:
            scoreboard.record(
                7,
                f"{r['workers']} relay processes",
                r["ratio_to_1"],
                f"{r['per_s']}/s = {r['ratio_to_1']:.2f}x",
                f"1 process {one['per_s']}/s",
            )
    print(
        "   ceiling: 2 cores run the load generator, PostgreSQL and every worker; accepts "
        "commit one after another under the audit lock, so past the core count more "
        "processes add switches and lock waits, not throughput"
    )


if __name__ == "__main__":
    main()

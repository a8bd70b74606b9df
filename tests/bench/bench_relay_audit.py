"""The audit log through the relay's real store: append, proof and verification costs.

For SQLite (and PostgreSQL when POCNET_TEST_POSTGRES_URL is set), with the relay's own
writer, ``append_event``, :class:`relay.auditlog.AuditLog` and ``relay audit verify``'s
:func:`relay.auditverify.verify_log`:

- **append**: events per second when a transaction appends 256 of them (group commit),
  and the time of a transaction of one append, next to a baseline measured in the same
  run: the same transactions inserting the same event rows into a copy of the ``events``
  table, without the Merkle tree;
- **proofs**: mean time to serve an inclusion and a consistency proof of a random entry of
  a log of ``POCNET_BENCH_AUDIT_SIZE`` entries (default 100,000), and the evidence proofs
  of one message;
- **verify**: entries per second recomputed and checked by ``relay audit verify``.

Run with ``python -m tests.bench relay_audit``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import Index, MetaData, Table

from keys.identities import SigningKey
from relay.audit import Event, append_event
from relay.auditlog import AuditLog
from relay.auditverify import verify_log
from relay.checkpoints import Signer
from relay.database import make_engine, upgrade
from relay.schema import events
from relay.writer import Tx, Writer
from tests.integration.relaykit import create_pg_database, drop_pg_database, postgres_url

SIZE = int(os.environ.get("POCNET_BENCH_AUDIT_SIZE", "100000"))
BATCH = 256
SINGLES = 200
PROOFS = 500
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ORIGIN = "pocnet.relay/bench"

_scratch = MetaData()
baseline_events = Table(
    "bench_events",
    _scratch,
    *(c.copy() for c in events.columns),
    Index("ix_bench_events_msg", "msg_id"),
)  # the events table and its index, without the Merkle tree


def make_event(i: int) -> Event:
    digest = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    return Event(
        ("accepted", "delivered", "retrieved")[i % 3],
        T0 + timedelta(milliseconds=i),
        msg_id=f"{i // 3:032x}",
        sender="FR",
        recipient="DE",
        envelope_sha256=digest,
        receipt_sha256=None if i % 3 == 0 else digest[::-1],
    )


async def _timed_batches(writer: Writer, start: int, count: int, size: int, audit: bool) -> float:
    """Seconds to write ``count`` events in transactions of ``size``."""
    seq = [start]

    async def op(tx: Tx, chunk: list[Event]) -> None:
        for e in chunk:
            if audit:
                await append_event(tx, e)
            else:
                tx.add(baseline_events, {"seq": seq[0], **asdict(e)})
                seq[0] += 1

    began = time.perf_counter()
    for pos in range(start, start + count, size):
        chunk = [make_event(i) for i in range(pos, min(pos + size, start + count))]
        await writer.run(lambda tx, c=chunk: op(tx, c))  # type: ignore[misc]
    return time.perf_counter() - began


async def run_backend(name: str, url: str) -> dict[str, Any]:
    engine = make_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.run_sync(_scratch.create_all)
    writer = Writer(engine, max_batch=BATCH)
    writer.start()
    key = SigningKey.generate()
    log = AuditLog(engine, writer, Signer(key, ORIGIN), refresh=timedelta(seconds=300))
    rng = random.Random(6)
    try:
        fill = await _timed_batches(writer, 0, SIZE, BATCH, audit=True)
        base_fill = await _timed_batches(writer, 0, SIZE, BATCH, audit=False)
        single = await _timed_batches(writer, SIZE, SINGLES, 1, audit=True)
        base_single = await _timed_batches(writer, SIZE, SINGLES, 1, audit=False)
        n = SIZE + SINGLES
        began = time.perf_counter()
        for _ in range(PROOFS):
            await log.inclusion(rng.randrange(n), n)
        t_inc = (time.perf_counter() - began) / PROOFS
        began = time.perf_counter()
        for _ in range(PROOFS):
            await log.consistency(rng.randrange(1, n), n)
        t_con = (time.perf_counter() - began) / PROOFS
        await log.sign(datetime.now(UTC))
        began = time.perf_counter()
        for _ in range(PROOFS // 5):
            await log.message_proofs(f"{rng.randrange(n // 3):032x}", datetime.now(UTC))
        t_ev = (time.perf_counter() - began) / (PROOFS // 5)
        began = time.perf_counter()
        report = await verify_log(engine, [key.public], ORIGIN)
        t_verify = time.perf_counter() - began
        assert report.ok, report.problem
    finally:
        await writer.close()
        await engine.dispose()
    return {
        "backend": name,
        "entries": n,
        "append_per_s_batched": round(SIZE / fill),
        "baseline_per_s_batched": round(SIZE / base_fill),
        "batched_ratio": round(base_fill / fill, 2),
        "append_tx_ms": round(single / SINGLES * 1000, 2),
        "baseline_tx_ms": round(base_single / SINGLES * 1000, 2),
        "inclusion_us": round(t_inc * 1e6),
        "consistency_us": round(t_con * 1e6),
        "evidence_proofs_us": round(t_ev * 1e6),
        "verify_per_s": round(n / t_verify),
    }


def main() -> None:
    results = []
    with TemporaryDirectory(prefix="pocnet-bench-audit-") as tmp:
        results.append(
            asyncio.run(run_backend("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'a.db'}"))
        )
    if postgres_url():
        url = asyncio.run(create_pg_database())
        try:
            results.append(asyncio.run(run_backend("postgresql", url)))
        finally:
            asyncio.run(drop_pg_database(url))
    else:
        print("   (PostgreSQL skipped: set POCNET_TEST_POSTGRES_URL to include it)")
    for r in results:
        print(
            f"   {r['backend']:<10} {r['entries']} entries: append {r['append_per_s_batched']}/s "
            f"in transactions of {BATCH} (events only: {r['baseline_per_s_batched']}/s, ratio "
            f"{r['batched_ratio']}); one append per transaction {r['append_tx_ms']} ms (events "
            f"only {r['baseline_tx_ms']} ms)"
        )
        print(
            f"   {'':<10} inclusion proof {r['inclusion_us']} us, consistency proof "
            f"{r['consistency_us']} us, one message's evidence proofs {r['evidence_proofs_us']} "
            f"us; verify {r['verify_per_s']} entries/s"
        )
    print("   " + json.dumps(results))


if __name__ == "__main__":
    main()

"""The relay's Merkle appender and checkpoints through the real store, against keys.auditlog.merkle.

Runs on SQLite, and on PostgreSQL when POCNET_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, insert, select

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.errors import NotFound, ValidationError
from keys.identities import SigningKey
from relay.audit.append import Event, append_event, tree_head
from relay.audit.checkpoints import Signer, sign_in
from relay.audit.proofs import AuditLog
from relay.audit.verify import verify_log
from relay.cli import audit as audit_cli
from relay.cli.audit import pg_waiter, tail_entries
from relay.storage.database import make_engine, upgrade
from relay.storage.schema import checkpoints, events, merkle_nodes
from relay.storage.writer import Tx, Writer
from tests.integration.relaykit import T0, database, engine_on
from tests.support.processes import ROOT

ORIGIN = "pocnet.relay/test"
REFRESH = timedelta(seconds=300)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: Any, tmp_path: Path) -> Any:
    async with engine_on(request.param, tmp_path) as eng:
        yield eng


def make_event(i: int) -> Event:
    """Event number ``i`` of a varied, deterministic history."""
    moment = T0 + timedelta(milliseconds=137 * i, microseconds=i % 1000)
    if i % 7 == 6:
        return Event("directory_installed", moment, directory_version=str(i))
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    kind = ("accepted", "delivered", "retrieved", "overdue")[i % 4]
    return Event(
        kind,
        moment,
        msg_id=f"{i:032x}",
        sender="FR",
        recipient="DE",
        envelope_sha256=digest,
        receipt_sha256=digest[::-1] if kind != "accepted" else None,
    )


async def append_batches(writer: Writer, evs: list[Event], sizes: list[int]) -> list[int]:
    """Append ``evs`` in transactions of ``sizes`` events each (one group commit each)."""
    seqs: list[int] = []
    pos = 0
    for size in sizes:
        chunk = evs[pos : pos + size]
        pos += size

        async def op(tx: Tx, chunk: list[Event] = chunk) -> list[int]:
            return [await append_event(tx, e) for e in chunk]

        seqs += await writer.run(op)
    assert pos == len(evs)
    return seqs


async def stored_nodes(engine: Any) -> dict[tuple[int, int], bytes]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(merkle_nodes))
        return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


def complete_subtrees(n: int) -> set[tuple[int, int]]:
    return {(lv, i) for lv in range(64) for i in range(n >> lv)}


async def test_appends_store_exactly_the_reference_tree(engine: Any) -> None:
    evs = [make_event(i) for i in range(45)]
    leaves = [merkle.leaf_hash(e.entry()) for e in evs]
    writer = Writer(engine)
    writer.start()
    try:
        seqs = await append_batches(writer, evs, [1, 1, 2, 5, 8, 1, 13, 14])
        head = await writer.run(tree_head)
    finally:
        await writer.close()
    assert seqs == list(range(45))
    nodes = await stored_nodes(engine)
    assert set(nodes) == complete_subtrees(45)
    assert len(nodes) == 2 * 45 - (45).bit_count()
    for (level, idx), value in nodes.items():
        assert value == merkle.mth(leaves, idx << level, (idx + 1) << level), (level, idx)
    assert head == (45, merkle.mth(leaves))


async def test_served_proofs_equal_the_rfc_definitions(engine: Any) -> None:
    evs = [make_event(i) for i in range(45)]
    leaves = [merkle.leaf_hash(e.entry()) for e in evs]
    writer = Writer(engine)
    writer.start()
    log = AuditLog(engine, writer, Signer(SigningKey.generate(), ORIGIN), refresh=REFRESH)
    try:
        await append_batches(writer, evs, [20, 25])
        for n in (1, 2, 3, 7, 8, 13, 32, 45):
            for i in range(n):
                expected = merkle.reference_inclusion_proof(i, leaves[:n])
                assert await log.inclusion(i, n) == expected, (i, n)
            for m in range(n + 1):
                expected = merkle.reference_consistency_proof(m, leaves[:n])
                assert await log.consistency(m, n) == expected, (m, n)
        with pytest.raises(NotFound):
            await log.inclusion(0, 46)
        with pytest.raises(NotFound):
            await log.consistency(3, 46)
        for bad in ((5, 5), (-1, 3), (6, 2**63)):
            with pytest.raises(ValidationError):
                await log.inclusion(*bad)
        with pytest.raises(ValidationError):
            await log.consistency(9, 8)
    finally:
        await writer.close()


async def test_concurrent_group_committed_appends_make_one_consistent_tree(engine: Any) -> None:
    writer = Writer(engine, max_batch=32)
    writer.start()

    async def op(tx: Tx, i: int) -> list[int]:
        return [await append_event(tx, make_event(i * 3 + k)) for k in range(1 + i % 3)]

    try:
        results = await asyncio.gather(*(writer.run(lambda tx, i=i: op(tx, i)) for i in range(120)))
        head = await writer.run(tree_head)
    finally:
        await writer.close()
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(len(seqs)))
    assert writer.batches < 60, "appends were group-committed"
    async with engine.connect() as conn:
        rows = (await conn.execute(select(events).order_by(events.c.seq))).all()
    leaves = [merkle.leaf_hash(Event.from_row(r._mapping).entry()) for r in rows]
    assert head == (len(leaves), merkle.mth(leaves))
    nodes = await stored_nodes(engine)
    assert set(nodes) == complete_subtrees(len(leaves))
    key = SigningKey.generate()
    assert (await verify_log(engine, [key.public], ORIGIN)).ok


def count_tree_reads(engine: Any) -> tuple[list[str], Callable[[], None]]:
    """Statements reading ``merkle_nodes`` from now on, and how to stop counting."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM merkle_nodes" in statement:
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    return statements, lambda: event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_the_writer_reads_the_border_once_then_keeps_it(engine: Any) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        await append_batches(writer, [make_event(i) for i in range(1000)], [1000])
    finally:
        await writer.close()
    writer = Writer(engine)  # a new writer (a restart) reads the border once ...
    writer.start()
    statements, stop = count_tree_reads(engine)
    try:
        await append_batches(writer, [make_event(i) for i in range(1000, 1063)], [63])
        assert len(statements) == 1, "63 appends in one transaction read the tree once"
        assert statements[0].count(" OR ") == (1000).bit_count() - 1, "the border, by key"
        # ... and then keeps it: later transactions read no tree row at all.
        await append_batches(writer, [make_event(i) for i in range(1063, 1100)], [1, 5, 31])
        head = await writer.run(tree_head)
    finally:
        stop()
        await writer.close()
    assert len(statements) == 1
    async with engine.connect() as conn:
        rows = (await conn.execute(select(events).order_by(events.c.seq))).all()
    leaves = [merkle.leaf_hash(Event.from_row(r._mapping).entry()) for r in rows]
    assert head == (1100, merkle.mth(leaves))
    assert set(await stored_nodes(engine)) == complete_subtrees(1100)


async def test_a_rolled_back_transaction_makes_the_writer_read_the_border_again(
    engine: Any,
) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        await append_batches(writer, [make_event(i) for i in range(6)], [6])

        async def append_then_fail(tx: Tx) -> None:
            await append_event(tx, make_event(6))
            raise RuntimeError("a bug after the append")

        statements, stop = count_tree_reads(engine)
        with pytest.raises(Exception, match="could not store"):
            await writer.run(append_then_fail)
        stop()
        # The first attempt used the kept border; the careful re-run read it again.
        assert len(statements) == 1
        statements, stop = count_tree_reads(engine)
        seqs = await append_batches(writer, [make_event(6), make_event(7)], [1, 1])
        stop()
        assert seqs == [6, 7]
        assert len(statements) == 1, "read after the error, then kept again"
    finally:
        await writer.close()
    assert set(await stored_nodes(engine)) == complete_subtrees(8)


async def test_a_damaged_tree_stops_writes_and_commits_nothing(engine: Any) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        await append_batches(writer, [make_event(i) for i in range(6)], [6])
    finally:
        await writer.close()
    async with engine.begin() as conn:  # the border of 6 is (2, 0) and (1, 2)
        await conn.execute(
            delete(merkle_nodes).where(merkle_nodes.c.level == 1, merkle_nodes.c.idx == 2)
        )
    writer = Writer(engine)  # a writer starting on a damaged tree refuses to append
    writer.start()
    try:
        with pytest.raises(Exception, match="could not store"):
            await append_batches(writer, [make_event(6)], [1])
        with pytest.raises(Exception, match="could not store"):
            await append_batches(writer, [make_event(6)], [1])
    finally:
        await writer.close()
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(events))).scalar_one() == 6


async def test_two_writers_taking_turns_make_one_consistent_tree(engine: Any) -> None:
    # Each writer keeps its own border; each must see that the other appended meanwhile.
    first, second = Writer(engine), Writer(engine)
    first.start()
    second.start()
    try:
        for i in range(0, 40, 4):
            await append_batches(first, [make_event(i), make_event(i + 1)], [1, 1])
            await append_batches(second, [make_event(i + 2), make_event(i + 3)], [2])
    finally:
        await first.close()
        await second.close()
    assert set(await stored_nodes(engine)) == complete_subtrees(40)
    assert (await verify_log(engine, [SigningKey.generate().public], ORIGIN)).ok


@pytest.mark.postgres
async def test_two_relay_processes_appending_at_once_make_one_verifiable_log(
    tmp_path: Path,
) -> None:
    count, firsts = 100, (0, 1000)
    async with database("postgres", tmp_path) as url:
        command = [sys.executable, "-m", "tests.support.audit_appender", url]
        procs = [
            subprocess.Popen([*command, str(first), str(count), str(tmp_path)], cwd=ROOT)
            for first in firsts
        ]
        try:
            deadline = time.monotonic() + 60
            while not all((tmp_path / f"ready-{f}").exists() for f in firsts):
                assert time.monotonic() < deadline, "the appenders did not start"
                assert all(p.poll() is None for p in procs), "an appender died"
                await asyncio.sleep(0.02)
            (tmp_path / "go").touch()
            codes = [await asyncio.to_thread(p.wait, 120) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=10)
        assert codes == [0, 0]
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(events).order_by(events.c.seq))).all()
            logged = [Event.from_row(r._mapping) for r in rows]
            assert [r.seq for r in rows] == list(range(2 * count))
            expected = {make_event(f + i) for f in firsts for i in range(count)}
            assert set(logged) == expected
            of_first = {make_event(firsts[0] + i) for i in range(count)}
            by_first = [e in of_first for e in logged]
            switches = sum(a != b for a, b in itertools.pairwise(by_first))
            assert switches > 1, "the two processes' appends interleaved"
            assert set(await stored_nodes(engine)) == complete_subtrees(2 * count)
            assert (await verify_log(engine, [SigningKey.generate().public], ORIGIN)).ok
        finally:
            await engine.dispose()


async def test_checkpoints_are_signed_when_needed_and_never_go_back_in_time(engine: Any) -> None:
    key = SigningKey.generate()
    signer = Signer(key, ORIGIN)
    writer = Writer(engine)
    writer.start()

    def sign_at(moment: Any) -> Any:
        return writer.run(lambda tx: sign_in(tx, signer, moment, refresh=REFRESH))

    try:
        empty = await sign_at(T0)
        assert (empty.tree_size, empty.root) == (0, merkle.EMPTY_ROOT)
        await append_batches(writer, [make_event(i) for i in range(5)], [5])
        first = await sign_at(T0 + timedelta(seconds=1))
        again = await sign_at(T0 + timedelta(seconds=2))
        assert again == first, "same size and fresh: no new checkpoint"
        later = await sign_at(T0 + timedelta(seconds=301))
        assert later.id != first.id and later.tree_size == 5
        await append_batches(writer, [make_event(5)], [1])
        skewed = await sign_at(T0)  # another relay process with a slow clock
        assert skewed.signed_at == later.signed_at, "times never go backwards"
    finally:
        await writer.close()
    head = signed_checkpoint.verify(skewed.note, key.public, ORIGIN)
    assert (head.size, head.root_hash, head.time) == (6, skewed.root, skewed.signed_at)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(checkpoints))).scalar_one() == 4
    assert (await verify_log(engine, [key.public], ORIGIN)).checkpoints == 4


async def test_upgrading_an_old_database_builds_the_tree_of_its_events(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0001")
        evs = [make_event(i) for i in range(11)]
        async with engine.begin() as conn:  # as the relay wrote them before revision 0002
            await conn.execute(insert(events), [{"seq": i, **asdict(e)} for i, e in enumerate(evs)])
        await upgrade(engine)
        leaves = [merkle.leaf_hash(e.entry()) for e in evs]
        nodes = await stored_nodes(engine)
        assert set(nodes) == complete_subtrees(11)
        assert all(v == merkle.mth(leaves, i << lv, (i + 1) << lv) for (lv, i), v in nodes.items())
    finally:
        await engine.dispose()


async def test_tail_follow_shows_new_entries_promptly(engine: Any) -> None:
    """PostgreSQL: woken by NOTIFY (well before the 5 s re-read); SQLite: the 0.5 s re-read."""
    shown: list[tuple[int, str]] = []
    arrived = asyncio.Event()

    def show(seq: int, fields: dict[str, Any]) -> None:
        shown.append((seq, fields["type"]))
        arrived.set()

    if engine.dialect.name == "postgresql":
        waiter: Any = pg_waiter(engine.url.render_as_string(hide_password=False))
        bound = 1.0
    else:
        waiter = contextlib.nullcontext(audit_cli._sqlite_wait)
        bound = audit_cli.SQLITE_POLL_SECONDS + 0.5
    writer = Writer(engine)
    writer.start()
    try:
        await append_batches(writer, [make_event(i) for i in range(2)], [2])
        async with waiter as wait:
            task = asyncio.create_task(tail_entries(engine, start=1, show=show, wait=wait))
            await asyncio.wait_for(arrived.wait(), 5)
            assert shown == [(1, make_event(1).type)]
            await asyncio.sleep(0.2)  # the tail is now waiting
            arrived.clear()
            started = time.perf_counter()
            await append_batches(writer, [make_event(2)], [1])
            await asyncio.wait_for(arrived.wait(), 6)
            latency = time.perf_counter() - started
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await writer.close()
    assert shown[-1] == (2, make_event(2).type)
    assert latency < bound, f"tail --follow took {latency:.2f} s"

"""``relay audit verify`` finds every kind of change to the stored log, and names it.

A log of 40 events with checkpoints at sizes 10, 25 and 40 is built through the real
store; each named case changes the database the way an intruder (or a disk) might, and
the verifier must report the expected first problem. SQLite, and PostgreSQL when
POCNET_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from keys.auditlog import checkpoint as signed_checkpoint
from keys.auditlog import merkle
from keys.identities import SigningKey
from relay.audit.append import Event
from relay.audit.checkpoints import Signer, sign_in
from relay.audit.verify import verify_log
from relay.cli.main import main
from relay.storage.database import make_engine
from relay.storage.schema import checkpoints, events, merkle_nodes
from relay.storage.writer import Writer
from tests.integration.relaykit import T0, database, make_relay_keystore
from tests.unit.relay.test_audit import append_batches, make_event

ORIGIN = "pocnet.relay/pocnet"  # the default network's
SIZES = (10, 25, 40)


@dataclass
class Log:
    engine: Any
    key: SigningKey
    cps: dict[int, int]  # tree size -> checkpoint id


async def build(engine: Any, key: SigningKey) -> Log:
    writer = Writer(engine)
    writer.start()
    cps: dict[int, int] = {}
    signer = Signer(key, ORIGIN)
    try:
        done = 0
        for size in SIZES:
            await append_batches(writer, [make_event(i) for i in range(done, size)], [size - done])
            moment = T0 + timedelta(minutes=size)
            stored = await writer.run(
                lambda tx, m=moment: sign_in(tx, signer, m, refresh=timedelta(seconds=60))
            )
            cps[size] = stored.id
            done = size
    finally:
        await writer.close()
    return Log(engine, key, cps)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def log(request: Any, tmp_path: Path) -> Any:
    async with database(request.param, tmp_path) as url:
        engine = make_engine(url)
        try:
            yield await build(engine, SigningKey.generate())
        finally:
            await engine.dispose()


async def run_sql(log: Log, *statements: Any) -> None:
    async with log.engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


def node(level: int, idx: int) -> Any:
    return (merkle_nodes.c.level == level) & (merkle_nodes.c.idx == idx)


async def rebuild_tree(log: Log) -> None:
    """What a careful intruder does after changing events: recompute every stored hash."""
    async with log.engine.begin() as conn:
        rows = (await conn.execute(select(events).order_by(events.c.seq))).all()
        store = merkle.DictStore()
        writes: list[merkle.Write] = []
        for seq, row in enumerate(rows):
            new = merkle.append(store, seq, merkle.leaf_hash(Event.from_row(row._mapping).entry()))
            store.apply(new)
            writes += new
        await conn.execute(delete(merkle_nodes))
        await conn.execute(
            insert(merkle_nodes), [{"level": lv, "idx": i, "hash": h} for lv, i, h in writes]
        )


async def forge_late_checkpoint(log: Log) -> None:
    """A checkpoint of the whole log, validly signed, but dated before the first one."""
    moment = T0 - timedelta(days=1)
    async with log.engine.connect() as conn:
        root = (
            await conn.execute(select(checkpoints.c.root).where(checkpoints.c.id == log.cps[40]))
        ).scalar_one()
    head = signed_checkpoint.Checkpoint.at(moment, ORIGIN, 40, bytes(root))
    note = signed_checkpoint.sign(head, log.key)
    await run_sql(
        log,
        insert(checkpoints).values(tree_size=40, root=root, signed_at=head.time, note=note),
    )


async def flip_note_byte(log: Log) -> None:
    async with log.engine.connect() as conn:
        note = bytes(
            (
                await conn.execute(
                    select(checkpoints.c.note).where(checkpoints.c.id == log.cps[25])
                )
            ).scalar_one()
        )
    changed = note.replace(b"\n25\n", b"\n24\n")
    assert changed != note
    await run_sql(
        log, update(checkpoints).where(checkpoints.c.id == log.cps[25]).values(note=changed)
    )


Tamper = Callable[[Log], Awaitable[None]]


def sql(*make: Callable[[Log], Any]) -> Tamper:
    return lambda log: run_sql(log, *(m(log) for m in make))


async def change_event_then_rebuild(log: Log) -> None:
    await run_sql(log, update(events).where(events.c.seq == 14).values(sender="IT"))
    await rebuild_tree(log)


# (case, tamper, expected kind, expected seq)
CASES: list[tuple[str, Tamper, str, int | None]] = [
    (
        "event_recipient_changed",
        sql(lambda _l: update(events).where(events.c.seq == 17).values(recipient="IT")),
        "leaf_mismatch",
        17,
    ),
    (
        "event_time_changed",
        sql(lambda _l: update(events).where(events.c.seq == 3).values(time=T0)),
        "leaf_mismatch",
        3,
    ),
    (
        "event_deleted",
        sql(lambda _l: delete(events).where(events.c.seq == 12)),
        "event_missing",
        12,
    ),
    (
        "event_type_garbled",
        sql(lambda _l: update(events).where(events.c.seq == 19).values(type="Bogus!")),
        "event_invalid",
        19,
    ),
    (
        "leaf_hash_changed",
        sql(lambda _l: update(merkle_nodes).where(node(0, 9)).values(hash=b"\x00" * 32)),
        "leaf_mismatch",
        9,
    ),
    (
        "inner_hash_changed",
        sql(lambda _l: update(merkle_nodes).where(node(2, 1)).values(hash=b"\x01" * 32)),
        "node_mismatch",
        7,
    ),
    (
        "inner_node_deleted",
        sql(lambda _l: delete(merkle_nodes).where(node(1, 3))),
        "node_missing",
        7,
    ),
    ("history_rewritten_with_its_tree", change_event_then_rebuild, "checkpoint_root", 24),
    ("checkpoint_note_changed", flip_note_byte, "checkpoint_signature", 24),
    (
        "checkpoint_root_column_changed",
        sql(
            lambda log: (
                update(checkpoints).where(checkpoints.c.id == log.cps[10]).values(root=b"\x02" * 32)
            )
        ),
        "checkpoint_row",
        9,
    ),
    ("checkpoint_dated_before_an_earlier_one", forge_late_checkpoint, "checkpoint_time", 39),
    (
        "entries_removed_from_the_end",
        sql(lambda _l: delete(events).where(events.c.seq >= 37)),
        "checkpoint_beyond_log",
        None,
    ),
    (
        "entries_and_checkpoint_removed_from_the_end",
        sql(
            lambda _l: delete(events).where(events.c.seq >= 37),
            lambda log: delete(checkpoints).where(checkpoints.c.id == log.cps[40]),
        ),
        "node_extra",
        None,
    ),
]


async def test_an_untouched_log_verifies(log: Log) -> None:
    seen: list[tuple[int, int]] = []
    report = await verify_log(
        log.engine, [log.key.public], ORIGIN, progress=lambda d, t: seen.append((d, t)), chunk=16
    )
    assert report.ok, report.problem
    assert (report.entries, report.nodes, report.checkpoints) == (40, 2 * 40 - 2, 3)
    assert seen == [(16, 40), (32, 40), (40, 40)]


@pytest.mark.parametrize(("case", "tamper", "kind", "seq"), CASES, ids=[c[0] for c in CASES])
async def test_a_change_is_found_and_named(
    log: Log, case: str, tamper: Tamper, kind: str, seq: int | None
) -> None:
    await tamper(log)
    report = await verify_log(log.engine, [log.key.public], ORIGIN, chunk=16)
    assert report.problem is not None, case
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    if kind in ("leaf_mismatch", "node_mismatch", "event_invalid"):
        assert report.problem.type is not None and report.problem.msg_id is not None


async def test_entries_changed_after_a_checkpoint_are_located_between_two(log: Log) -> None:
    await change_event_then_rebuild(log)
    report = await verify_log(log.engine, [log.key.public], ORIGIN)
    assert report.problem is not None
    assert "entries 10 to 24" in report.problem.message


async def test_another_key_or_origin_does_not_verify(log: Log) -> None:
    for keys, origin in (([SigningKey.generate().public], ORIGIN), ([log.key.public], "x/y")):
        report = await verify_log(log.engine, keys, origin)
        assert report.problem is not None
        assert (report.problem.kind, report.problem.checkpoint_id) == (
            "checkpoint_signature",
            log.cps[10],
        )
    rotated = [SigningKey.generate().public, log.key.public]
    assert (await verify_log(log.engine, rotated, ORIGIN)).ok, "an earlier key still verifies"


# The command -----------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(list(args))
    out = capsys.readouterr().out
    return code, out


async def test_the_command_verifies_names_and_exits_7(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore, bundle = make_relay_keystore()
    (tmp_path / "bundle.json").write_bytes(bundle)
    async with database("sqlite", tmp_path) as url:  # tmp_path/relay.db: the --data layout
        engine = make_engine(url)
        try:
            log = await build(engine, keystore.signing_key)
            capsys.readouterr()  # the relay's own log lines
            data = ["--data", str(tmp_path)]
            code, out = await _in_thread(cli, capsys, "audit", "verify", *data, "--json")
            assert code == 0 and json.loads(out)["entries"] == 40
            code, out = await _in_thread(cli, capsys, "audit", "checkpoint", *data, "--json")
            shown = json.loads(out)
            assert code == 0 and shown["verified"] and shown["tree_size"] == 40
            assert shown["verifier_key"].startswith(ORIGIN + "+")
            code, out = await _in_thread(cli, capsys, "audit", "tail", *data, "-n", "3", "--json")
            lines = [json.loads(line) for line in out.splitlines()]
            assert [line["seq"] for line in lines] == [37, 38, 39]
            assert lines[0]["type"] == make_event(37).type
            await run_sql(log, update(events).where(events.c.seq == 17).values(recipient="IT"))
            code, out = await _in_thread(cli, capsys, "audit", "verify", *data)
            assert code == 7
            assert "first bad entry: seq 17, type delivered, msg_id " + f"{17:032x}" in out
            other = tmp_path / "other.json"
            other.write_bytes(make_relay_keystore()[1])
            code, out = await _in_thread(
                cli, capsys, "audit", "checkpoint", *data, "--bundle", str(other)
            )
            assert code == 7 and "DOES NOT VERIFY" in out
        finally:
            await engine.dispose()


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a command (which calls asyncio.run) outside this test's event loop."""
    import asyncio

    return await asyncio.to_thread(fn, *args)

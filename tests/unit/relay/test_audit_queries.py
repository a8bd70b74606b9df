"""The relay's proof path costs one SQL statement, on SQLite and PostgreSQL.

Statements are counted with SQLAlchemy's ``before_cursor_execute`` event on the engine the
:class:`relay.audit.proofs.AuditLog` reads through. Runs on PostgreSQL when
POCNET_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event

from keys.auditlog import merkle
from keys.errors import NotFound
from keys.identities import SigningKey
from relay.audit.append import Event, append_event
from relay.audit.checkpoints import Signer
from relay.audit.proofs import AuditLog
from relay.storage.schema import merkle_nodes
from relay.storage.writer import Tx, Writer
from tests.integration.relaykit import T0, engine_on

SIZE = 100


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: Any, tmp_path: Path) -> Any:
    async with engine_on(request.param, tmp_path) as eng:
        yield eng


def make_event(i: int) -> Event:
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return Event(
        ("accepted", "delivered", "retrieved")[i % 3],
        T0 + timedelta(milliseconds=i),
        msg_id=f"{i // 3:032x}",
        sender="FR",
        recipient="DE",
        envelope_sha256=digest,
    )


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def log(engine: Any) -> Any:
    writer = Writer(engine)
    writer.start()

    async def fill(tx: Tx) -> None:
        for i in range(SIZE):
            await append_event(tx, make_event(i))

    try:
        await writer.run(fill)
        yield AuditLog(engine, writer, Signer(SigningKey.generate(), "pocnet.relay/q"),
                       refresh=timedelta(seconds=300))  # fmt: skip
    finally:
        await writer.close()


async def test_an_inclusion_proof_is_one_statement(engine: Any, log: AuditLog) -> None:
    for index, size in ((0, 1), (37, 64), (99, SIZE), (5, 77)):
        with statements(engine) as seen:
            proof = await log.inclusion(index, size)
        assert len(seen) == 1, seen
        assert len(proof) == merkle.inclusion_proof_length(index, size)


async def test_a_consistency_proof_is_one_statement(engine: Any, log: AuditLog) -> None:
    for old, new in ((1, 2), (37, 64), (63, SIZE), (64, 64)):
        with statements(engine) as seen:
            proof = await log.consistency(old, new)
        assert len(seen) == 1, seen
        assert len(proof) == merkle.consistency_proof_length(old, new)
    with statements(engine) as seen:
        assert await log.consistency(0, 0) == []
    assert seen == []


async def test_evidence_proofs_fetch_all_nodes_in_one_statement(engine: Any, log: AuditLog) -> None:
    await log.sign(T0)
    with statements(engine) as seen:
        _, proofs = await log.message_proofs(f"{7:032x}", T0)
    assert [p.leaf_index for p in proofs] == [21, 22, 23]
    node_reads = [s for s in seen if "merkle_nodes" in s]
    assert len(node_reads) == 1, seen


async def test_a_size_not_reached_costs_a_second_statement_and_is_404(
    engine: Any, log: AuditLog
) -> None:
    with statements(engine) as seen, pytest.raises(NotFound):
        await log.inclusion(SIZE - 1, SIZE + 1)
    assert len(seen) == 2, seen
    with pytest.raises(NotFound):
        await log.consistency(SIZE, SIZE + 1)


async def test_a_missing_row_in_a_reached_size_is_damage_not_404(
    engine: Any, log: AuditLog
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            delete(merkle_nodes).where(merkle_nodes.c.level == 2, merkle_nodes.c.idx == 24)
        )  # leaves 96 to 99: part of every proof in the tree of 100
    with pytest.raises(merkle.MissingNode):
        await log.inclusion(0, SIZE)
    assert len(await log.inclusion(0, 96)) == merkle.inclusion_proof_length(0, 96)

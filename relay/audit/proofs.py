"""The audit log's read side: checkpoints, inclusion and consistency proofs, evidence.

Proofs are computed from the stored complete-subtree hashes: the plan of
:mod:`keys.auditlog.merkle` names the rows, ONE statement fetches them (:func:`read_nodes`), and the
pure function folds them. The same statement also asks for the last leaf of the tree the
proof is about: if every row is there, the log has reached that size (a node is stored in
the transaction that appends its last leaf), so the common case needs no ``max(seq)``
query; only a missing row costs a second query, to tell "not that big yet" (404) from a
damaged store. Sizes and indices are checked before (400 for a bad range), so nothing
reaches SQL unchecked.

The statement is driver-level SQL, built once per shape, with no ORM objects and no
SQLAlchemy compilation: on SQLite ``(level = ? AND idx = ?) OR ...`` (which uses the
primary key; docs/adr/0003-audit-log.md), on PostgreSQL one prepared statement for any
number of nodes, ``JOIN unnest($1::smallint[], $2::bigint[])`` (an index scan per pair,
checked with EXPLAIN). Inclusion and consistency proofs read on one long-lived connection
without the pool's checkout (:mod:`relay.audit.hotreads`), falling back to the pool when
it is busy or broken: see tests/bench/bench_relay_audit.py for both.

Like :mod:`relay.core.service`, this knows nothing of HTTP; the transport maps the answers.
Binary values are unpadded base64url strings, like every binary value in PoCNet's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keys.auditlog import merkle
from keys.encoding import b64u_encode
from keys.errors import NotFound
from relay.audit import append as audit
from relay.audit.checkpoints import Signer, StoredCheckpoint, latest, sign_in
from relay.audit.hotreads import HotReader
from relay.storage.schema import events
from relay.storage.writer import Writer

MAX_EVENTS_PER_MESSAGE = 64
"""Most log entries returned as evidence for one message (a message has about eight)."""


@dataclass(frozen=True)
class MessageProof:
    """One logged event about a message: its leaf index, entry bytes and inclusion proof."""

    leaf_index: int
    entry: bytes
    hashes: list[bytes]

    def to_wire(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "entry": b64u_encode(self.entry),
            "hashes": [b64u_encode(h) for h in self.hashes],
        }


def _too_big(size: int, current: int) -> NotFound:
    return NotFound(f"the audit log has {current} entries, not {size}", code="tree_size_unknown")


_PG_NODES = (
    "SELECT m.level, m.idx, m.hash FROM merkle_nodes AS m"
    " JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)"
    " ON m.level = w.level AND m.idx = w.idx"
)


@lru_cache(maxsize=256)
def _sqlite_nodes(count: int) -> str:
    """The SQLite statement for ``count`` nodes: ``(level = ? AND idx = ?) OR ...``."""
    terms = " OR ".join(["(level = ? AND idx = ?)"] * count)
    return f"SELECT level, idx, hash FROM merkle_nodes WHERE {terms}"


def _statements(
    nodes: Iterable[merkle.NodeId], postgres: bool
) -> list[tuple[str, tuple[Any, ...]]]:
    """The driver-level statements (with their parameters) that read ``nodes``: one per
    200 nodes, so a proof (about 2 log2(n) nodes) is always one statement."""
    wanted = sorted(set(nodes))
    out: list[tuple[str, tuple[Any, ...]]] = []
    for start in range(0, len(wanted), audit.MAX_NODES_PER_QUERY):
        chunk = wanted[start : start + audit.MAX_NODES_PER_QUERY]
        if postgres:
            out.append((_PG_NODES, ([n[0] for n in chunk], [n[1] for n in chunk])))
        else:
            out.append((_sqlite_nodes(len(chunk)), tuple(v for node in chunk for v in node)))
    return out


def _found(rows: Iterable[Any]) -> dict[merkle.NodeId, bytes]:
    return {(int(level), int(idx)): bytes(value) for level, idx, value in rows}


async def read_nodes(
    conn: AsyncConnection, nodes: Iterable[merkle.NodeId]
) -> dict[merkle.NodeId, bytes]:
    """The stored hashes of ``nodes`` (those that exist), through a pooled connection."""
    found: dict[merkle.NodeId, bytes] = {}
    for sql, params in _statements(nodes, conn.dialect.name == "postgresql"):
        rows: Any = await conn.exec_driver_sql(sql, params)  # typed as rows of no columns
        found.update(_found(rows))
    return found


def _visible(rows: list[Any], caller: str) -> list[Any]:
    """The events of the messages ``caller`` sent or received (every event about a message
    names both parties), at most :data:`MAX_EVENTS_PER_MESSAGE` per message."""
    kept: list[Any] = []
    count: dict[str, int] = {}
    for row in rows:
        if caller not in (row["sender"], row["recipient"]):
            continue
        n = count[row["msg_id"]] = count.get(row["msg_id"], 0) + 1
        if n <= MAX_EVENTS_PER_MESSAGE:
            kept.append(row)
    return kept


def _evidence_nodes(seqs: list[int], size: int) -> list[merkle.NodeId]:
    return [n for seq in seqs for element in merkle.inclusion_nodes(seq, size) for n in element]


class AuditLog:
    """Reads the log and signs checkpoints on demand."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: Writer,
        signer: Signer,
        *,
        refresh: timedelta,
        hot: HotReader | None = None,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.signer = signer
        self.refresh = refresh
        self.hot = hot  # proofs read here first (relay.audit.hotreads)

    async def close(self) -> None:
        if self.hot is not None:
            await self.hot.close()

    async def sign(self, now: datetime) -> StoredCheckpoint:
        """Sign a checkpoint of the current log if the last one is not current and fresh."""
        return await self.writer.run(lambda tx: sign_in(tx, self.signer, now, refresh=self.refresh))

    async def checkpoint(self, now: datetime, covering: int | None = None) -> StoredCheckpoint:
        """The latest checkpoint; a new one if it is stale or does not contain ``covering``."""
        async with self.engine.connect() as conn:
            last = await latest(conn)
        return self._usable(last, now, covering) or await self.sign(now)

    def _usable(
        self, last: StoredCheckpoint | None, now: datetime, covering: int | None
    ) -> StoredCheckpoint | None:
        """``last`` if it is fresh and contains entry ``covering``, else None."""
        if (
            last is not None
            and now - last.signed_at < self.refresh
            and (covering is None or covering < last.tree_size)
        ):
            return last
        return None

    async def tree_size(self) -> int:
        async with self.engine.connect() as conn:
            return await audit.committed_size(conn)

    async def inclusion(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the log's first ``size`` entries.

        Raises:
            ValidationError: not ``0 <= index < size`` (``bad_tree_range``).
            NotFound: the log has fewer than ``size`` entries (``tree_size_unknown``).
        """
        plan = merkle.inclusion_nodes(index, size)
        store = await self._nodes_of(merkle.plan_nodes(plan), size)
        return merkle.inclusion_proof(store, index, size)

    async def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof from the first ``old_size`` to ``new_size`` entries.

        Raises:
            ValidationError: not ``0 <= old_size <= new_size`` (``bad_tree_range``).
            NotFound: the log has fewer than ``new_size`` entries (``tree_size_unknown``).
        """
        plan = merkle.consistency_nodes(old_size, new_size)
        store = await self._nodes_of(merkle.plan_nodes(plan), new_size)
        return merkle.consistency_proof(store, old_size, new_size)

    async def _nodes_of(self, nodes: list[merkle.NodeId], size: int) -> merkle.DictStore:
        """The rows ``nodes`` of the tree of ``size`` entries, in one statement if all exist.

        Raises:
            NotFound: the log has fewer than ``size`` entries (``tree_size_unknown``).
        """
        wanted = set(nodes)
        if size:
            wanted.add((0, size - 1))  # present iff the log has reached ``size``
        if not wanted:
            return merkle.DictStore()
        statements = _statements(wanted, self.hot.postgres) if self.hot else []
        if len(statements) == 1 and self.hot is not None:
            rows = await self.hot.rows(*statements[0])
            if rows is not None and len(rows) == len(wanted):
                return merkle.DictStore(_found(rows))
        async with self.engine.connect() as conn:
            found = await read_nodes(conn, wanted)
            if len(found) < len(wanted):
                current = await audit.committed_size(conn)
                if size > current:
                    raise _too_big(size, current)
        return merkle.DictStore(found)  # a damaged store: the proof raises MissingNode

    async def message_proofs(
        self, msg_id: str, now: datetime
    ) -> tuple[StoredCheckpoint, list[MessageProof]]:
        """Every logged event about ``msg_id`` with its proof against one checkpoint.

        The checkpoint is the latest one if it contains them all, else a new one. The
        caller checks that the asker may see this message.
        """
        query = (
            select(events)
            .where(events.c.msg_id == msg_id)
            .order_by(events.c.seq)
            .limit(MAX_EVENTS_PER_MESSAGE)
        )
        checkpoint, proven = await self._proven(query, now, lambda rows: rows)
        return checkpoint, [proof for _, proof in proven]

    async def messages_proofs(
        self, caller: str, msg_ids: list[str], now: datetime
    ) -> tuple[StoredCheckpoint, dict[str, list[MessageProof]]]:
        """For each of ``msg_ids`` that ``caller`` sent or received, every logged event
        about it with its proof, all against ONE checkpoint (the latest if it contains
        them all, else a new one). Other ids are left out, as if they did not exist."""
        query = select(events).where(events.c.msg_id.in_(sorted(set(msg_ids))))
        checkpoint, proven = await self._proven(
            query.order_by(events.c.seq), now, lambda rows: _visible(rows, caller)
        )
        by_msg: dict[str, list[MessageProof]] = {}
        for msg, proof in proven:
            by_msg.setdefault(msg, []).append(proof)
        return checkpoint, by_msg

    async def _proven(
        self, query: Any, now: datetime, keep: Callable[[list[Any]], list[Any]]
    ) -> tuple[StoredCheckpoint, list[tuple[str, MessageProof]]]:
        """The events ``query`` selects (those ``keep`` keeps), each with its message id
        and its proof."""
        async with self.engine.connect() as conn:  # one connection in the common case
            rows = keep([r._mapping for r in await conn.execute(query)])
            seqs = [int(r["seq"]) for r in rows]
            checkpoint = self._usable(await latest(conn), now, max(seqs) if seqs else None)
            if checkpoint is not None:
                nodes = await read_nodes(conn, _evidence_nodes(seqs, checkpoint.tree_size))
        if checkpoint is None:
            checkpoint = await self.sign(now)
            async with self.engine.connect() as conn:
                nodes = await read_nodes(conn, _evidence_nodes(seqs, checkpoint.tree_size))
        size = checkpoint.tree_size
        store = merkle.DictStore(nodes)
        proven = [
            (
                str(row["msg_id"]),
                MessageProof(
                    seq,
                    audit.Event.from_row(row).entry(),
                    merkle.inclusion_proof(store, seq, size),
                ),
            )
            for seq, row in zip(seqs, rows, strict=True)
        ]
        return checkpoint, proven

    async def evidence(self, msg_id: str, now: datetime) -> dict[str, Any]:
        """The audit part of a message's evidence: ``checkpoint`` and ``proofs``."""
        checkpoint, proofs = await self.message_proofs(msg_id, now)
        return {
            "checkpoint": checkpoint.note.decode("utf-8"),
            "proofs": [p.to_wire() for p in proofs],
        }

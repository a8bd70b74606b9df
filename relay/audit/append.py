"""The audit hook: every event is appended here, and only here.

:func:`append_event` writes one row of metadata (never content) to the append-only
``events`` table in the caller's transaction, so the event commits or rolls back with the
state change it records, and appends its leaf to the Merkle tree (``merkle_nodes``) in the
same transaction. Its ``seq`` is the event's 0-based leaf index in the audit log:
allocation is gap-free and serialised because the writer takes :func:`lock` at the start of
every write transaction (a transaction-scoped advisory lock on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` write lock otherwise), so one relay process or several append one
after the other.

The tree (RFC 9162, :mod:`keys.auditlog.merkle`): the leaf of an event is
``leaf_hash(entry_bytes(event))``; each append stores the leaf hash and every complete
subtree it completes, ``(level, idx, hash)``. The first append of a transaction reads the
tree's size (one index lookup) and needs its border (the complete subtrees of
:func:`keys.auditlog.merkle.root_nodes`, a superset of :func:`keys.auditlog.merkle.append_nodes`);
later appends of the same transaction (group commit) find their siblings in that
in-transaction cache. So an append costs O(log n) and never recomputes the tree, and the
transaction knows its new root without another query (:func:`tree_head`, used to sign
checkpoints).

The border is kept in the writer's memory between transactions (``Tx.kept``, issue 12):
a transaction takes it, and only a commit puts the new one back. It is used only when the
size it was kept for is the size read, under the lock, at the start of the transaction; so
after a start, an error (rollback) or another relay process's appends (PostgreSQL: several
processes, one advisory lock) the border is read from the store again, in one query.

A damaged tree (a border row missing when the border is read) stops every write with an
ordinary exception, not a :class:`keys.errors.PocnetError`: the writer then rolls the whole
transaction back, so no state change is ever committed without its audit leaf. ``relay
audit verify`` says why. (A row removed behind a running writer's back is found when the
border is next read: at its start, after an error, and by ``relay audit verify``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql import ColumnElement

from keys.auditlog import merkle
from keys.auditlog.entry import entry_bytes
from keys.errors import ValidationError
from relay.monitoring.logging import get_logger
from relay.storage.schema import events, merkle_nodes

if TYPE_CHECKING:
    from relay.storage.writer import Tx

log = get_logger("relay.audit.append")

# Key of the PostgreSQL advisory lock that serialises audit appends ("PoCNetAu").
ADVISORY_LOCK_KEY = 0x506F434E65744175
# Most (level, idx) pairs in one OR query: well inside SQLite's expression-depth limit.
MAX_NODES_PER_QUERY = 200
_MEMO = "audit.tree"

EVENT_TYPES = frozenset(
    {
        "accepted",
        "delivered",
        "retrieved",
        "acknowledged",
        "rejected",
        "overdue",
        "expired",
        "directory_installed",
        "retention_purge",
    }
)


class AuditStoreDamaged(RuntimeError):
    """The stored tree lacks a row it must hold: appends stop until an operator looks.

    Deliberately not a :class:`keys.errors.PocnetError`, so the writer rolls back the whole
    transaction instead of committing the other writes of the failing operation.
    """


@dataclass(frozen=True)
class Event:
    """The metadata of one audit event (the fields of :data:`keys.auditlog.entry.ENTRY_FIELDS`)."""

    type: str
    time: datetime
    msg_id: str | None = None
    sender: str | None = None
    recipient: str | None = None
    envelope_sha256: str | None = None
    receipt_sha256: str | None = None
    directory_version: str | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown audit event type {self.type!r}")

    def entry(self) -> bytes:
        """The leaf bytes: canonical JSON of these fields (:func:`keys.auditlog.entry.entry_bytes`).

        Raises:
            ValueError: a field cannot be logged (a bug in the caller, never a peer's fault:
                the writer rolls the transaction back).
        """
        try:
            return entry_bytes(asdict(self))
        except ValidationError as e:
            raise ValueError(f"audit event {self.type!r} cannot be logged: {e.message}") from e

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Event:
        """The event of an ``events`` row (its ``_mapping``)."""
        return cls(**{name: row[name] for name in _EVENT_FIELDS})


_EVENT_FIELDS = tuple(Event.__dataclass_fields__)


def node_filter(nodes: Iterable[merkle.NodeId]) -> ColumnElement[bool]:
    """``(level = ? AND idx = ?) OR ...``: what uses the primary key on SQLite and PostgreSQL.

    (SQLite runs ``(level, idx) IN (VALUES ...)`` as a full scan: docs/adr/0003-audit-log.md.)
    """
    return or_(
        *(and_(merkle_nodes.c.level == level, merkle_nodes.c.idx == idx) for level, idx in nodes)
    )


async def fetch_nodes(conn: Any, nodes: Iterable[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    """The stored hashes of ``nodes`` (those that exist), in one query per 200 nodes.

    ``conn`` is an ``AsyncConnection`` or a :class:`relay.storage.writer.Tx`.
    """
    wanted = sorted(set(nodes))
    found: dict[merkle.NodeId, bytes] = {}
    for start in range(0, len(wanted), MAX_NODES_PER_QUERY):
        chunk = wanted[start : start + MAX_NODES_PER_QUERY]
        query = select(merkle_nodes.c.level, merkle_nodes.c.idx, merkle_nodes.c.hash).where(
            node_filter(chunk)
        )
        for level, idx, value in await conn.execute(query):
            found[(int(level), int(idx))] = bytes(value)
    return found


async def committed_size(conn: Any) -> int:
    """The number of entries in the log (``max(seq) + 1``; an index lookup)."""
    last = (await conn.execute(select(func.max(events.c.seq)))).scalar()
    return 0 if last is None else int(last) + 1


@dataclass
class _Tree:
    """The tree as this transaction sees it: its size and a border cache."""

    size: int
    store: merkle.DictStore
    appended: int = 0


@dataclass(frozen=True)
class _Border:
    """The border of a committed tree of ``size`` entries, kept by the writer."""

    size: int
    nodes: dict[merkle.NodeId, bytes]


def _keep(kept: dict[str, Any], tree: _Tree) -> None:
    """After the commit: keep the border of the tree as committed."""
    border = merkle.root_nodes(tree.size)
    kept[_MEMO] = _Border(tree.size, {node: tree.store.nodes[node] for node in border})


async def lock(tx: Tx) -> None:
    """Serialise this transaction's appends with every other writer's (PostgreSQL)."""
    if tx.postgres:
        await tx.conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))


async def _tree(tx: Tx) -> _Tree:
    tree: _Tree | None = tx.memo.get(_MEMO)
    if tree is not None:
        return tree
    kept = tx.kept.pop(_MEMO, None)  # taken: only this transaction's commit puts it back
    if tx.next_seq is None:
        tx.next_seq = await committed_size(tx)
    size = tx.next_seq
    if isinstance(kept, _Border) and kept.size == size:
        found = kept.nodes  # copied by DictStore below: this transaction may roll back
    else:
        border = merkle.root_nodes(size)
        found = await fetch_nodes(tx, border)
        missing = [node for node in border if node not in found]
        if missing:
            log.error(
                "audit.store_incomplete", tree_size=size, missing=[list(n) for n in missing[:4]]
            )
            raise AuditStoreDamaged(
                f"the audit tree of {size} entries lacks the stored subtree {missing[0]}: "
                "run 'relay audit verify'"
            )
    tree = tx.memo[_MEMO] = _Tree(size, merkle.DictStore(found))
    tx.after_commit.append(partial(_keep, tx.kept, tree))
    return tree


async def append_event(tx: Tx, event: Event) -> int:
    """Append ``event`` and its Merkle leaf in ``tx``; return its sequence number (leaf index).

    Raises:
        ValueError: the event cannot be logged (a bug: the transaction rolls back).
        AuditStoreDamaged: the stored tree is incomplete (the transaction rolls back).
    """
    entry = event.entry()
    tree = await _tree(tx)
    seq = tree.size
    writes = merkle.append(tree.store, seq, merkle.leaf_hash(entry))
    tree.store.apply(writes)
    tx.add(events, {"seq": seq, **asdict(event)})
    for level, idx, value in writes:
        tx.add(merkle_nodes, {"level": level, "idx": idx, "hash": value})
    tree.size = tx.next_seq = seq + 1
    tree.appended += 1
    return seq


async def tree_head(tx: Tx) -> tuple[int, bytes]:
    """The size and root of the tree in ``tx``, this transaction's appends included.

    Raises:
        AuditStoreDamaged: the stored tree is incomplete.
    """
    tree = await _tree(tx)
    return tree.size, merkle.root(tree.store, tree.size)


def appended_size(tx: Tx) -> int | None:
    """The tree's size after ``tx`` if it appended any event, else None."""
    tree: _Tree | None = tx.memo.get(_MEMO)
    return tree.size if tree is not None and tree.appended else None

"""Audit log: stored Merkle subtree hashes and signed checkpoints.

Events logged before this revision get their leaves now: the tree is built from the
``events`` table in ``seq`` order, as :func:`relay.audit.append.append_event` would have built it,
a few thousand rows at a time, keeping only the tree's border in memory.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from keys.auditlog import merkle
from keys.auditlog.entry import ENTRY_FIELDS, entry_bytes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_merkle_nodes"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_checkpoints_size", "checkpoints", ["tree_size"])
    _backfill(op.get_bind())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 5000


def _backfill(bind: Any) -> None:
    events = sa.table("events", sa.column("seq"), *(sa.column(name) for name in ENTRY_FIELDS))
    nodes = sa.table("merkle_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    store = merkle.DictStore()
    size = 0
    while True:
        query = sa.select(events).where(events.c.seq >= size).order_by(events.c.seq).limit(_CHUNK)
        rows = bind.execute(query).mappings().all()
        if not rows:
            return
        writes: list[merkle.Write] = []
        for row in rows:
            if row["seq"] != size:
                raise RuntimeError(f"the events table has no event {size}: cannot build the tree")
            fields = {name: row[name] for name in ENTRY_FIELDS}
            fields["time"] = _EPOCH + timedelta(microseconds=int(row["time"]))
            rows_written = merkle.append(store, size, merkle.leaf_hash(entry_bytes(fields)))
            store.apply(rows_written)
            writes.extend(rows_written)
            size += 1
        bind.execute(nodes.insert(), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in writes])
        store = merkle.DictStore({node: store.get(*node) for node in merkle.root_nodes(size)})


def downgrade() -> None:
    op.drop_index("ix_checkpoints_size", table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_table("merkle_nodes")

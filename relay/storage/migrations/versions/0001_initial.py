"""Initial schema: envelopes, inbox, receipts, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "envelopes",
        sa.Column("msg_id", sa.String(32), primary_key=True),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("accepted_at", sa.BigInteger(), nullable=False),
        sa.Column("overdue_at", sa.BigInteger(), nullable=True),
        sa.Column("final_at", sa.BigInteger(), nullable=True),
        sa.Column("envelope_sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("header", sa.LargeBinary(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=True),
        sa.Column("accepted_receipt", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_envelopes_overdue", "envelopes", ["overdue_at"])
    op.create_index("ix_envelopes_state_expires", "envelopes", ["state", "expires_at"])
    op.create_index(
        "ix_envelopes_purgeable",
        "envelopes",
        ["final_at"],
        sqlite_where=sa.text("envelope IS NOT NULL"),
        postgresql_where=sa.text("envelope IS NOT NULL"),
    )

    op.create_table(
        "inbox",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("msg_id", sa.String(32), nullable=False),
        sa.Column("receipt_sha256", sa.String(64), nullable=True),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_inbox_party_id", "inbox", ["party", "id"])
    op.create_index("ix_inbox_msg", "inbox", ["msg_id"])

    op.create_table(
        "receipts",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("msg_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("issuer", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("receipt_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("receipt", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("msg_id", "type", "issuer", name="uq_receipts_msg_type_issuer"),
    )

    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("msg_id", sa.String(32), nullable=True),
        sa.Column("sender", sa.String(16), nullable=True),
        sa.Column("recipient", sa.String(16), nullable=True),
        sa.Column("envelope_sha256", sa.String(64), nullable=True),
        sa.Column("receipt_sha256", sa.String(64), nullable=True),
        sa.Column("directory_version", sa.String(64), nullable=True),
    )
    op.create_index("ix_events_msg", "events", ["msg_id"])


def downgrade() -> None:
    for name in ("events", "receipts", "inbox", "envelopes"):
        op.drop_table(name)

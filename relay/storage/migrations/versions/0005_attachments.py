"""Sealed attachments: the encrypted chunks as opaque blobs, and the files of accepted
envelopes (docs/adr/0017-attachment-chunks-in-the-database.md).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment_chunks",
        sa.Column("att_id", sa.String(32), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.BigInteger(), nullable=False),
        sa.Column("msg_id", sa.String(32), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),  # last: see schema.py
        sa.PrimaryKeyConstraint("att_id", "idx", name="pk_attachment_chunks"),
    )
    op.create_index("ix_attachment_chunks_sender", "attachment_chunks", ["sender", "size"])
    op.create_index("ix_attachment_chunks_msg", "attachment_chunks", ["msg_id"])
    op.create_table(
        "attachments",
        sa.Column("att_id", sa.String(32), primary_key=True),
        sa.Column("msg_id", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_index("ix_attachments_msg", "attachments", ["msg_id"])


def downgrade() -> None:
    op.drop_index("ix_attachments_msg", table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_attachment_chunks_msg", table_name="attachment_chunks")
    op.drop_index("ix_attachment_chunks_sender", table_name="attachment_chunks")
    op.drop_table("attachment_chunks")

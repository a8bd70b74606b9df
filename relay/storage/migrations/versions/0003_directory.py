"""The signed directory: every version installed with ``relay directory install``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directories",
        sa.Column("version", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.Column("installed_at", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directories")

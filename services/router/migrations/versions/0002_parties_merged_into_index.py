"""Index the parties merged into another (the router asks per batch which parties were
merged into the batch's parties: without it every batch scanned the whole table).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_parties_merged_into",
        "parties",
        ["merged_into"],
        postgresql_where=sa.text("merged_into IS NOT NULL"),
        sqlite_where=sa.text("merged_into IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_parties_merged_into", table_name="parties")

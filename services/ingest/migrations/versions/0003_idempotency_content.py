"""Idempotency keys bind a content: its fingerprint, when the current attempt to publish it
started, and when Kafka acknowledged it.

Rows from before this revision keep NULL in all three: their content is unknown (a re-send
is not compared) and they count as never acknowledged, so their first re-send publishes
once more, as it did before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as table:
        table.add_column(sa.Column("fingerprint", sa.String(64), nullable=True))
        table.add_column(sa.Column("attempted_at", UtcDateTime, nullable=True))
        table.add_column(sa.Column("accepted_at", UtcDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as table:
        table.drop_column("accepted_at")
        table.drop_column("attempted_at")
        table.drop_column("fingerprint")

"""Deliveries; consumer state and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from shared.db.ddl import create_consumer_state_v1, create_outbox_v1, processed_events_key_v2
from shared.db.types import JsonDoc, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_DUE = sa.text("status IN ('requested', 'sending')")


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("reply_id", sa.Uuid, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("request", JsonDoc, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("reference", sa.String(1000)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_deliveries_token", "deliveries", ["token"])
    op.create_index("ix_deliveries_reference", "deliveries", ["reference"])
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=_DUE,
        sqlite_where=_DUE,
    )
    create_consumer_state_v1(op)
    processed_events_key_v2(op)
    create_outbox_v1(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("consumer_offsets")
    op.drop_table("processed_events")
    op.drop_table("deliveries")

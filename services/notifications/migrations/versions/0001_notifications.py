"""Notifications to send, case facts; consumer state.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from shared.db.ddl import create_consumer_state_v1, processed_events_key_v2
from shared.db.types import BigId, JsonDoc, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kanaal", sa.String(50), nullable=False),
        sa.Column("hoofd_object", sa.String(1000), nullable=False),
        sa.Column("body", JsonDoc, nullable=False),
        sa.Column("trace", JsonDoc),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("event_id", "position", name="uq_notifications_event"),
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    op.create_index(
        "ix_notifications_open_per_object",
        "notifications",
        ["hoofd_object", "seq"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    op.create_table(
        "case_facts",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("owner_team", sa.String(64), nullable=False),
        sa.Column("product", sa.String(200)),
        sa.Column("confidential", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
    )
    create_consumer_state_v1(op)
    processed_events_key_v2(op)


def downgrade() -> None:
    op.drop_table("consumer_offsets")
    op.drop_table("processed_events")
    op.drop_table("case_facts")
    op.drop_table("notifications")

"""Processed events keyed by (event_id, consumer_group): the per-batch lookup of a batch's
event ids uses the index with any statistics (shared.db.ddl.processed_events_key_v2).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

from shared.db.ddl import EVENT_FIRST, GROUP_FIRST, processed_events_key_v2

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    processed_events_key_v2(op, EVENT_FIRST)


def downgrade() -> None:
    processed_events_key_v2(op, GROUP_FIRST)

"""Read models: parties, identifiers, cases, timeline; consumer state.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shared.db.ddl import create_consumer_state_v1
from shared.db.types import BigId, JsonDoc, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("display_name", sa.String(200)),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "party_identifiers",
        sa.Column("party_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(400), primary_key=True),
        sa.Column("trust", sa.String(16), nullable=False),
    )
    op.create_index("ix_cv_identifiers_lookup", "party_identifiers", ["kind", "value"])
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("product", sa.String(200)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("owner_team", sa.String(64), nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_cases_party_id", "cases", ["party_id"])
    op.create_table(
        "timeline_entries",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("sequence", BigId, nullable=False),
        sa.Column("case_id", sa.Uuid),
        sa.Column("message_id", sa.Uuid, unique=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("body", JsonDoc, nullable=False),
    )
    op.create_index("ix_timeline_party_order", "timeline_entries", ["party_id", "sequence"])
    create_consumer_state_v1(op)


def downgrade() -> None:
    for table in ("consumer_offsets", "processed_events", "timeline_entries", "cases"):
        op.drop_table(table)
    op.drop_table("party_identifiers")
    op.drop_table("parties")

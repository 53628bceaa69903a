"""Parties, identifiers, suggested links, merges, cases; consumer state and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shared.db.ddl import create_consumer_state_v1, create_outbox_v1
from shared.db.types import BigId, UtcDateTime

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
        sa.Column("origin", sa.String(400), unique=True),
        sa.Column("version", BigId, nullable=False),
        sa.Column("merged_into", sa.Uuid, sa.ForeignKey("parties.id")),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "party_identifiers",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("party_id", sa.Uuid, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.String(400), nullable=False),
        sa.Column("trust", sa.String(16), nullable=False),
        sa.Column("source_message_id", sa.Uuid),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_party_identifiers_party_id", "party_identifiers", ["party_id"])
    op.create_index("ix_party_identifiers_lookup", "party_identifiers", ["kind", "value"])
    op.create_index(
        "ux_party_identifiers_strong",
        "party_identifiers",
        ["kind", "value"],
        unique=True,
        postgresql_where=sa.text("trust <> 'claimed'"),
        sqlite_where=sa.text("trust <> 'claimed'"),
    )
    op.create_table(
        "link_suggestions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("party_id", sa.Uuid, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("suggested_party_id", sa.Uuid, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.String(400), nullable=False),
        sa.Column("trust", sa.String(16), nullable=False),
        sa.Column("message_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("decided_at", UtcDateTime),
        sa.Column("decided_by", sa.String(200)),
        sa.UniqueConstraint("party_id", "suggested_party_id", name="uq_link_suggestions_pair"),
    )
    op.create_table(
        "merges",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("party_id", sa.Uuid, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("merged_party_id", sa.Uuid, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("by_user", sa.String(200), nullable=False),
        sa.Column("by_team", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("undone_at", UtcDateTime),
        sa.Column("undone_by", sa.String(200)),
        sa.Column("undo_reason", sa.Text),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("party_id", sa.Uuid, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("product", sa.String(200)),
        sa.Column("confidential", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("owner_team", sa.String(64), nullable=False),
        sa.Column("handover_count", sa.Integer, nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("last_activity_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("result", sa.Text),
        sa.Column("merged_into", sa.Uuid),
        sa.Column("establishment", sa.String(12)),
    )
    op.create_index("ix_cases_party_id", "cases", ["party_id"])
    op.create_table(
        "contacts",
        sa.Column("message_id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("referenced_case_id", sa.Uuid),
    )
    op.create_index("ix_contacts_case_id", "contacts", ["case_id"])
    op.create_table(
        "case_participants",
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("team", sa.String(64), primary_key=True),
    )
    op.create_table(
        "case_thread_refs",
        sa.Column("ref", sa.String(1000), primary_key=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id"), nullable=False),
    )
    op.create_table(
        "case_number_counters",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last_serial", BigId, nullable=False),
    )
    create_consumer_state_v1(op)
    create_outbox_v1(op)


def downgrade() -> None:
    for table in (
        "outbox",
        "consumer_offsets",
        "processed_events",
        "case_number_counters",
        "case_thread_refs",
        "case_participants",
        "contacts",
        "cases",
        "merges",
        "link_suggestions",
        "party_identifiers",
        "parties",
    ):
        op.drop_table(table)

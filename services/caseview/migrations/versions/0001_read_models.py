"""Read models: parties, identifiers, suggestions, merges, cases, timeline; access log;
consumer state.

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
        "party_name_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("party_id", sa.Uuid, primary_key=True),
    )
    op.create_index(
        "ix_cv_name_keys_prefix",
        "party_name_keys",
        ["key"],
        postgresql_ops={"key": "text_pattern_ops"},
    )
    op.create_table(
        "party_identifiers",
        sa.Column("party_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(400), primary_key=True),
        sa.Column("trust", sa.String(16), nullable=False),
        sa.Column("added_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_cv_identifiers_lookup", "party_identifiers", ["kind", "value"])
    op.create_table(
        "link_suggestions",
        sa.Column("suggestion_id", sa.Uuid, primary_key=True),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("suggested_party_id", sa.Uuid, nullable=False),
        sa.Column("identifier_kind", sa.String(32)),
        sa.Column("identifier_value", sa.String(400)),
        sa.Column("identifier_trust", sa.String(16)),
        sa.Column("message_id", sa.Uuid),
        sa.Column("suggested_at", UtcDateTime),
        sa.Column("decision", sa.String(16)),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_team", sa.String(64)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("decided_at", UtcDateTime),
    )
    op.create_index("ix_cv_suggestions_party", "link_suggestions", ["party_id"])
    op.create_index("ix_cv_suggestions_suggested", "link_suggestions", ["suggested_party_id"])
    op.create_table(
        "party_merges",
        sa.Column("merge_id", sa.Uuid, primary_key=True),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("merged_party_id", sa.Uuid, nullable=False),
        sa.Column("merged_by", sa.String(200)),
        sa.Column("merged_team", sa.String(64)),
        sa.Column("merge_reason", sa.Text),
        sa.Column("merged_at", UtcDateTime),
        sa.Column("unmerged_by", sa.String(200)),
        sa.Column("unmerged_team", sa.String(64)),
        sa.Column("unmerge_reason", sa.Text),
        sa.Column("unmerged_at", UtcDateTime),
    )
    op.create_index("ix_cv_merges_party", "party_merges", ["party_id"])
    op.create_index("ix_cv_merges_merged", "party_merges", ["merged_party_id"])
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("product", sa.String(200)),
        sa.Column("confidential", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("owner_team", sa.String(64), nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime),
        sa.Column("queue_due", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("result", sa.Text),
        sa.Column("handover_count", sa.Integer, nullable=False),
        sa.Column("last_activity_at", UtcDateTime, nullable=False),
        sa.Column("merged_into", sa.Uuid),
    )
    op.create_index("ix_cases_party_id", "cases", ["party_id"])
    op.create_index("ix_cv_cases_queue_age", "cases", ["owner_team", "is_open", "opened_at", "id"])
    op.create_index("ix_cv_cases_queue_due", "cases", ["owner_team", "is_open", "queue_due", "id"])
    op.create_table(
        "case_participants",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("team", sa.String(64), primary_key=True),
        sa.Column("added_at", UtcDateTime, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_cv_participants_team", "case_participants", ["team", "case_id"])
    op.create_table(
        "case_handovers",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("from_team", sa.String(64), nullable=False),
        sa.Column("to_team", sa.String(64), nullable=False),
        sa.Column("by_user", sa.String(200), nullable=False),
        sa.Column("by_team", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("handover_count", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_cv_handovers_case", "case_handovers", ["case_id", "at"])
    op.create_table(
        "timeline_entries",
        sa.Column("position", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("sequence", BigId, nullable=False),
        sa.Column("sort_at", UtcDateTime, nullable=False),
        sa.Column("case_id", sa.Uuid),
        sa.Column("message_id", sa.Uuid, unique=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("prev_team", sa.String(64)),
        sa.Column("body", JsonDoc, nullable=False),
    )
    op.create_index(
        "ix_cv_timeline_party_order", "timeline_entries", ["party_id", "sort_at", "sequence"]
    )
    op.create_index(
        "ix_cv_timeline_case_order", "timeline_entries", ["case_id", "sort_at", "sequence"]
    )
    op.create_table(
        "access_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("teams", sa.String(1000), nullable=False),
        sa.Column("roles", sa.String(500), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("party_id", sa.Uuid),
        sa.Column("case_id", sa.Uuid),
        sa.Column("team", sa.String(64)),
        sa.Column("purpose", sa.String(500)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(200)),
    )
    op.create_index("ix_cv_access_log_at", "access_log", ["at", "id"])
    op.create_index("ix_cv_access_log_party", "access_log", ["party_id", "id"])
    op.create_index("ix_cv_access_log_user", "access_log", ["user", "id"])
    create_consumer_state_v1(op)


def downgrade() -> None:
    for table in (
        "consumer_offsets",
        "processed_events",
        "access_log",
        "timeline_entries",
        "case_handovers",
        "case_participants",
        "cases",
        "party_merges",
        "link_suggestions",
        "party_identifiers",
        "party_name_keys",
        "parties",
    ):
        op.drop_table(table)

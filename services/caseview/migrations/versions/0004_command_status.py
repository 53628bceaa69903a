"""Command status: the staff commands caseview published (who sent them) and what became of
them (applied or rejected, projected from the timeline), for GET /v1/commands/{id}.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_commands",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("team", sa.String(64)),
        sa.Column("case_id", sa.Uuid),
        sa.Column("party_id", sa.Uuid),
        sa.Column("accepted_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "command_outcomes",
        sa.Column("command_id", sa.Uuid, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("command_type", sa.String(128)),
        sa.Column("case_id", sa.Uuid),
        sa.Column("party_id", sa.Uuid),
        sa.Column("by_user", sa.String(200)),
        sa.Column("by_team", sa.String(64)),
        sa.Column("at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("command_outcomes")
    op.drop_table("staff_commands")

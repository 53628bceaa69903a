"""Channel choice and fallback (issue #17): a party's contact preferences, and what each
reply was asked with (a fallback sends it again on another channel).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import JsonDoc, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: replies asked before this revision have none (and get no fallback).
    op.add_column("replies", sa.Column("request", JsonDoc))
    op.create_table(
        "contact_preferences",
        sa.Column("party_id", sa.Uuid, sa.ForeignKey("parties.id"), primary_key=True),
        sa.Column("preferred_channel", sa.String(16)),
        sa.Column("opted_out", JsonDoc, nullable=False),
        sa.Column("changed_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("contact_preferences")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("request")

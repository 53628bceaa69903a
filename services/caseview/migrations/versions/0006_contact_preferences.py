"""Channel choice and fallback (issue #17): ``contact_preferences`` (projected from
``party.contact-preferences-changed``) and the ``fallback_of`` of a reply.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import JsonDoc, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("fallback_of", sa.Uuid))
    op.create_index("ix_cv_replies_fallback_of", "replies", ["fallback_of"])
    op.create_table(
        "contact_preferences",
        sa.Column("party_id", sa.Uuid, primary_key=True),
        sa.Column("preferred_channel", sa.String(16)),
        sa.Column("opted_out", JsonDoc, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_team", sa.String(64)),
        sa.Column("changed_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("contact_preferences")
    op.drop_index("ix_cv_replies_fallback_of", "replies")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("fallback_of")

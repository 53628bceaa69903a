"""Replies (issue #17): the channel's own message id of each contact (an e-mail's Message-ID,
for the reply's In-Reply-To and References) and the replies staff asked for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: contacts routed before this revision have none.
    op.add_column("contacts", sa.Column("channel", sa.String(16)))
    op.add_column("contacts", sa.Column("channel_message_id", sa.String(1000)))
    op.add_column("contacts", sa.Column("received_at", UtcDateTime))
    op.create_table(
        "replies",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("requested_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replies")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("received_at")
        batch.drop_column("channel_message_id")
        batch.drop_column("channel")

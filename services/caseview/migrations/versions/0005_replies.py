"""Replies to the resident (issue #17): ``replies`` (latest state) and ``reply_statuses``
(every status), projected from ``reply.requested`` and ``reply.status-changed``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import JsonDoc, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("reply_id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("party_id", sa.Uuid, nullable=False),
        sa.Column("identifier_id", sa.Uuid, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient_trust", sa.String(16), nullable=False),
        sa.Column("template", sa.String(100)),
        sa.Column("subject", sa.String(200)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("notice_only", sa.Boolean, nullable=False),
        sa.Column("attachments", JsonDoc, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_team", sa.String(64)),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_cv_replies_case", "replies", ["case_id", "requested_at"])
    op.create_table(
        "reply_statuses",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("reply_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("reference", sa.String(400)),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_cv_reply_statuses_reply", "reply_statuses", ["reply_id", "at"])


def downgrade() -> None:
    op.drop_table("reply_statuses")
    op.drop_table("replies")

"""What a merge changed, so that undoing it can give it back: the cases it folded (with
the status each had), the contacts and thread references it moved, the addresses its
decision verified.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merge_effects",
        sa.Column("merge_id", sa.Uuid, sa.ForeignKey("merges.id"), primary_key=True),
        # "fold" (key: case id, detail: its status before), "contact" (key: message id),
        # "ref" (key: thread reference), "verified" (key: identifier row id)
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(1000), primary_key=True),
        sa.Column("case_id", sa.Uuid),  # fold/contact/ref: the case it came from
        sa.Column("detail", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("merge_effects")

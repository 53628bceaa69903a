"""Klantinteracties writes in three steps (issue #20): ``facade_drafts``, the contacts
registered with ``POST /klantcontacten`` waiting for their betrokkene and onderwerpobject
(services/caseview/klantinteracties/drafts.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import JsonDoc, UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facade_drafts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("integration", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("confidential", sa.Boolean, nullable=False),
        sa.Column("contact_made", sa.Boolean),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("betrokkene_at", UtcDateTime),
        sa.Column("party_id", sa.Uuid),
        sa.Column("sender", JsonDoc),
        sa.Column("display_name", sa.String(200)),
        sa.Column("case_id", sa.Uuid),
        sa.Column("case_number", sa.String(64)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime),
    )
    op.create_index("ix_cv_facade_drafts_waiting", "facade_drafts", ["published_at", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_cv_facade_drafts_waiting", "facade_drafts")
    op.drop_table("facade_drafts")

"""Which evidence gave a party's identifier its rung ('digid', 'dmarc', 'staff-confirmed', …;
null: stated by the sender), shown beside the identifier in the API and the console.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("party_identifiers") as batch:
        batch.add_column(sa.Column("evidence", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("party_identifiers") as batch:
        batch.drop_column("evidence")

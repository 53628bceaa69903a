"""History in the order things happened (issue #19): ``sort_at`` becomes the entry's own
moment (``occurred_at``) instead of the time Eenloket recorded it, which is kept in the new
``recorded_at`` (the console shows it where it differs: imported history).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from shared.db.types import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("timeline_entries", sa.Column("recorded_at", UtcDateTime))
    # The old sort_at was the recording time (held non-decreasing per party): the best
    # recording time the existing rows have.
    op.execute("UPDATE timeline_entries SET recorded_at = sort_at, sort_at = occurred_at")


def downgrade() -> None:
    op.execute("UPDATE timeline_entries SET sort_at = recorded_at WHERE recorded_at IS NOT NULL")
    op.drop_column("timeline_entries", "recorded_at")

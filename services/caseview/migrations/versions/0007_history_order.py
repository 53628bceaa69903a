"""History in the order things happened (issue #19): history brought in later (recorded
more than an hour after it happened: imports) sorts at its own moment (``occurred_at``)
instead of the time Eenloket recorded it, which is kept in the new ``recorded_at`` (the
console shows it and marks the entry).

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
    # recording time the existing rows have. IMPORTED_AFTER (services/caseview/orm.py) is
    # an hour.
    op.execute("UPDATE timeline_entries SET recorded_at = sort_at")
    if op.get_bind().dialect.name == "postgresql":
        later = "recorded_at - occurred_at > interval '1 hour'"
    else:
        later = "julianday(recorded_at) - julianday(occurred_at) > 1.0 / 24"
    op.execute(f"UPDATE timeline_entries SET sort_at = occurred_at WHERE {later}")  # noqa: S608


def downgrade() -> None:
    op.execute("UPDATE timeline_entries SET sort_at = recorded_at WHERE recorded_at IS NOT NULL")
    op.drop_column("timeline_entries", "recorded_at")

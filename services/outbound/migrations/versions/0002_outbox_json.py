"""The outbox's payload and trace kept as written (``json``), not parsed into ``jsonb``:
the outbox is written once and read back whole, so parsing and printing it was wasted work
(issue #23, docs/benchmarks.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from alembic import op

from shared.db.ddl import outbox_json_as_written_v2

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_json_as_written_v2(op)


def downgrade() -> None:
    outbox_json_as_written_v2(op, to="jsonb")

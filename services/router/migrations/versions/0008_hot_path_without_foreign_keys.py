"""On PostgreSQL, the five foreign keys of the tables every routed message writes are
dropped: party_identifiers.party_id, link_suggestions.party_id and .suggested_party_id,
cases.party_id, contacts.case_id.

Each was a check per inserted row (a trigger running a locking lookup of the parent): a
third of PostgreSQL's work in the router stage (4.4 -> 2.9 s of its CPU per 20,000 messages,
issue #23, docs/benchmarks.md). What they guarded holds without them: the router is the
only writer of these tables, it writes a message's parties, cases and contacts in one
transaction, and it never deletes a party or a case. The invariant is checked instead by
the tests (SQLite keeps the constraints, so the contract suite and every SQLite test still
fail on an orphan; the PostgreSQL routing tests look for orphans) and by the query in
docs/operations.md ("Integrity"). The other foreign keys (merges, participants, replies,
preferences: written by staff commands, not per message) stay.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from alembic import op

from services.router.integrity import REFERENCES as DROPPED

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _ in DROPPED:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_{column}_fkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, parent in DROPPED:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey "
            f"FOREIGN KEY ({column}) REFERENCES {parent} (id)"
        )

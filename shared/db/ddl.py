"""Frozen DDL steps for the shared tables, called from each service's Alembic migrations.

A migration must create exactly what it created the day it was written, so these
functions are versioned and never edited; a change to a shared table is a new
``..._v2`` step and a new migration in each service.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shared.db.types import BigId, JsonDoc, UtcDateTime


def create_consumer_state_v1(op: Any) -> None:
    op.create_table(
        "processed_events",
        sa.Column("consumer_group", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("processed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", BigId, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


EVENT_FIRST = ("event_id", "consumer_group")
GROUP_FIRST = ("consumer_group", "event_id")  # v1


def processed_events_key_v2(op: Any, key: tuple[str, str] = EVENT_FIRST) -> None:
    """The processed-events key leads with the event id: (event_id, consumer_group)
    (``GROUP_FIRST`` back to v1's order, for a downgrade).

    The consumer asks per batch ``consumer_group = $1 AND event_id = ANY($2)``. With the
    group first, PostgreSQL without statistics for the table (a new database, minutes
    before autovacuum analyses it) planned "index on the group, filter the ids": every
    row of the group read per batch, 7-60 ms at 40,000 rows and growing. With the event
    id first the ids are the index condition whatever the statistics say.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE processed_events DROP CONSTRAINT processed_events_pkey, "
            f"ADD CONSTRAINT processed_events_pkey PRIMARY KEY ({', '.join(key)})"
        )
        return
    # SQLite cannot change a table's key in place: a new table, the rows copied over.
    op.create_table(
        "processed_events_v2",
        sa.Column("consumer_group", sa.String(128), nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("processed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )
    op.execute(
        "INSERT INTO processed_events_v2 (consumer_group, event_id, processed_at) "
        "SELECT consumer_group, event_id, processed_at FROM processed_events"
    )
    op.drop_table("processed_events")
    op.rename_table("processed_events_v2", "processed_events")


def create_outbox_v1(op: Any) -> None:
    op.create_table(
        "outbox",
        sa.Column("position", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("aggregatetype", sa.String(64), nullable=False),
        sa.Column("aggregateid", sa.String(64), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("payload", JsonDoc, nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("trace", JsonDoc, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=True),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def outbox_json_as_written_v2(op: Any, to: str = "json") -> None:
    """The outbox's ``payload`` and ``trace`` as ``json`` (the text as written) instead of
    ``jsonb`` (``to="jsonb"`` for a downgrade). PostgreSQL only: SQLite stores both as text.
    Rewrites the table once; the relay keeps few unpublished rows, but a long-kept outbox
    takes as long as its size (docs/operations.md)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE outbox ALTER COLUMN payload TYPE {to} USING payload::{to}, "
        f"ALTER COLUMN trace TYPE {to} USING trace::{to}"
    )

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

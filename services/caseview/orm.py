"""Caseview's read models: projections of ``omni.timeline.v1``, shaped for the queries."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, Uuid

from shared.db.tables import consumer_offsets_table, processed_events_table
from shared.db.types import BigId, JsonDoc, UtcDateTime

metadata = MetaData()

parties = Table(
    "parties",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provisional", Boolean, nullable=False),
    Column("display_name", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
)

party_identifiers = Table(
    "party_identifiers",
    metadata,
    Column("party_id", Uuid, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("value", String(400), primary_key=True),
    Column("trust", String(16), nullable=False),
    Index("ix_cv_identifiers_lookup", "kind", "value"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("party_id", Uuid, nullable=False, index=True),
    Column("product", String(200)),
    Column("status", String(32), nullable=False),
    Column("owner_team", String(64), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
)

# One row per history event of a party, in the party's order (`sequence`).
timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("party_id", Uuid, nullable=False),
    Column("sequence", BigId, nullable=False),
    Column("case_id", Uuid),
    Column("message_id", Uuid, unique=True),
    Column("type", String(128), nullable=False),
    Column("channel", String(16)),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("body", JsonDoc, nullable=False),
    Index("ix_timeline_party_order", "party_id", "sequence"),
)

processed_events = processed_events_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

"""The publisher's tables: ``notifications`` (one row per notification to send, in the order
the timeline gave them), ``case_facts`` (what kenmerken need to know of a case), plus the
shared consumer tables."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from shared.db.tables import consumer_offsets_table, processed_events_table
from shared.db.types import BigId, JsonDoc, UtcDateTime

metadata = MetaData()

# A row "pending" or "sending" (claimed, leased until next_attempt_at) is due once
# next_attempt_at has passed; "sent" and "gave_up" are final.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
GAVE_UP = "gave_up"
OPEN = (PENDING, SENDING)
_OPEN = text("status IN ('pending', 'sending')")

notifications = Table(
    "notifications",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),  # the timeline's order
    Column("event_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),  # which of the event's notifications
    Column("kanaal", String(50), nullable=False),
    Column("hoofd_object", String(1000), nullable=False),
    Column("body", JsonDoc, nullable=False),  # the request body, as it will be sent
    Column("trace", JsonDoc),  # the trace context of the timeline record that made it
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("reason", Text),  # the last failure (status code or error type; no body)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("event_id", "position", name="uq_notifications_event"),
    Index("ix_notifications_due", "next_attempt_at", postgresql_where=_OPEN, sqlite_where=_OPEN),
    # "Is an earlier notification of this hoofdObject still open?" (order per hoofdObject)
    Index(
        "ix_notifications_open_per_object",
        "hoofd_object",
        "seq",
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    ),
)

case_facts = Table(
    "case_facts",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("owner_team", String(64), nullable=False),
    Column("product", String(200)),
    Column("confidential", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
)

processed_events = processed_events_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

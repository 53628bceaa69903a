"""The outbound service's tables: ``deliveries`` (one row per reply), plus the shared
consumer/outbox tables."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, Uuid, text

from shared.db.tables import consumer_offsets_table, outbox_table, processed_events_table
from shared.db.types import JsonDoc, UtcDateTime

metadata = MetaData()

# Statuses of a row: the ReplyStatus values, plus "sending" (claimed by a worker, leased until
# next_attempt_at). A row "requested" or "sending" whose next_attempt_at has passed is due.
SENDING = "sending"
PENDING = ("requested", SENDING)
_DUE = text("status IN ('requested', 'sending')")

deliveries = Table(
    "deliveries",
    metadata,
    Column("reply_id", Uuid, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("request", JsonDoc, nullable=False),  # the DeliverReply, as it arrived
    Column("token", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("reference", String(1000), index=True),  # the provider's reference / Message-ID
    Column("reason", Text),  # the last failure's reason (shown to staff, no personal data)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_deliveries_due", "next_attempt_at", postgresql_where=_DUE, sqlite_where=_DUE),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

"""Tables every Kafka-consuming or -producing service has in its own database.

- ``outbox``: Debezium's outbox columns (``id``, ``aggregatetype``, ``aggregateid``,
  ``type``, ``payload``) plus what the relay needs; a later move to CDC is config.
- ``processed_events``: the event ids a consumer group has applied (idempotency).
- ``consumer_offsets``: the next offset per group/topic/partition, written in the
  same transaction as the effects (Kafka docs: "store the offset with the output").
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
    text,
)

from shared.db.types import BigId, JsonText, UtcDateTime


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("position", BigId, primary_key=True, autoincrement=True),
        Column("id", Uuid, nullable=False, unique=True),
        Column("aggregatetype", String(64), nullable=False),
        Column("aggregateid", String(64), nullable=False),
        Column("type", String(128), nullable=False),
        Column("payload", JsonText, nullable=False),
        Column("topic", String(249), nullable=False),
        Column("trace", JsonText, nullable=True),
        Column("created_at", UtcDateTime, nullable=False),
        Column("published_at", UtcDateTime, nullable=True),
        Index(
            "ix_outbox_unpublished",
            "position",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer_group", String(128), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
        # The event id first: see shared.db.ddl.processed_events_key_v2.
        PrimaryKeyConstraint("event_id", "consumer_group", name="processed_events_pkey"),
    )


def consumer_offsets_table(metadata: MetaData) -> Table:
    return Table(
        "consumer_offsets",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("topic", String(249), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigId, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    )

"""Ingest's own tables: idempotency records (who already sent what)."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Uuid

from shared.db.types import UtcDateTime

metadata = MetaData()

# (scope, key) -> the message id first given for it. Scope is the channel plus the
# kind of key ("web:message-id", "web:idempotency-key", "email:content-sha256"), so keys
# never collide. Rows older than the retention window count as absent and are purged.
# ``fingerprint`` is the content the key was first used with (a re-send with another is
# refused); ``created_at`` is also the "now" the message was built with, so a rebuild is
# byte-identical; ``attempted_at`` is when the current attempt to publish it started (NULL
# once an attempt failed), ``accepted_at`` when Kafka acknowledged it. The three are NULL
# on rows from before migration 0003.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("message_id", Uuid, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("fingerprint", String(64), nullable=True),
    Column("attempted_at", UtcDateTime, nullable=True),
    Column("accepted_at", UtcDateTime, nullable=True),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

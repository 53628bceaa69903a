"""Ingest's own tables: idempotency records (who already sent what)."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Uuid

from shared.db.types import UtcDateTime

metadata = MetaData()

# (scope, key) -> the message id first given for it. Scope is the channel plus the
# kind of key ("web:message-id", "web:idempotency-key", "email:message-id"), so keys
# never collide. Rows older than the retention window count as absent and are purged.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("message_id", Uuid, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

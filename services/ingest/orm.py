"""Ingest's own tables: idempotency records (who already sent what)."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Uuid

from shared.db.types import UtcDateTime

metadata = MetaData()

# (scope, key) -> the message id first given for it. Scope is the channel plus the
# kind of key ("web:submission", "web:idempotency-key"), so keys never collide.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("message_id", Uuid, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

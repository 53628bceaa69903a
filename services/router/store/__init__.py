"""The router's storage: the ``RouterStore`` contract and its implementations."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.store.postgres import PostgresStore
from services.router.store.protocol import Merge, MergeEffect, RouterStore, Suggestion
from services.router.store.sql import SqlStore
from shared.db.bulk import postgres_driver

__all__ = ["Merge", "MergeEffect", "PostgresStore", "RouterStore", "SqlStore", "Suggestion"]


async def open_store(session: AsyncSession) -> RouterStore:
    """The store for the session's backend, chosen once per batch (or command)."""
    driver = await postgres_driver(session)
    return SqlStore(session) if driver is None else PostgresStore(session, driver)

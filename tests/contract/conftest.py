"""The router's stores side by side: PostgreSQL (the shared test server), SQLite (a migrated
file) and the in-memory fake. Each test runs in a transaction that is rolled back, on ids
of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from services.router.orm import outbox
from services.router.store import RouterStore, open_store
from shared.db.engine import create_engine, session_factory
from tests.fakes.router_store import FakeRouterStore


@dataclass
class Harness:
    store: RouterStore
    backend: str
    session: Any = None  # the real stores' session

    async def outbox_rows(self, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        """The stored outbox rows with these ids, in publishing order."""
        if isinstance(self.store, FakeRouterStore):
            return [r for r in self.store.t.outbox if r["id"] in ids]
        rows = await self.session.execute(
            select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.position)
        )
        return [dict(r._mapping) for r in rows]


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite", "fake"])
def backend_url(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The backend's name and its migrated router database (None for the fake)."""
    if request.param == "fake":
        return "fake", None
    urls = request.getfixturevalue("pg_urls" if request.param == "postgresql" else "sqlite_urls")
    return request.param, urls["router"]


@pytest.fixture
async def harness(backend_url: tuple[str, str | None]) -> AsyncIterator[Harness]:
    backend, url = backend_url
    if url is None:
        yield Harness(FakeRouterStore(), backend)
        return
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            transaction = await session.begin()
            try:
                yield Harness(await open_store(session), backend, session)
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()

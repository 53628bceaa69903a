"""The router's hot tables have no foreign keys on PostgreSQL (migration 0008: a check per
row was a third of the database's work). What they guarded is checked instead: routing a
varied workload leaves no row referring to a missing party or case, and the check
(`eenloket routing integrity`) finds such a row when there is one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bench.workload import messages
from ops.cli import app
from services.router.integrity import REFERENCES, orphans
from services.router.orm import contacts
from services.router.route import route_messages
from services.router.routing.rules import load_routing
from services.router.store import open_store
from shared.db.engine import create_engine, session_factory
from shared.db.migrations import upgrade
from tests.conftest import MIGRATIONS, _create_database

pytestmark = pytest.mark.postgres


async def test_routing_leaves_no_orphans_and_the_check_finds_one(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"integrity_{uuid.uuid4().hex[:10]}"
    await _create_database(pg_dsn, name)
    url = pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    await asyncio.to_thread(upgrade, MIGRATIONS["router"], url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    routing = load_routing()
    workload = messages(600, 60, seed=uuid.uuid4().int % 1000)  # typed, claimed, quoted
    try:
        for start in range(0, len(workload), 200):  # later batches meet earlier ones' rows
            async with sessions() as session, session.begin():
                store = await open_store(session)
                await route_messages(
                    store, workload[start : start + 200], routing, datetime.now(UTC)
                )
        async with sessions() as session:
            assert await orphans(session) == {f"{t}.{c}": 0 for t, c, _ in REFERENCES}
            kept = await session.scalars(
                text(
                    "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                    "AND conrelid::regclass::text IN "
                    "('party_identifiers', 'link_suggestions', 'cases', 'contacts')"
                )
            )
            assert list(kept) == []  # 0008 dropped them: nothing but the check guards this

        async with sessions() as session, session.begin():
            await session.execute(
                contacts.insert().values(message_id=uuid.uuid4(), case_id=uuid.uuid4())
            )
        async with sessions() as session:
            found = await orphans(session)
        assert found["contacts.case_id"] == 1
        assert sum(found.values()) == 1
    finally:
        await engine.dispose()

    monkeypatch.setenv("EENLOKET_DATABASE_URL", url)
    # In a thread: the command runs its own event loop, as it does from a shell.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["routing", "integrity"])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert "contacts.case_id" in result.output

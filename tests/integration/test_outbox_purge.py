"""Published outbox rows are deleted after the retention, in slices; unpublished rows and
recent ones stay (shared/outbox_purge.py). Both backends, the services' own outbox table.

The session's database is shared with other tests, so the rows here are dated in 2000 (no
other test's rows are that old) and the assertions name this test's rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import orm as rt
from shared.contracts import PartyCreated, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.envelope import source_urn
from shared.outbox import add_to_outbox, outbox_row
from shared.outbox_purge import purge_forever, purge_published
from shared.settings import ServiceSettings
from tests.support import eventually

Y2K = datetime(2000, 1, 1, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


def _row(published_at: datetime | None) -> dict[str, Any]:
    party = uuid.uuid4()
    event = to_cloudevent(
        PartyCreated(
            party_id=party, provisional=True, display_name=None, identifiers=[], created_at=Y2K
        ),
        source=source_urn("00000001001234567000", "eenloket-router"),
        subject=party,
        sequence=1,
    )
    row = outbox_row(topic="purge.test", aggregatetype="party", event=event, created_at=Y2K)
    return {**row, "_published_at": published_at}


async def _write(sessions: Sessions, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    async with sessions() as s, s.begin():
        await add_to_outbox(
            s, rt.outbox, [{k: v for k, v in r.items() if k != "_published_at"} for r in rows]
        )
        for r in rows:
            if r["_published_at"] is not None:
                await s.execute(
                    update(rt.outbox)
                    .where(rt.outbox.c.id == r["id"])
                    .values(published_at=r["_published_at"])
                )
    return [r["id"] for r in rows]


async def _left(sessions: Sessions, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    async with sessions() as s:
        found = await s.scalars(select(rt.outbox.c.id).where(rt.outbox.c.id.in_(ids)))
        return set(found.all())


async def test_published_rows_older_than_the_cutoff_are_deleted_in_slices(
    db_urls: dict[str, str],
) -> None:
    engine = create_engine(db_urls["router"])
    sessions = session_factory(engine)
    try:
        old = await _write(sessions, [_row(Y2K + timedelta(hours=n)) for n in range(5)])
        (recent,) = await _write(sessions, [_row(Y2K + timedelta(days=400))])
        (waiting,) = await _write(sessions, [_row(None)])  # never published: kept however old
        purged = await purge_published(
            sessions, rt.outbox, older_than=Y2K + timedelta(days=1), slice_size=2
        )
        assert purged >= 5  # three slices: 2, 2, 1
        assert await _left(sessions, [*old, recent, waiting]) == {recent, waiting}
    finally:
        await engine.dispose()


async def test_the_loop_purges_by_the_settings_retention(db_urls: dict[str, str]) -> None:
    engine = create_engine(db_urls["router"])
    sessions = session_factory(engine)
    try:
        (gone,) = await _write(sessions, [_row(Y2K)])
        (kept,) = await _write(sessions, [_row(Y2K + timedelta(hours=30))])
        settings = ServiceSettings(outbox_retention_hours=24, outbox_purge_every_seconds=0.05)
        loop = asyncio.create_task(
            purge_forever(
                sessions, rt.outbox, settings, clock=lambda: Y2K + timedelta(hours=48, minutes=1)
            )
        )
        try:

            async def purged() -> bool:
                return await _left(sessions, [gone, kept]) == {kept}

            await eventually(purged, timeout=20)
        finally:
            loop.cancel()
    finally:
        await engine.dispose()

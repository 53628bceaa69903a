"""Published outbox rows are deleted after a retention (``EENLOKET_OUTBOX_RETENTION_HOURS``,
default a week): once Kafka holds an event, its row only answers "was this published, and
when" for someone looking into an incident, and without a purge the outbox of a router grew
by every event ever routed. Unpublished rows are never touched.

A round deletes in slices of ``slice_size`` rows, each its own short transaction, oldest
first by ``position`` (the primary key, and commit order: the oldest published rows come
first), so a first round on a large outbox does not hold one long transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.rounds import purge_every
from shared.settings import ServiceSettings


def _now() -> datetime:
    return datetime.now(UTC)


async def purge_published(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    *,
    older_than: datetime,
    slice_size: int = 10_000,
) -> int:
    """Delete the rows published before ``older_than``; returns how many."""
    t = table
    oldest = (
        select(t.c.position)
        .where(t.c.published_at.is_not(None), t.c.published_at < older_than)
        .order_by(t.c.position)
        .limit(slice_size)
    )
    total = 0
    while True:
        async with sessions() as session, session.begin():
            result = await session.execute(delete(t).where(t.c.position.in_(oldest)))
        deleted = int(result.rowcount)  # type: ignore[attr-defined]
        total += deleted
        if deleted < slice_size:
            return total


async def purge_forever(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    settings: ServiceSettings,
    *,
    clock: Callable[[], datetime] = _now,
) -> None:
    """The periodic purge (a supervised loop, ``shared.rounds.purge_every``)."""

    def purge() -> Awaitable[int]:
        cutoff = clock() - timedelta(hours=settings.outbox_retention_hours)
        return purge_published(sessions, table, older_than=cutoff)

    await purge_every(
        purge, seconds=settings.outbox_purge_every_seconds, what="published outbox rows"
    )

"""Gauges read from the router's tables every little while: open and overdue cases per team,
suggested links waiting for a person (the whole system's numbers), and the outbox backlog.

The system-wide numbers are published by **one** replica: the one holding a PostgreSQL
advisory lock on a connection of its own (SQLite: the only process). Every other replica
exposes the same metric families without samples, so ``sum by (team)`` over all replicas is
the database's count, not a multiple of it (three replicas counted triple). The replica
that leads says so in ``eenloket_router_gauges_leader``; when it stops, its lock goes with
its connection and another replica takes over at its next refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import REGISTRY, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.router.orm import cases, link_suggestions
from shared.contracts import CaseStatus
from shared.db.engine import is_sqlite
from shared.outbox import OutboxRelay

log = logging.getLogger(__name__)

# pg_advisory_lock key of the replica publishing the system-wide gauges ("eenloket gauges").
GAUGES_LOCK_KEY = 0x6761756765  # "gauge"

LEADER = Gauge(
    "eenloket_router_gauges_leader",
    "1 on the router replica that publishes the system-wide case gauges (one per database)",
)


# The system-wide families: name -> (help, label names).
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "eenloket_router_open_cases": ("Open cases per owning team", ("team",)),
    "eenloket_router_overdue_cases": ("Open cases past their due date per owning team", ("team",)),
    "eenloket_router_suggested_links_pending": ("Suggested identity links awaiting a person", ()),
}


@dataclass(frozen=True)
class Snapshot:
    open_cases: dict[str, int]  # per owning team
    overdue_cases: dict[str, int]
    pending_links: int


class SystemGauges(Collector):
    """The system-wide gauges, with samples only while this replica leads."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def _families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(name, help_text, labels=list(labels))
            for name, (help_text, labels) in FAMILIES.items()
        ]

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_cases, overdue, pending = self._families()
        snapshot = self.snapshot
        if snapshot is not None:
            for team, count in sorted(snapshot.open_cases.items()):
                open_cases.add_metric([team], count)
                overdue.add_metric([team], snapshot.overdue_cases.get(team, 0))
            pending.add_metric([], snapshot.pending_links)
        return iter([open_cases, overdue, pending])


SYSTEM = SystemGauges()
REGISTRY.register(SYSTEM)


async def read(sessions: async_sessionmaker[AsyncSession]) -> Snapshot:
    now = datetime.now(UTC)
    async with sessions() as session:
        rows = await session.execute(
            select(cases.c.owner_team, func.count(), func.count().filter(cases.c.due_at < now))
            .where(cases.c.status != CaseStatus.CLOSED.value)
            .group_by(cases.c.owner_team)
        )
        open_cases: dict[str, int] = {}
        overdue: dict[str, int] = {}
        for team, open_count, overdue_count in rows:
            open_cases[team] = int(open_count)
            overdue[team] = int(overdue_count)
        pending = await session.scalar(
            select(func.count())
            .select_from(link_suggestions)
            .where(link_suggestions.c.status == "pending")
        )
    return Snapshot(open_cases, overdue, int(pending or 0))


class Election:
    """Whether this replica publishes the system-wide gauges: it holds the advisory lock on a
    connection it keeps (a session-level lock: released when the connection ends)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = is_sqlite(str(engine.url))
        self._connection: AsyncConnection | None = None

    async def leading(self) -> bool:
        if self._sqlite:
            return True  # SQLite: one process owns the database file
        try:
            if self._connection is not None:
                await self._connection.execute(text("SELECT 1"))  # still ours?
                await self._connection.commit()
                return True
            connection = await self._engine.connect()
            won = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": GAUGES_LOCK_KEY}
            )
            await connection.commit()
            if won:
                self._connection = connection
                return True
            await connection.close()
            return False
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as exc:  # the lock goes with the connection either way
                log.warning("gauge lock connection", extra={"error_type": type(exc).__name__})


async def refresh(
    sessions: async_sessionmaker[AsyncSession], relay: OutboxRelay, *, leading: bool = True
) -> Snapshot | None:
    """One round: the system-wide gauges if this replica leads (else none), the outbox backlog
    always (every replica reads the same number: dashboards take the ``max``)."""
    SYSTEM.snapshot = await read(sessions) if leading else None
    LEADER.set(1 if leading else 0)
    await relay.backlog()
    return SYSTEM.snapshot


async def run(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    relay: OutboxRelay,
    every: float = 30.0,
) -> None:
    election = Election(engine)
    try:
        while True:
            try:
                await refresh(sessions, relay, leading=await election.leading())
            except Exception as exc:  # a gauge refresh never takes the router down
                SYSTEM.snapshot = None  # stale numbers are worse than none
                LEADER.set(0)
                log.warning("gauge refresh failed", extra={"error_type": type(exc).__name__})
            await asyncio.sleep(every)
    finally:
        await election.close()

"""Gauges read from the router's tables every little while: backlog per team, norm breaches,
suggested links waiting for a person, the outbox backlog."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.orm import cases, link_suggestions
from shared.contracts import CaseStatus
from shared.outbox import OutboxRelay

log = logging.getLogger(__name__)

OPEN_CASES = Gauge("eenloket_router_open_cases", "Open cases per owning team", ["team"])
OVERDUE_CASES = Gauge(
    "eenloket_router_overdue_cases", "Open cases past their due date per owning team", ["team"]
)
PENDING_LINKS = Gauge(
    "eenloket_router_suggested_links_pending", "Suggested identity links awaiting a person"
)


async def refresh(sessions: async_sessionmaker[AsyncSession], relay: OutboxRelay) -> None:
    now = datetime.now(UTC)
    async with sessions() as session:
        rows = await session.execute(
            select(
                cases.c.owner_team,
                func.count(),
                func.count().filter(cases.c.due_at < now),
            )
            .where(cases.c.status != CaseStatus.CLOSED.value)
            .group_by(cases.c.owner_team)
        )
        seen = set()
        for team, open_count, overdue in rows:
            seen.add(team)
            OPEN_CASES.labels(team).set(open_count)
            OVERDUE_CASES.labels(team).set(overdue)
        for metric in (OPEN_CASES, OVERDUE_CASES):
            for (team,) in list(metric._metrics):  # teams that no longer have open cases
                if team not in seen:
                    metric.labels(team).set(0)
        PENDING_LINKS.set(
            await session.scalar(
                select(func.count())
                .select_from(link_suggestions)
                .where(link_suggestions.c.status == "pending")
            )
            or 0
        )
    await relay.backlog()


async def run(
    sessions: async_sessionmaker[AsyncSession], relay: OutboxRelay, every: float = 30.0
) -> None:
    while True:
        try:
            await refresh(sessions, relay)
        except Exception as exc:  # a gauge refresh never takes the router down
            log.warning("gauge refresh failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(every)

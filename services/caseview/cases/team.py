"""The team lead's overview of the team's work (the queue itself: queries.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.cases.models import AgeBucket, TeamOverview
from services.caseview.orm import cases

# Age of the open cases the lead sees at a glance (lesson 7: norms, not only a count).
AGE_BUCKETS = (
    ("under-1-day", timedelta(days=1)),
    ("1-7-days", timedelta(days=7)),
    ("1-4-weeks", timedelta(days=28)),
)
# "Van het kastje naar de muur": a case handed over this often is called out.
PASSED_AROUND = 3


async def team_overview(session: AsyncSession, team: str, *, now: datetime) -> TeamOverview:
    """The open cases the team owns: backlog, ages, handovers, norm breaches (one query)."""
    c = cases
    age = [
        func.sum(case((c.c.opened_at > now - limit, 1), else_=0).cast(Integer))
        for _, limit in AGE_BUCKETS
    ]
    row = (
        await session.execute(
            select(
                func.count(),
                *age,
                func.sum(case((c.c.due_at < now, 1), else_=0)),
                func.sum(case((c.c.handover_count > 0, 1), else_=0)),
                func.coalesce(func.sum(c.c.handover_count), 0),
                func.sum(case((c.c.handover_count >= PASSED_AROUND, 1), else_=0)),
                func.min(c.c.opened_at),
            ).where(c.c.owner_team == team, c.c.is_open == true())
        )
    ).one()
    backlog = int(row[0])
    cumulative = [int(v or 0) for v in row[1 : 1 + len(AGE_BUCKETS)]]
    buckets, below = [], 0
    for (name, _), upto in zip(AGE_BUCKETS, cumulative, strict=True):
        buckets.append(AgeBucket(bucket=name, count=upto - below))
        below = upto
    buckets.append(AgeBucket(bucket="over-4-weeks", count=backlog - below))
    overdue, handed_over, handovers, passed_around, oldest = row[1 + len(AGE_BUCKETS) :]
    return TeamOverview(
        team=team,
        backlog=backlog,
        ages=buckets,
        overdue=int(overdue or 0),
        handed_over=int(handed_over or 0),
        handovers=int(handovers or 0),
        passed_around=int(passed_around or 0),
        passed_around_from=PASSED_AROUND,
        oldest_opened_at=oldest,
    )

"""What a team's queue row says beyond the case itself (subject, resident, channel: from the
case's first contact and its party), and the team lead's overview of the team's work."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.cases.models import AgeBucket, TeamOverview
from services.caseview.orm import cases, parties, timeline_entries
from shared.contracts import MessageRouted

# Age of the open cases the lead sees at a glance (lesson 7: norms, not only a count).
AGE_BUCKETS = (
    ("under-1-day", timedelta(days=1)),
    ("1-7-days", timedelta(days=7)),
    ("1-4-weeks", timedelta(days=28)),
)
# "Van het kastje naar de muur": a case handed over this often is called out.
PASSED_AROUND = 3


async def first_contacts(
    session: AsyncSession, case_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Per case: the subject and channel of its first contact and the party's name."""
    if not case_ids:
        return {}
    t = timeline_entries
    first = (
        select(
            t.c.case_id,
            t.c.channel,
            t.c.body,
            func.row_number()
            .over(partition_by=t.c.case_id, order_by=(t.c.sort_at, t.c.sequence))
            .label("n"),
        )
        .where(t.c.case_id.in_(case_ids), t.c.type == MessageRouted.TYPE)
        .subquery()
    )
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for r in await session.execute(select(first).where(first.c.n == 1)):
        found[r.case_id] = {"subject": r.body.get("subject"), "channel": r.channel}
    names = await session.execute(
        select(cases.c.id, parties.c.display_name)
        .join(parties, parties.c.id == cases.c.party_id)
        .where(cases.c.id.in_(case_ids))
    )
    for case_id, name in names:
        found.setdefault(case_id, {"subject": None, "channel": None})["resident"] = name
    return found


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

"""What the read model says about whether a staff command can succeed: caseview refuses a
command it can already tell the router would reject (409), rather than answer 202 and
leave the refusal to a ``command.rejected`` later. The router still checks everything:
the read model may be behind (a race), and then the command status shows the refusal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import cases, link_suggestions, party_merges


@dataclass(frozen=True)
class CaseState:
    number: str
    status: str
    is_open: bool


async def case_state(session: AsyncSession, case_id: uuid.UUID) -> CaseState | None:
    row = (
        await session.execute(
            select(cases.c.number, cases.c.status, cases.c.is_open).where(cases.c.id == case_id)
        )
    ).first()
    return None if row is None else CaseState(row.number, row.status, row.is_open)


async def suggestion_decision(session: AsyncSession, suggestion_id: uuid.UUID) -> str | None:
    """``confirmed`` or ``rejected`` once decided; None while pending (or unknown)."""
    s = link_suggestions
    decision: str | None = await session.scalar(
        select(s.c.decision).where(s.c.suggestion_id == suggestion_id)
    )
    return decision


async def merge_undone(session: AsyncSession, merge_id: uuid.UUID) -> bool:
    m = party_merges
    undone = await session.scalar(select(m.c.unmerged_at).where(m.c.merge_id == merge_id))
    return undone is not None

"""Reading the access log (auditors), newest first."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.models import AccessLogEntry, AccessLogPage
from services.caseview.orm import access_log
from services.caseview.paging import MAX_BIGINT, decode, encode


async def access_log_page(
    session: AsyncSession,
    *,
    limit: int,
    before: int | None,
    user: str | None,
    party_id: uuid.UUID | None,
    case_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> AccessLogPage:
    a = access_log
    query = select(a)
    if before is not None:
        query = query.where(a.c.id < before)
    if user is not None:
        query = query.where(a.c.user == user)
    if party_id is not None:
        query = query.where(a.c.party_id == party_id)
    if case_id is not None:
        query = query.where(a.c.case_id == case_id)
    if since is not None:
        query = query.where(a.c.at >= since)
    if until is not None:
        query = query.where(a.c.at < until)
    rows = (await session.execute(query.order_by(a.c.id.desc()).limit(limit + 1))).all()
    items = [
        AccessLogEntry(
            id=int(r.id),
            at=r.at,
            user=r.user,
            teams=[x for x in r.teams.split(",") if x],
            roles=[x for x in r.roles.split(",") if x],
            endpoint=r.endpoint,
            party_id=r.party_id,
            case_id=r.case_id,
            team=r.team,
            purpose=r.purpose,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return AccessLogPage(
        items=items, next_cursor=encode("a", [items[-1].id]) if more and items else None
    )


def decode_access_cursor(cursor: str) -> int:
    try:
        (value,) = decode(cursor, "a")
    except Exception as exc:
        raise ValueError("not an access-log cursor") from exc
    if not isinstance(value, int) or not 0 < value <= MAX_BIGINT:
        raise ValueError("not an access-log cursor")
    return value

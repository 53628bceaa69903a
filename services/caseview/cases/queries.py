"""Reading cases: summaries (for a party's lists), the case view, and a team's queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, literal, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from services.caseview.cases.models import (
    CaseSummary,
    CaseView,
    ContactOut,
    Handover,
    QueueItem,
    QueuePage,
    QueueSort,
    RoutingExplanationOut,
)
from services.caseview.cases.team import first_contacts
from services.caseview.orm import (
    NO_DUE_DATE,
    case_handovers,
    case_participants,
    cases,
    timeline_entries,
)
from services.caseview.paging import QueueKey, capped_count
from services.caseview.viewer import CaseAccess, Viewer, participants
from shared.contracts import MessageRouted, OutboundContactRegistered

CONTACT_TYPES = (MessageRouted.TYPE, OutboundContactRegistered.TYPE)


def _summary(viewer: Viewer, r: Row[Any], teams: list[str], now: datetime) -> dict[str, Any]:
    access = CaseAccess.of_case(r, teams)
    visible = viewer.sees(access)
    return {
        "id": r.id,
        "number": r.number,
        "party_id": r.party_id,
        "product": r.product if visible else None,
        "status": r.status if visible else None,
        "owner_team": r.owner_team,
        "participants": teams,
        "confidential": viewer.is_confidential(r.confidential, r.product),
        "redacted": not visible,
        "opened_at": r.opened_at,
        "due_at": r.due_at,
        "overdue": r.is_open and r.due_at is not None and r.due_at < now,
        "closed_at": r.closed_at,
        "result": r.result if visible else None,
        "handover_count": r.handover_count,
        "last_activity_at": r.last_activity_at,
    }


async def case_summaries(
    session: AsyncSession, viewer: Viewer, query: Select[Any], *, now: datetime
) -> list[CaseSummary]:
    rows = (await session.execute(query)).all()
    teams = await participants(session, [r.id for r in rows])
    return [CaseSummary(**_summary(viewer, r, teams.get(r.id, []), now)) for r in rows]


async def case_party(session: AsyncSession, case_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(cases.c.party_id).where(cases.c.id == case_id))


async def case_view(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, *, now: datetime, count_cap: int
) -> CaseView | None:
    row = (await session.execute(select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        return None
    teams = (await participants(session, [case_id])).get(case_id, [])
    summary = _summary(viewer, row, teams, now)
    visible = not summary["redacted"]
    h = case_handovers
    handovers = (
        [
            Handover(
                from_team=r.from_team,
                to_team=r.to_team,
                by=r.by_user,
                by_team=r.by_team,
                reason=r.reason,
                at=r.at,
                handover_count=r.handover_count,
            )
            for r in await session.execute(
                select(h).where(h.c.case_id == case_id).order_by(h.c.at, h.c.handover_count)
            )
        ]
        if visible
        else []
    )
    t = timeline_entries
    contact_query = select(t).where(t.c.case_id == case_id, t.c.type.in_(CONTACT_TYPES))
    contact_rows = (
        await session.execute(
            contact_query.order_by(
                t.c.sort_at.desc(), t.c.party_id.desc(), t.c.sequence.desc()
            ).limit(count_cap)
        )
    ).all()
    contacts = [_contact(r, visible) for r in contact_rows]
    explanations = (
        [
            RoutingExplanationOut(
                message_id=r.message_id,
                at=r.occurred_at,
                explanation=r.body.get("explanation", {}),
                flags=r.body.get("flags", []),
            )
            for r in contact_rows
            if r.type == MessageRouted.TYPE and r.message_id is not None
        ]
        if visible
        else []
    )
    return CaseView(
        **summary,
        handovers=handovers,
        routing_explanations=explanations,
        contacts=contacts,
        contacts_total=await capped_count(
            session, select(literal(1)).select_from(contact_query.subquery()), count_cap
        ),
    )


def _contact(r: Row[Any], visible: bool) -> ContactOut:
    body: dict[str, Any] = r.body
    inbound = r.type == MessageRouted.TYPE
    return ContactOut(
        event_id=r.event_id,
        direction="inbound" if inbound else "outbound",
        channel=r.channel,
        occurred_at=r.occurred_at,
        message_id=r.message_id,
        subject=(body.get("subject") if inbound else body.get("summary")) if visible else None,
        text=body.get("text") if visible and inbound else None,
    )


async def team_queue(
    session: AsyncSession,
    viewer: Viewer,
    team: str,
    *,
    sort: QueueSort,
    limit: int,
    after: QueueKey | None,
    now: datetime,
    count_cap: int,
    statuses: tuple[str, ...] = (),
) -> QueuePage:
    """Open cases the team owns or takes part in; each half is an index range scan."""
    c = cases
    status_ok = c.c.status.in_(statuses) if statuses else true()
    sort_col = c.c.opened_at if sort is QueueSort.AGE else c.c.queue_due
    order = (sort_col, c.c.id)

    def keyset(query: Select[Any]) -> Select[Any]:
        if after is not None:
            query = query.where(
                tuple_(*order)
                > tuple_(literal(after.at, sort_col.type), literal(after.case_id, c.c.id.type))
            )
        return query.order_by(*order).limit(limit + 1)

    owned = (
        await session.execute(
            keyset(select(c).where(c.c.owner_team == team, c.c.is_open == true(), status_ok))
        )
    ).all()
    p = case_participants
    joined = (
        await session.execute(
            keyset(
                select(c)
                .join(p, p.c.case_id == c.c.id)
                .where(p.c.team == team, c.c.is_open == true(), c.c.owner_team != team, status_ok)
            )
        )
    ).all()
    rows = sorted([*owned, *joined], key=lambda r: (_sort_value(r, sort), r.id))[: limit + 1]
    page = rows[:limit]
    teams = await participants(session, [r.id for r in page])
    contacts = await first_contacts(session, [r.id for r in page])
    items = [
        _queue_item(viewer, r, teams.get(r.id, []), contacts.get(r.id, {}), team, now) for r in page
    ]
    owned_count = select(c.c.id).where(c.c.owner_team == team, c.c.is_open == true(), status_ok)
    joined_count = (
        select(c.c.id)
        .join(p, p.c.case_id == c.c.id)
        .where(p.c.team == team, c.c.is_open == true(), c.c.owner_team != team, status_ok)
    )
    total = await capped_count(
        session, owned_count.union_all(joined_count).subquery().select(), count_cap
    )
    next_cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        next_cursor = QueueKey(_sort_value(last, sort), last.id).encode(sort.value)
    return QueuePage(team=team, sort=sort, items=items, next_cursor=next_cursor, total=total)


def _queue_item(
    viewer: Viewer,
    r: Row[Any],
    teams: list[str],
    contact: dict[str, Any],
    team: str,
    now: datetime,
) -> QueueItem:
    summary = _summary(viewer, r, teams, now)
    return QueueItem(
        **summary,
        role="owner" if r.owner_team == team else "participant",
        subject=None if summary["redacted"] else contact.get("subject"),
        channel=contact.get("channel"),
        resident=contact.get("resident"),
    )


def _sort_value(r: Row[Any], sort: QueueSort) -> datetime:
    value: datetime = r.opened_at if sort is QueueSort.AGE else (r.queue_due or NO_DUE_DATE)
    return value

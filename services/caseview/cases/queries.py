"""Reading cases: summaries (for a party's lists), the case view, and a team's queue."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, literal, select, true, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from services.caseview.cases.models import CaseSummary, QueueSort
from services.caseview.orm import (
    NO_DUE_DATE,
    case_handovers,
    case_participants,
    cases,
    parties,
    timeline_entries,
)
from services.caseview.paging import Count, QueueKey, out_json
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
) -> tuple[uuid.UUID, bytes] | None:
    """The case view and the case's party, ``None`` for an unknown case. One round trip: the
    case, its teams, its contacts and their capped count come back together (a row per
    contact); the handovers are a second one, only for a case handed over that the viewer
    may see. Written straight to JSON (``view_json``)."""
    params = {"case_id": case_id, "cap": count_cap, "counted": count_cap + 1}
    rows = (await session.execute(_case_statement(), params)).all()
    if not rows:
        return None
    first = rows[0]
    summary = _summary(viewer, first, _team_list(first.case_teams), now)
    visible = not summary["redacted"]
    contacts = [r for r in rows if r.contact_event_id is not None]
    n = int(first.n)
    return first.party_id, view_json(
        summary,
        await _handovers(session, case_id) if visible and first.handover_count else [],
        [
            {
                "message_id": r.contact_message_id,
                "at": r.contact_occurred_at,
                "explanation": r.contact_body.get("explanation", {}),
                "flags": r.contact_body.get("flags", []),
            }
            for r in contacts
            if visible and r.contact_type == MessageRouted.TYPE and r.contact_message_id is not None
        ],
        [_contact(r, visible) for r in contacts],
        Count(value=min(n, count_cap), capped=n > count_cap),
    )


CONTACT_COLUMNS = ("event_id", "type", "channel", "occurred_at", "message_id", "body")


@functools.cache
def _case_statement() -> Any:
    """The case view's statement, built once (building it per request cost more CPU than
    running it, #22). Parameters: ``case_id``, ``cap``, ``counted`` (cap + 1)."""
    c, t, p = cases, timeline_entries, case_participants
    case_id = bindparam("case_id", type_=c.c.id.type)
    contact = and_(t.c.case_id == case_id, t.c.type.in_(CONTACT_TYPES))
    counted = select(literal(1)).select_from(t).where(contact).limit(bindparam("counted"))
    # The participating teams as one string (team names hold no comma).
    teams = select(func.aggregate_strings(p.c.team, ",")).where(p.c.case_id == case_id)
    return (
        select(
            c,
            teams.scalar_subquery().label("case_teams"),
            select(func.count()).select_from(counted.subquery()).scalar_subquery().label("n"),
            *(t.c[name].label("contact_" + name) for name in CONTACT_COLUMNS),
        )
        .select_from(c.outerjoin(t, contact))
        .where(c.c.id == case_id)
        .order_by(t.c.sort_at.desc(), t.c.party_id.desc(), t.c.sequence.desc())
        .limit(bindparam("cap"))
    )


def _team_list(teams: str | None) -> list[str]:
    return sorted(teams.split(",")) if teams else []


async def _handovers(session: AsyncSession, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(_handovers_statement(), {"case_id": case_id})
    return [
        {
            "from_team": r.from_team,
            "to_team": r.to_team,
            "by": r.by_user,
            "by_team": r.by_team,
            "reason": r.reason,
            "at": r.at,
            "handover_count": r.handover_count,
        }
        for r in rows
    ]


@functools.cache
def _handovers_statement() -> Any:
    h = case_handovers
    case_id = bindparam("case_id", type_=h.c.case_id.type)
    return select(h).where(h.c.case_id == case_id).order_by(h.c.at, h.c.handover_count)


def _contact(r: Row[Any], visible: bool) -> dict[str, Any]:
    body: dict[str, Any] = r.contact_body
    inbound = r.contact_type == MessageRouted.TYPE
    return {
        "event_id": r.contact_event_id,
        "direction": "inbound" if inbound else "outbound",
        "channel": r.contact_channel,
        "occurred_at": r.contact_occurred_at,
        "message_id": r.contact_message_id,
        "subject": (body.get("subject") if inbound else body.get("summary")) if visible else None,
        "text": body.get("text") if visible and inbound else None,
    }


def view_json(
    summary: dict[str, Any],
    handovers: list[dict[str, Any]],
    explanations: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
    total: Count,
) -> bytes:
    """A ``CaseView`` as JSON from its fields, the bytes the model writes
    (tests/unit/test_caseview_read_json.py holds the two equal)."""
    return out_json(
        {
            **summary,
            "handovers": handovers,
            "routing_explanations": explanations,
            "contacts": contacts,
            "contacts_total": {"value": total.value, "capped": total.capped},
        }
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
) -> bytes:
    """Open cases the team owns or takes part in, as JSON (``queue_json``). One round trip:
    each half is an index range scan; the page's teams, first contacts, residents' names and
    the capped count come back with the page (an empty page asks for the count alone)."""
    query, count = _queue_statements(sort, after is not None, bool(statuses))
    params: dict[str, Any] = {"team": team, "page": limit + 1, "counted": count_cap + 1}
    if after is not None:
        params.update(after_at=after.at, after_id=after.case_id)
    if statuses:
        params["statuses"] = list(statuses)
    rows = (await session.execute(query, params)).all()
    page = rows[:limit]
    # An empty page carries no count: asked for alone.
    n = int(rows[0].n if rows else await session.scalar(count, params) or 0)
    total = Count(value=min(n, count_cap), capped=n > count_cap)
    next_cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        next_cursor = QueueKey(_sort_value(last, sort), last.id).encode(sort.value)
    return queue_json(
        team, sort, [_queue_item(viewer, r, team, now) for r in page], next_cursor, total
    )


@functools.cache
def _queue_statements(sort: QueueSort, paged: bool, filtered: bool) -> tuple[Any, Any]:
    """The queue's page and its count for one shape of request, built once: building this
    statement (its subqueries' columns) cost more of caseview's CPU than running it (#22).
    Parameters: ``team``, ``page`` (limit + 1), ``counted`` (cap + 1), ``after_at`` and
    ``after_id`` when ``paged``, ``statuses`` when ``filtered``."""
    c, p, t = cases, case_participants, timeline_entries
    status_ok = c.c.status.in_(bindparam("statuses", expanding=True)) if filtered else true()
    sort_col = c.c.opened_at if sort is QueueSort.AGE else c.c.queue_due
    order = (sort_col, c.c.id)
    team = bindparam("team", type_=c.c.owner_team.type)

    def keyset(query: Select[Any]) -> Select[Any]:
        if paged:
            after = tuple_(
                bindparam("after_at", type_=sort_col.type), bindparam("after_id", type_=c.c.id.type)
            )
            query = query.where(tuple_(*order) > after)
        # Each half its own subquery: SQLite takes no LIMIT inside a UNION's member.
        return select(query.order_by(*order).limit(bindparam("page")).subquery())

    owned = select(c).where(c.c.owner_team == team, c.c.is_open == true(), status_ok)
    joined = (
        select(c)
        .join(p, p.c.case_id == c.c.id)
        .where(p.c.team == team, c.c.is_open == true(), c.c.owner_team != team, status_ok)
    )
    halves = union_all(keyset(owned), keyset(joined)).subquery("q")
    ids = union_all(owned.with_only_columns(c.c.id), joined.with_only_columns(c.c.id))
    counted = select(literal(1)).select_from(ids.subquery()).limit(bindparam("counted"))
    count = select(func.count()).select_from(counted.subquery())

    def first(column: Any) -> Any:  # of the case's first contact
        return (
            select(column)
            .where(t.c.case_id == halves.c.id, t.c.type == MessageRouted.TYPE)
            .order_by(t.c.sort_at, t.c.sequence)
            .limit(1)
            .scalar_subquery()
        )

    teams = (
        select(func.aggregate_strings(p.c.team, ","))
        .where(p.c.case_id == halves.c.id)
        .scalar_subquery()
    )
    q_sort = halves.c.opened_at if sort is QueueSort.AGE else halves.c.queue_due
    query = (
        select(
            halves,
            teams.label("case_teams"),
            first(t.c.body["subject"].as_string()).label("subject"),
            first(t.c.channel).label("first_channel"),
            select(parties.c.display_name)
            .where(parties.c.id == halves.c.party_id)
            .scalar_subquery()
            .label("resident"),
            count.scalar_subquery().label("n"),
        )
        .order_by(q_sort, halves.c.id)
        .limit(bindparam("page"))
    )
    return query, count


def _queue_item(viewer: Viewer, r: Row[Any], team: str, now: datetime) -> dict[str, Any]:
    summary = _summary(viewer, r, _team_list(r.case_teams), now)
    return {
        **summary,
        "role": "owner" if r.owner_team == team else "participant",
        "subject": None if summary["redacted"] else r.subject,
        "channel": r.first_channel,
        "resident": r.resident,
    }


def queue_json(
    team: str, sort: QueueSort, items: list[dict[str, Any]], next_cursor: str | None, total: Count
) -> bytes:
    """A ``QueuePage`` as JSON from its fields, the bytes the model writes
    (tests/unit/test_caseview_read_json.py holds the two equal)."""
    return out_json(
        {
            "team": team,
            "sort": sort.value,
            "items": items,
            "next_cursor": next_cursor,
            "total": {"value": total.value, "capped": total.capped},
        }
    )


def _sort_value(r: Row[Any], sort: QueueSort) -> datetime:
    value: datetime = r.opened_at if sort is QueueSort.AGE else (r.queue_due or NO_DUE_DATE)
    return value

"""Case routes: the case view, its history and live stream; a team's queue and live stream."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.audited import Audited, AuditedRead, Need, NotFound, Target
from services.caseview.auth import ACT_ON_CASES, READ_HISTORY
from services.caseview.cases import queries
from services.caseview.cases.models import CaseView, QueuePage, QueueSort, TeamOverview
from services.caseview.cases.team import team_overview as overview
from services.caseview.paging import QueueKey
from services.caseview.timeline import live
from services.caseview.timeline.models import FeedItem, TimelinePage
from services.caseview.timeline.params import Channels, Since, Types, Until, timeline_filter
from services.caseview.timeline.queries import case_timeline as read_timeline
from services.caseview.timeline.queries import feed, statements_alone
from services.caseview.web import (
    NO_NUL,
    Cursor,
    Limit,
    Team,
    invalid_cursor,
    now,
    responses,
    settings,
    timeline_cursor,
    viewer,
)

router = APIRouter(prefix="/v1")

READ = Need(READ_HISTORY)
TEAM_MEMBER = Need(
    ACT_ON_CASES, "Not your team", "Only members of a team see its queue.", own_team=True
)
CASE_NOT_FOUND = NotFound("Case not found")
T = TypeVar("T")


async def _read_case(
    read: AuditedRead,
    case_id: uuid.UUID,
    find: Callable[[], Awaitable[T | None]],
    party: Callable[[T], uuid.UUID],
) -> T:
    """A read of one case: logged with the case's party."""
    return await read(
        READ,
        Target(case_id=case_id),
        find,
        not_found=CASE_NOT_FOUND,
        logged=lambda found: [Target(party_id=party(found), case_id=case_id)],
    )


@router.get(
    "/cases/{case_id}",
    tags=["cases"],
    operation_id="getCase",
    response_model=CaseView,
    responses=responses(404),
    summary="A case: owner, participants, handovers with reasons, due date, routing, contacts",
)
async def get_case(request: Request, case_id: uuid.UUID, read: Audited) -> CaseView | Response:
    async def find() -> tuple[uuid.UUID, bytes] | None:
        await statements_alone(read.session)
        return await queries.case_view(
            read.session,
            viewer(request, read.principal),
            case_id,
            now=now(),
            count_cap=settings(request).count_cap,
        )

    _, view = await _read_case(read, case_id, find, lambda found: found[0])
    return Response(view, media_type="application/json")


@router.get(
    "/cases/{case_id}/timeline",
    tags=["cases"],
    operation_id="getCaseTimeline",
    response_model=TimelinePage,
    responses=responses(400, 404),
    summary="A case's history (every contact, event and note), newest first",
)
async def case_timeline(
    request: Request,
    case_id: uuid.UUID,
    read: Audited,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Channels = None,
    type: Types = None,
    since: Since = None,
    until: Until = None,
) -> TimelinePage | Response:
    async def find() -> tuple[uuid.UUID, bytes] | None:
        before = timeline_cursor(cursor)
        await statements_alone(read.session)
        return await read_timeline(
            read.session,
            viewer(request, read.principal),
            case_id,
            limit=limit,
            before=before,
            filters=timeline_filter(channel, type, since, until),
            count_cap=settings(request).count_cap,
        )

    _, page = await _read_case(read, case_id, find, lambda found: found[0])
    return Response(page, media_type="application/json")


@router.get(
    "/cases/{case_id}/events",
    tags=["live"],
    operation_id="streamCaseEvents",
    response_class=StreamingResponse,
    responses={**live.SSE_RESPONSE, **responses(400, 404)},
    summary="Live updates of a case (Server-Sent Events)",
)
async def case_events(
    request: Request, case_id: uuid.UUID, read: Audited, last_event_id: live.LastEventId
) -> StreamingResponse:
    shown = viewer(request, read.principal)

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[FeedItem]:
        return await feed(s, shown, after=after, limit=limit, case_id=case_id)

    async def find() -> tuple[uuid.UUID, StreamingResponse] | None:
        start = await live.start_position(read.session, last_event_id)
        party_id = await queries.case_party(read.session, case_id)
        if party_id is None:
            return None
        return party_id, live.response(request, fetch, start)

    _, stream = await _read_case(read, case_id, find, lambda found: found[0])
    return stream


@router.get(
    "/teams/{team}/queue",
    tags=["teams"],
    operation_id="getTeamQueue",
    response_model=QueuePage,
    responses=responses(400),
    summary="A team's work queue: open cases it owns or takes part in",
)
async def team_queue(
    request: Request,
    team: Team,
    read: Audited,
    sort: Annotated[
        QueueSort, Query(description="age: oldest first; due: earliest due date first")
    ] = QueueSort.AGE,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[
        list[Annotated[str, Query(max_length=32, pattern=NO_NUL)]] | None,
        Query(max_length=20, description="Only cases with one of these statuses"),
    ] = None,
) -> QueuePage | Response:
    async def find() -> bytes:
        after = None
        if cursor is not None:
            try:
                after = QueueKey.decode(cursor, sort.value)
            except ValueError as exc:
                raise invalid_cursor("Use 'next_cursor' with the same sort.") from exc
        await statements_alone(read.session)
        return await queries.team_queue(
            read.session,
            viewer(request, read.principal),
            team,
            sort=sort,
            limit=limit,
            after=after,
            now=now(),
            count_cap=settings(request).count_cap,
            statuses=tuple(status or ()),
        )

    return Response(await read(TEAM_MEMBER, Target(team=team), find), media_type="application/json")


@router.get(
    "/teams/{team}/overview",
    tags=["teams"],
    operation_id="getTeamOverview",
    response_model=TeamOverview,
    responses=responses(400),
    summary="The team lead's view: backlog, ages, handovers and norm breaches of the team",
)
async def team_overview(team: Team, read: Audited) -> TeamOverview:
    # Counts only, no party data: the same members who see the queue see its numbers.
    async def find() -> TeamOverview:
        return await overview(read.session, team, now=now())

    return await read(TEAM_MEMBER, Target(team=team, detail="overview"), find)


@router.get(
    "/teams/{team}/events",
    tags=["live"],
    operation_id="streamTeamEvents",
    response_class=StreamingResponse,
    responses={**live.SSE_RESPONSE, **responses(400)},
    summary="Live updates of every case the team owns or takes part in (Server-Sent Events)",
)
async def team_events(
    request: Request, team: Team, read: Audited, last_event_id: live.LastEventId
) -> StreamingResponse:
    shown = viewer(request, read.principal)

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[FeedItem]:
        return await feed(s, shown, after=after, limit=limit, team=team)

    async def find() -> StreamingResponse:
        start = await live.start_position(read.session, last_event_id)
        return live.response(request, fetch, start)

    return await read(TEAM_MEMBER, Target(team=team), find)

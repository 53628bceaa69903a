"""Party routes: search, the party view, its BSN (revealed), its history and the history's
live stream; a team's pending link suggestions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.audited import Audited, Need, NotFound, Target
from services.caseview.auth import ACT_ON_CASES, READ_HISTORY
from services.caseview.parties import details, merges, suggestions
from services.caseview.parties.models import (
    BsnOut,
    PartyHits,
    PartySearch,
    PartyView,
    SuggestionPage,
)
from services.caseview.parties.queries import find_parties as search_parties
from services.caseview.parties.queries import party_view
from services.caseview.timeline import live
from services.caseview.timeline.models import FeedItem, TimelinePage
from services.caseview.timeline.params import Channels, Since, Types, Until, timeline_filter
from services.caseview.timeline.queries import (
    feed,
    single_party_page,
    statements_alone,
    timeline,
)
from services.caseview.web import (
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
PARTY_NOT_FOUND = NotFound("Party not found")
TEAM_MEMBER = Need(
    ACT_ON_CASES, "Not your team", "Only members of a team see its suggestions.", own_team=True
)


@router.post(
    "/parties/search",
    tags=["parties"],
    operation_id="findParties",
    response_model=PartyHits,
    responses=responses(),
    summary="Find a party (POST, so a BSN or address never appears in a URL or proxy log)",
)
async def find_parties(search: Annotated[PartySearch, Body()], read: Audited) -> PartyHits:
    async def find() -> PartyHits:
        return await search_parties(read.session, search.by, search.value, limit=search.limit)

    detail = f"search by {search.by}"
    return await read(
        READ,
        Target(detail=detail),
        find,
        logged=lambda hits: [Target(party_id=h.party_id, detail=detail) for h in hits.items],
    )


@router.get(
    "/parties/{party_id}",
    tags=["parties"],
    operation_id="getParty",
    response_model=PartyView,
    responses=responses(404),
    summary="A party: identifiers with trust, suggested links, merges, open and closed cases",
)
async def get_party(request: Request, party_id: uuid.UUID, read: Audited) -> PartyView:
    async def find() -> PartyView | None:
        return await party_view(read.session, viewer(request, read.principal), party_id, now=now())

    return await read(READ, Target(party_id=party_id), find, not_found=PARTY_NOT_FOUND)


@router.get(
    "/parties/{party_id}/bsn",
    tags=["parties"],
    operation_id="revealPartyBsn",
    response_model=BsnOut,
    responses=responses(404),
    summary="The party's BSN in full (search shows it masked); the reveal is access-logged",
)
async def reveal_bsn(party_id: uuid.UUID, read: Audited) -> BsnOut:
    async def find() -> BsnOut | None:
        if not await merges.party_exists(read.session, party_id):
            return None
        return await details.bsn(read.session, await merges.resolve(read.session, party_id))

    return await read(
        READ,
        Target(party_id=party_id, detail="bsn revealed"),
        find,
        not_found=NotFound("Party not found", "Geen BSN bekend bij dit dossier."),
    )


@router.get(
    "/teams/{team}/link-suggestions",
    tags=["teams"],
    operation_id="getTeamLinkSuggestions",
    response_model=SuggestionPage,
    responses=responses(400),
    summary="Suggested identity links awaiting a decision, from messages on the team's cases",
)
async def team_link_suggestions(
    team: Team, read: Audited, limit: Limit = 50, cursor: Cursor = None
) -> SuggestionPage:
    async def find() -> SuggestionPage:
        after = None
        if cursor is not None:
            try:
                after = suggestions.decode_cursor(cursor)
            except ValueError as exc:
                raise invalid_cursor() from exc
        return await suggestions.team_suggestions(read.session, team, limit=limit, after=after)

    # One entry per party shown, like a search: the list names residents.
    return await read(
        TEAM_MEMBER,
        Target(team=team),
        find,
        logged=lambda page: [
            Target(party_id=p, team=team, detail="link suggestions")
            for p in dict.fromkeys(
                x for s in page.items for x in (s.party_id, s.suggested_party_id)
            )
        ],
    )


@router.get(
    "/parties/{party_id}/timeline",
    tags=["parties"],
    operation_id="getPartyTimeline",
    response_model=TimelinePage,
    responses=responses(400, 404),
    summary="A party's history across every channel and case, newest first",
)
async def party_timeline(
    request: Request,
    party_id: uuid.UUID,
    read: Audited,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Channels = None,
    type: Types = None,
    case_id: uuid.UUID | None = None,
    since: Since = None,
    until: Until = None,
) -> TimelinePage | Response:
    async def find() -> TimelinePage | Response | None:
        before = timeline_cursor(cursor)
        shown = viewer(request, read.principal)
        filters = timeline_filter(channel, type, since, until, case_id)
        cap = settings(request).count_cap
        await statements_alone(read.session)
        page = await single_party_page(
            read.session,
            shown,
            party_id,
            limit=limit,
            before=before,
            filters=filters,
            count_cap=cap,
        )
        if page is not None:  # most parties were never merged: one round trip, JSON straight
            return Response(page, media_type="application/json")
        located = await merges.locate(read.session, party_id)
        if located is None:
            return None
        root, ids = located
        return await timeline(
            read.session,
            shown,
            ids,
            root=root,
            limit=limit,
            before=before,
            filters=filters,
            count_cap=cap,
        )

    return await read(READ, Target(party_id=party_id), find, not_found=PARTY_NOT_FOUND)


@router.get(
    "/parties/{party_id}/events",
    tags=["live"],
    operation_id="streamPartyEvents",
    response_class=StreamingResponse,
    responses={**live.SSE_RESPONSE, **responses(400, 404)},
    summary="Live updates of a party's history (Server-Sent Events)",
)
async def party_events(
    request: Request, party_id: uuid.UUID, read: Audited, last_event_id: live.LastEventId
) -> StreamingResponse:
    shown = viewer(request, read.principal)

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[FeedItem]:
        # Members are looked up every time: a merge or undo during the stream counts.
        ids = await merges.members(s, await merges.resolve(s, party_id))
        return await feed(s, shown, after=after, limit=limit, party_ids=ids)

    async def find() -> StreamingResponse | None:
        start = await live.start_position(read.session, last_event_id)
        root = await merges.resolve(read.session, party_id)
        if not await merges.party_exists(read.session, root):
            return None
        return live.response(request, fetch, start)

    return await read(READ, Target(party_id=party_id), find, not_found=PARTY_NOT_FOUND)

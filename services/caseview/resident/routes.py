"""The resident's routes (``/v1/me``): their cases, one case, a document they sent, who looked
at their file, their contact preferences. Only a resident's token (identity.py) gets in; a
case that is not theirs answers exactly as one that does not exist (no enumeration)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.auth import Resident
from services.caseview.cases.attachments import Sha256, attachment_response
from services.caseview.commands.models import CommandAccepted
from services.caseview.resident import audit, changes, preferences, queries
from services.caseview.resident.identity import ResidentDep, my_parties
from services.caseview.resident.looked import looked
from services.caseview.resident.models import (
    LookedPage,
    MyCaseDetail,
    MyCases,
    MyPreferences,
    MyPreferencesRequest,
)
from services.caseview.timeline import live
from services.caseview.web import Cursor, SessionDep, invalid_cursor, responses, settings
from shared.http import ProblemError

router = APIRouter(prefix="/v1/me", tags=["mijn zaken"])
NOT_FOUND = ProblemError(404, "Zaak niet gevonden", "Deze zaak is er niet, of niet van u.")


async def _reading(request: Request, session: SessionDep, who: Resident) -> queries.Reading:
    return queries.Reading(
        resident=who,
        parties=await my_parties(session, who),
        settings=settings(request),
        team_names=request.app.state.team_names,
    )


@router.get(
    "/cases",
    operation_id="getMyCases",
    response_model=MyCases,
    responses=responses(),
    summary="My cases: product, status, due date, the owning team, last change",
)
async def get_my_cases(request: Request, session: SessionDep, who: ResidentDep) -> MyCases:
    reading = await _reading(request, session, who)
    items = await queries.my_cases(session, reading)
    await audit.log(request, session, who, reading.parties.roots, detail="mijn zaken")
    return MyCases(items=items)


@router.get(
    "/cases/{case_id}",
    operation_id="getMyCase",
    response_model=MyCaseDetail,
    responses=responses(404),
    summary="One of my cases: my messages, the replies, the documents I sent",
)
async def get_my_case(
    request: Request, case_id: uuid.UUID, session: SessionDep, who: ResidentDep
) -> MyCaseDetail:
    reading = await _reading(request, session, who)
    found = await queries.my_case(session, reading, case_id)
    if found is None:
        await audit.log(request, session, who, [], case_id=case_id)
        raise NOT_FOUND
    await audit.log(request, session, who, [found[1]], case_id=case_id)
    return found[0]


@router.get(
    "/cases/{case_id}/events",
    operation_id="streamMyCaseChanges",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream: an event `zaak-gewijzigd` each time something"
            " I may see changed on this case; `data` is only the case id (fetch the case"
            " again), `id` the resume point (send it back as Last-Event-ID).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **responses(400, 404),
    },
    summary="Live: that one of my cases changed (Server-Sent Events, no contents)",
)
async def my_case_changes(
    request: Request,
    case_id: uuid.UUID,
    session: SessionDep,
    who: ResidentDep,
    last_event_id: live.LastEventId,
) -> StreamingResponse:
    reading = await _reading(request, session, who)
    start = await live.start_position(session, last_event_id)
    party = await queries.my_case_party(session, reading, case_id)
    # Logged like every resident read (the stream says no more than that the case changed;
    # each refetch it causes is logged again).
    if party is None:
        await audit.log(request, session, who, [], case_id=case_id, detail="live")
        raise NOT_FOUND
    await audit.log(request, session, who, [party], case_id=case_id, detail="live")
    members = reading.parties.members

    async def fetch(s: AsyncSession, after: int, limit: int) -> list[changes.Change]:
        return await changes.changes(s, case_id, members, after=after, limit=limit)

    return live.response_of(request, fetch, start, changes.frame)


@router.get(
    "/cases/{case_id}/attachments/{sha256}",
    operation_id="getMyCaseAttachment",
    response_class=Response,
    responses={
        200: {"description": "The document's bytes", "content": {"*/*": {}}},
        **responses(404),
    },
    summary="A document I sent on this case",
)
async def get_my_attachment(
    request: Request, case_id: uuid.UUID, sha256: Sha256, session: SessionDep, who: ResidentDep
) -> Response:
    reading = await _reading(request, session, who)
    found = await queries.my_attachment(session, reading, case_id, sha256)
    if found is None:
        await audit.log(request, session, who, [], case_id=case_id, detail="attachment")
        raise NOT_FOUND
    party, doc = found
    await audit.log(request, session, who, [party], case_id=case_id, detail="attachment")
    return await attachment_response(request, sha256, doc.filename, doc.media_type)


@router.get(
    "/access-log",
    operation_id="getWhoLookedAtMyFile",
    response_model=LookedPage,
    responses=responses(400),
    summary="Who looked at my file: which team, when, why (never which person)",
)
async def get_who_looked(
    request: Request,
    session: SessionDep,
    who: ResidentDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Cursor = None,
) -> LookedPage:
    reading = await _reading(request, session, who)
    # Logged first, like the auditors' read: this read is in the list it returns.
    await audit.log(request, session, who, reading.parties.roots, detail="access log")
    try:
        return await looked(session, reading, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise invalid_cursor() from exc


@router.get(
    "/contact-preferences",
    operation_id="getMyContactPreferences",
    response_model=MyPreferences,
    responses=responses(),
    summary="My preferred reply channel and the channels I opted out of",
)
async def get_my_preferences(
    request: Request, session: SessionDep, who: ResidentDep
) -> MyPreferences:
    parties = await my_parties(session, who)
    found = await preferences.read(session, parties)
    await audit.log(request, session, who, parties.roots, detail="contact preferences")
    return found


@router.put(
    "/contact-preferences",
    operation_id="setMyContactPreferences",
    status_code=202,
    response_model=CommandAccepted,
    responses=responses(404, 409, 503),
    summary="Set my preferred reply channel and opt-outs (the whole set), as staff would",
)
async def put_my_preferences(
    request: Request,
    response: Response,
    body: MyPreferencesRequest,
    session: SessionDep,
    who: ResidentDep,
) -> CommandAccepted:
    parties = await my_parties(session, who)
    return await preferences.change(request, response, session, who, parties, body)

"""Caseview's HTTP API (``/v1``): the unified history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview import queries
from shared.http import PROBLEM_RESPONSES, Problem, ProblemError

router = APIRouter(prefix="/v1", tags=["history"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "content": {"application/problem+json": {}}}
}


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/parties/{party_id}/timeline",
    operation_id="getPartyTimeline",
    response_model=queries.TimelinePage,
    responses={**NOT_FOUND, 400: PROBLEM_RESPONSES[400], 422: PROBLEM_RESPONSES[422]},
    summary="A party's history across every channel and case, newest first",
)
async def party_timeline(
    party_id: uuid.UUID,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> queries.TimelinePage:
    before = None
    if cursor is not None:
        try:
            before = queries.decode_cursor(cursor)
        except ValueError as exc:
            raise ProblemError(
                400, "Invalid cursor", "Use 'next_cursor' from a previous page."
            ) from exc
    if not await queries.party_exists(session, party_id):
        raise ProblemError(404, "Party not found")
    return await queries.timeline(session, party_id, limit=limit, before=before)


@router.get(
    "/contacts/{message_id}",
    operation_id="locateContact",
    response_model=queries.ContactLocation,
    responses={**NOT_FOUND, 422: PROBLEM_RESPONSES[422]},
    summary="Where an accepted message landed: its party and case (404 until projected)",
)
async def locate_contact(message_id: uuid.UUID, session: SessionDep) -> queries.ContactLocation:
    found = await queries.locate_contact(session, message_id)
    if found is None:
        raise ProblemError(404, "Contact not found", "Not (yet) in the history.")
    return found

"""Where an accepted message landed in the histories (for front-office apps)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.caseview.access_log.audited import Audited, Need, NotFound, Target
from services.caseview.auth import READ_HISTORY
from services.caseview.timeline.models import ContactLocation
from services.caseview.timeline.queries import locate_contact as locate
from services.caseview.web import responses

router = APIRouter(prefix="/v1")


@router.get(
    "/contacts/{message_id}",
    tags=["parties"],
    operation_id="locateContact",
    response_model=ContactLocation,
    responses=responses(404),
    summary="Where an accepted message landed: its party and case (404 until projected)",
)
async def locate_contact(message_id: uuid.UUID, read: Audited) -> ContactLocation:
    # The target names no party until found: a miss is a 404 without a log entry.
    return await read(
        Need(READ_HISTORY),
        Target(),
        lambda: locate(read.session, message_id),
        not_found=NotFound("Contact not found", "Not (yet) in the history."),
        logged=lambda found: [Target(party_id=found.party_id, case_id=found.case_id)],
    )

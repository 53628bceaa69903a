"""The resident's live stream of one case: *that* something they may see changed, never what.

Each frame carries the case id and the SSE id (the timeline position, resumable with
Last-Event-ID); the page then refetches ``GET /v1/me/cases/{id}``, which applies every rule
of what a resident may see (and is access-logged). Only entries that change that answer
are signalled: internal notes, participants, link suggestions or rejected commands do not
even show up as a moment when something happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import timeline_entries
from shared.contracts import (
    CaseClassified,
    CaseClosed,
    CaseHandedOver,
    CaseOpened,
    CaseStatusChanged,
    MessageRouted,
)
from shared.contracts.outbound import ReplyRequested, ReplyStatusChanged

# The entry types that change what GET /v1/me/cases/{id} answers.
SHOWN_TYPES = (
    CaseOpened.TYPE,
    CaseClassified.TYPE,
    MessageRouted.TYPE,
    CaseHandedOver.TYPE,
    CaseStatusChanged.TYPE,
    CaseClosed.TYPE,
    ReplyRequested.TYPE,
    ReplyStatusChanged.TYPE,
)
EVENT = b"zaak-gewijzigd"


@dataclass(frozen=True)
class Change:
    position: int
    case_id: uuid.UUID


async def changes(
    session: AsyncSession,
    case_id: uuid.UUID,
    members: frozenset[uuid.UUID],
    *,
    after: int,
    limit: int,
) -> list[Change]:
    """The case's entries in the resident's own parties' history (``members``): another
    party's message or reply on the same case changes nothing the resident sees, so it is
    not even signalled as a moment."""
    t = timeline_entries
    rows = await session.execute(
        select(t.c.position)
        .where(
            t.c.case_id == case_id,
            t.c.position > after,
            t.c.type.in_(SHOWN_TYPES),
            t.c.party_id.in_(members),
        )
        .order_by(t.c.position)
        .limit(limit)
    )
    return [Change(int(position), case_id) for (position,) in rows]


def frame(change: Change) -> bytes:
    data = orjson.dumps({"case_id": str(change.case_id)})
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (change.position, EVENT, data)

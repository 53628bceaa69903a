"""Read queries behind the caseview API."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import parties, timeline_entries


class TimelineEntry(BaseModel):
    event_id: uuid.UUID
    type: str
    sequence: int
    occurred_at: datetime
    case_id: uuid.UUID | None
    message_id: uuid.UUID | None
    channel: str | None
    data: dict[str, Any]


class TimelinePage(BaseModel):
    party_id: uuid.UUID
    items: list[TimelineEntry]
    next_cursor: str | None


class ContactLocation(BaseModel):
    message_id: uuid.UUID
    party_id: uuid.UUID
    case_id: uuid.UUID | None
    event_id: uuid.UUID


def encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"s:{sequence}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    kind, _, value = raw.partition(":")
    if kind != "s" or not value.isdigit():
        raise ValueError("not a timeline cursor")
    return int(value)


async def party_exists(session: AsyncSession, party_id: uuid.UUID) -> bool:
    return await session.scalar(select(parties.c.id).where(parties.c.id == party_id)) is not None


async def timeline(
    session: AsyncSession, party_id: uuid.UUID, *, limit: int, before: int | None
) -> TimelinePage:
    """Newest first, keyset-paginated on the party's sequence."""
    t = timeline_entries
    query = select(t).where(t.c.party_id == party_id)
    if before is not None:
        query = query.where(t.c.sequence < before)
    rows = (await session.execute(query.order_by(t.c.sequence.desc()).limit(limit + 1))).all()
    items = [
        TimelineEntry(
            event_id=r.event_id,
            type=r.type,
            sequence=r.sequence,
            occurred_at=r.occurred_at,
            case_id=r.case_id,
            message_id=r.message_id,
            channel=r.channel,
            data=r.body,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return TimelinePage(
        party_id=party_id,
        items=items,
        next_cursor=encode_cursor(items[-1].sequence) if more else None,
    )


async def locate_contact(session: AsyncSession, message_id: uuid.UUID) -> ContactLocation | None:
    t = timeline_entries
    row = (
        await session.execute(
            select(t.c.message_id, t.c.party_id, t.c.case_id, t.c.event_id).where(
                t.c.message_id == message_id
            )
        )
    ).first()
    if row is None:
        return None
    return ContactLocation(
        message_id=row.message_id, party_id=row.party_id, case_id=row.case_id, event_id=row.event_id
    )

"""Suggested identity links with their evidence side by side, and a team's list of them to
decide (the suggestions from messages on cases the team owns or takes part in)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import (
    case_participants,
    cases,
    link_suggestions,
    parties,
    party_identifiers,
    timeline_entries,
)
from services.caseview.paging import decode, encode, utc
from services.caseview.parties.models import SuggestionOut, SuggestionPage

CURSOR_KIND = "suggestions"


async def with_evidence(
    session: AsyncSession, rows: Sequence[Any], *, outgoing: set[uuid.UUID] | None = None
) -> list[SuggestionOut]:
    """``rows`` of ``link_suggestions``; ``outgoing``: the parties of the dossier read (None:
    every suggestion is told from its claiming party's side)."""
    party_ids = {r.party_id for r in rows} | {r.suggested_party_id for r in rows}
    names = {
        p.id: p.display_name
        for p in await session.execute(
            select(parties.c.id, parties.c.display_name).where(parties.c.id.in_(party_ids))
        )
    }
    t, c = timeline_entries, cases
    message_ids = [r.message_id for r in rows if r.message_id is not None]
    messages = {
        m.message_id: m
        for m in await session.execute(
            select(t.c.message_id, t.c.channel, t.c.occurred_at, t.c.case_id, c.c.number)
            .outerjoin(c, c.c.id == t.c.case_id)
            .where(t.c.message_id.in_(message_ids))
        )
    }
    out = []
    for r in rows:
        pi = party_identifiers
        held = (
            await session.execute(
                select(pi.c.trust, pi.c.evidence).where(
                    pi.c.party_id == r.suggested_party_id,
                    pi.c.kind == r.identifier_kind,
                    pi.c.value == r.identifier_value,
                )
            )
        ).first()
        message = messages.get(r.message_id)
        out.append(
            SuggestionOut(
                suggestion_id=r.suggestion_id,
                direction="incoming"
                if outgoing is not None and r.party_id not in outgoing
                else "outgoing",
                party_id=r.party_id,
                suggested_party_id=r.suggested_party_id,
                identifier_kind=r.identifier_kind,
                identifier_trust=r.identifier_trust,
                message_id=r.message_id,
                suggested_at=r.suggested_at,
                identifier_value=r.identifier_value,
                party_name=names.get(r.party_id),
                suggested_party_name=names.get(r.suggested_party_id),
                held_trust=held.trust if held else None,
                held_evidence=held.evidence if held else None,
                message_channel=message.channel if message else None,
                message_at=message.occurred_at if message else None,
                case_id=message.case_id if message else None,
                case_number=message.number if message else None,
            )
        )
    return out


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, suggestion_id = decode(cursor, CURSOR_KIND)
    return utc(datetime.fromisoformat(at)), uuid.UUID(suggestion_id)


async def team_suggestions(
    session: AsyncSession, team: str, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> SuggestionPage:
    """Pending suggestions from messages on the team's cases (owned or taken part in, open or
    closed: a wrong link matters after closing too), oldest first."""
    s, t, c, p = link_suggestions, timeline_entries, cases, case_participants
    query = (
        select(s)
        .join(t, t.c.message_id == s.c.message_id)
        .join(c, c.c.id == t.c.case_id)
        .where(
            s.c.decision.is_(None),
            s.c.suggested_at.is_not(None),
            or_(
                c.c.owner_team == team,
                exists().where(and_(p.c.case_id == c.c.id, p.c.team == team)),
            ),
        )
    )
    if after is not None:
        query = query.where(
            tuple_(s.c.suggested_at, s.c.suggestion_id)
            > tuple_(
                literal(after[0], s.c.suggested_at.type),
                literal(after[1], s.c.suggestion_id.type),
            )
        )
    rows = (
        await session.execute(query.order_by(s.c.suggested_at, s.c.suggestion_id).limit(limit + 1))
    ).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode(CURSOR_KIND, [last.suggested_at.isoformat(), str(last.suggestion_id)])
    return SuggestionPage(items=await with_evidence(session, page), next_cursor=next_cursor)

"""Merged parties, resolved at read time: ``merged_into`` pointers are followed here, so a
read of a merged party shows the surviving party's whole history (and an undo splits it)."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from services.caseview.orm import link_suggestions, parties, party_merges

MAX_MERGE_DEPTH = 16


def active_merge() -> ColumnElement[bool]:
    m = party_merges
    return and_(m.c.merged_at.is_not(None), m.c.unmerged_at.is_(None))


async def party_exists(session: AsyncSession, party_id: uuid.UUID) -> bool:
    return await session.scalar(select(parties.c.id).where(parties.c.id == party_id)) is not None


async def resolve(session: AsyncSession, party_id: uuid.UUID) -> uuid.UUID:
    """Follow active merges to the surviving party (the latest merge wins if several)."""
    m = party_merges
    seen = {party_id}
    current = party_id
    for _ in range(MAX_MERGE_DEPTH):
        target = await session.scalar(
            select(m.c.party_id)
            .where(m.c.merged_party_id == current, active_merge())
            .order_by(m.c.merged_at.desc(), m.c.merge_id.desc())
            .limit(1)
        )
        if target is None or target in seen:
            break
        seen.add(target)
        current = target
    return current


async def locate(
    session: AsyncSession, requested: uuid.UUID
) -> tuple[uuid.UUID, list[uuid.UUID]] | None:
    """The party a read of ``requested`` shows (``resolve``) and the parties whose history it
    holds (``members``); ``None`` if there is no such party.

    Most parties were never merged: one query tells, instead of three round trips."""
    m = party_merges
    row = (
        await session.execute(
            select(
                exists().where(m.c.merged_party_id == parties.c.id, active_merge()),
                exists().where(m.c.party_id == parties.c.id, active_merge()),
            ).where(parties.c.id == requested)
        )
    ).first()
    if row is not None and not row[0] and not row[1]:
        return requested, [requested]
    root = await resolve(session, requested)
    if not await party_exists(session, root):
        return None
    return root, await members(session, root)


async def members(session: AsyncSession, root: uuid.UUID) -> list[uuid.UUID]:
    """The root and every party merged into it (transitively), while merged."""
    m = party_merges
    found = [root]
    frontier = [root]
    for _ in range(MAX_MERGE_DEPTH):
        if not frontier:
            break
        rows = await session.scalars(
            select(m.c.merged_party_id).where(m.c.party_id.in_(frontier), active_merge())
        )
        frontier = [p for p in rows.all() if p not in found]
        # A party merged into two survivors belongs to the one resolve() picks.
        frontier = [p for p in frontier if await resolve(session, p) == root]
        found.extend(frontier)
    return sorted(found, key=lambda p: (p != root, p))


async def suggestion_party(session: AsyncSession, suggestion_id: uuid.UUID) -> uuid.UUID | None:
    s = link_suggestions
    return await session.scalar(select(s.c.party_id).where(s.c.suggestion_id == suggestion_id))


async def merge_party(session: AsyncSession, merge_id: uuid.UUID) -> uuid.UUID | None:
    m = party_merges
    return await session.scalar(
        select(m.c.party_id).where(m.c.merge_id == merge_id, m.c.merged_at.is_not(None))
    )

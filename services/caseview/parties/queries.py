"""Reading parties: the party view (identifiers, suggested links, merges, cases) and search."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case as sa_case
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.cases.queries import case_summaries
from services.caseview.normalize import fold, identifier, like_prefix, postcode_house
from services.caseview.orm import (
    cases,
    link_suggestions,
    parties,
    party_identifiers,
    party_merges,
    party_name_keys,
)
from services.caseview.parties import details, preferences, suggestions
from services.caseview.parties.merges import members, resolve
from services.caseview.parties.models import (
    FoldedCase,
    IdentifierOut,
    MergeOut,
    PartyHit,
    PartyHits,
    PartyView,
    SearchKind,
)
from services.caseview.viewer import Viewer
from shared.contracts import IdentifierKind
from shared.contracts.outbound import identifier_id


async def party_view(
    session: AsyncSession, viewer: Viewer, requested: uuid.UUID, *, now: datetime
) -> PartyView | None:
    root = await resolve(session, requested)
    row = (await session.execute(select(parties).where(parties.c.id == root))).first()
    if row is None:
        return None
    ids = await members(session, root)
    pi = party_identifiers
    identifiers = [
        IdentifierOut(
            identifier_id=identifier_id(r.party_id, r.kind, r.value),
            kind=r.kind,
            value=r.value,
            trust=r.trust,
            evidence=r.evidence,
            party_id=r.party_id,
        )
        for r in await session.execute(
            select(pi).where(pi.c.party_id.in_(ids)).order_by(pi.c.kind, pi.c.value, pi.c.party_id)
        )
    ]
    s = link_suggestions
    pending = await session.execute(
        select(s)
        .where(
            or_(s.c.party_id.in_(ids), s.c.suggested_party_id.in_(ids)),
            s.c.decision.is_(None),
            s.c.suggested_at.is_not(None),
        )
        .order_by(s.c.suggested_at, s.c.suggestion_id)
    )
    suggested = await suggestions.with_evidence(session, pending.all(), outgoing=set(ids))
    m = party_merges
    merges = [
        MergeOut(
            merge_id=r.merge_id,
            party_id=r.party_id,
            merged_party_id=r.merged_party_id,
            active=r.merged_at is not None and r.unmerged_at is None,
            merged_at=r.merged_at,
            merged_by=r.merged_by,
            merge_reason=r.merge_reason,
            unmerged_at=r.unmerged_at,
            unmerged_by=r.unmerged_by,
            unmerge_reason=r.unmerge_reason,
        )
        for r in await session.execute(
            select(m)
            .where(or_(m.c.party_id.in_(ids), m.c.merged_party_id.in_(ids)))
            .order_by(m.c.merged_at, m.c.merge_id)
        )
    ]
    summaries = await case_summaries(
        session,
        viewer,
        select(cases)
        .where(cases.c.party_id.in_(ids), cases.c.merged_into.is_(None))
        .order_by(cases.c.opened_at.desc()),
        now=now,
    )
    folded = [
        FoldedCase(id=r.id, number=r.number, party_id=r.party_id, merged_into=r.merged_into)
        for r in await session.execute(
            select(cases.c.id, cases.c.number, cases.c.party_id, cases.c.merged_into)
            .where(cases.c.party_id.in_(ids), cases.c.merged_into.is_not(None))
            .order_by(cases.c.opened_at)
        )
    ]
    return PartyView(
        id=requested,
        party_id=root,
        merged_into=root if root != requested else None,
        members=ids,
        provisional=row.provisional,
        display_name=row.display_name,
        created_at=row.created_at,
        identifiers=identifiers,
        suggested_links=suggested,
        merges=merges,
        open_cases=[c for c in summaries if c.closed_at is None],
        closed_cases=[c for c in summaries if c.closed_at is not None],
        folded_cases=folded,
        contact_preferences=await preferences.read(session, root),
    )


async def find_parties(
    session: AsyncSession, kind: SearchKind, value: str, *, limit: int
) -> PartyHits:
    value = value.strip()
    matched: list[uuid.UUID]
    rungs: dict[uuid.UUID, tuple[str, str | None]] = {}  # identifier searches: who holds it how
    if kind == "case_number":
        matched = list(
            (
                await session.scalars(
                    select(cases.c.party_id).where(cases.c.number == value.upper()).limit(limit + 1)
                )
            ).all()
        )
    elif kind == "postcode":
        wanted = postcode_house(value)
        if wanted is None:
            return PartyHits(items=[], truncated=False)
        matched = await details.holders_of_address(session, *wanted, limit=limit)
    elif kind == "name":
        prefix = fold(value)
        if not prefix:
            return PartyHits(items=[], truncated=False)
        k = party_name_keys
        matched = list(
            (
                await session.scalars(
                    select(k.c.party_id)
                    .where(k.c.key.like(like_prefix(prefix), escape="\\"))
                    .distinct()
                    .limit(limit + 1)
                )
            ).all()
        )
    else:
        id_kind = IdentifierKind(kind)
        pi = party_identifiers
        rank = sa_case((pi.c.trust == "authenticated", 0), (pi.c.trust == "verified", 1), else_=2)
        held = (
            await session.execute(
                select(pi.c.party_id, pi.c.trust, pi.c.evidence)
                .where(pi.c.kind == id_kind.value, pi.c.value == identifier(id_kind, value))
                .order_by(rank, pi.c.party_id)
                .limit(limit + 1)
            )
        ).all()
        matched = [r.party_id for r in held]
        rungs = {r.party_id: (r.trust, r.evidence) for r in held}
    truncated = len(matched) > limit
    hits: dict[uuid.UUID, PartyHit] = {}
    for party_id in matched[:limit]:
        root = await resolve(session, party_id)
        if root in hits:
            continue
        row = (
            await session.execute(
                select(parties.c.display_name, parties.c.provisional).where(parties.c.id == root)
            )
        ).first()
        if row is None:
            continue
        trust, evidence = rungs.get(party_id, (None, None))
        about = await details.details(session, root)
        hits[root] = PartyHit(
            party_id=root,
            matched_party_id=party_id,
            display_name=row.display_name,
            provisional=row.provisional,
            trust=trust,
            evidence=evidence,
            identity_trust=about.identity_trust,
            bsn_masked=about.bsn_masked,
            last_contact_at=about.last_contact_at,
            open_cases=about.open_cases,
            postcode=about.postcode,
            house_number=about.house_number,
        )
    # Who holds the identifier by evidence comes first; who merely claimed it never ahead.
    order = {"authenticated": 0, "verified": 1}
    return PartyHits(
        items=sorted(
            hits.values(),
            key=lambda h: (order.get(h.trust or "", 2), h.display_name or "", str(h.party_id)),
        ),
        truncated=truncated,
    )

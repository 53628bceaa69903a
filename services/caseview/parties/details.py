"""What tells two parties with the same name apart in search: rung, masked BSN, last contact,
open cases, postcode + house number; and the one read that shows a BSN whole."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.normalize import address_key
from services.caseview.orm import cases, party_identifiers, timeline_entries
from services.caseview.parties.merges import members
from services.caseview.parties.models import BsnOut
from shared.contracts import IdentifierKind

RUNGS = {"authenticated": 0, "verified": 1, "claimed": 2}
ADDRESS_SCAN = 500  # postal addresses read per postcode search (filtered by number here)


@dataclass(frozen=True)
class Details:
    identity_trust: str | None
    bsn_masked: str | None
    last_contact_at: datetime | None
    open_cases: int
    postcode: str | None
    house_number: str | None


def mask(bsn: str) -> str:
    return "*" * max(len(bsn) - 3, 0) + bsn[-3:]


def _rank(trust: str) -> int:
    return RUNGS.get(trust, 3)


async def details(session: AsyncSession, root: uuid.UUID) -> Details:
    ids = await members(session, root)
    pi = party_identifiers
    held = (
        await session.execute(
            select(pi.c.kind, pi.c.value, pi.c.trust).where(pi.c.party_id.in_(ids))
        )
    ).all()
    best = min(held, key=lambda r: _rank(r.trust), default=None)
    bsns = sorted((r for r in held if r.kind == IdentifierKind.BSN), key=lambda r: _rank(r.trust))
    addresses = [
        (_rank(r.trust), key)
        for r in held
        if r.kind == IdentifierKind.POSTAL_ADDRESS and (key := address_key(r.value)) is not None
    ]
    address = min(addresses, default=None)
    t = timeline_entries
    last = await session.scalar(select(func.max(t.c.occurred_at)).where(t.c.party_id.in_(ids)))
    c = cases
    open_count = await session.scalar(
        select(func.count())
        .select_from(c)
        .where(c.c.party_id.in_(ids), c.c.is_open.is_(True), c.c.merged_into.is_(None))
    )
    return Details(
        identity_trust=best.trust if best is not None else None,
        bsn_masked=mask(bsns[0].value) if bsns else None,
        last_contact_at=last,
        open_cases=open_count or 0,
        postcode=address[1][0] if address else None,
        house_number=address[1][1] if address else None,
    )


async def holders_of_address(
    session: AsyncSession, postcode: str, house_number: str, *, limit: int
) -> list[uuid.UUID]:
    """Parties holding a postal address with this postcode and house number; the postcode's
    digits narrow the read, the written address is parsed here (addresses are free text)."""
    pi = party_identifiers
    rows = await session.execute(
        select(pi.c.party_id, pi.c.value)
        .where(
            pi.c.kind == IdentifierKind.POSTAL_ADDRESS.value,
            pi.c.value.like(f"%{postcode[:4]}%"),
        )
        .order_by(pi.c.party_id)
        .limit(ADDRESS_SCAN)
    )
    found: list[uuid.UUID] = []
    for r in rows:
        if address_key(r.value) == (postcode, house_number) and r.party_id not in found:
            found.append(r.party_id)
    return found[: limit + 1]


async def bsn(session: AsyncSession, root: uuid.UUID) -> BsnOut | None:
    """The party's BSN at its strongest rung (a merged party may hold more than one)."""
    pi = party_identifiers
    rows = (
        await session.execute(
            select(pi.c.value, pi.c.trust, pi.c.evidence).where(
                pi.c.party_id.in_(await members(session, root)),
                pi.c.kind == IdentifierKind.BSN.value,
            )
        )
    ).all()
    if not rows:
        return None
    best = min(rows, key=lambda r: (_rank(r.trust), r.value))
    return BsnOut(party_id=root, bsn=best.value, trust=best.trust, evidence=best.evidence)

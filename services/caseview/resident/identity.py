"""Who the resident is (their token) and which parties are theirs.

A resident's parties are those holding the token's BSN (or KvK number) at the
**authenticated** rung only: a number merely *claimed* by some sender gives nothing. From
there, merges are followed as staff decided them: the surviving party and every party merged
into it (parties/merges.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.auth import InvalidTokenError, NotAResidentError, Resident, resident
from services.caseview.orm import party_identifiers
from services.caseview.parties import merges
from services.caseview.web import CHALLENGE, INVALID_TOKEN, bearer, settings
from shared.contracts.inbound import Trust
from shared.http import ProblemError


async def get_resident(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Resident:
    if credentials is None:
        raise ProblemError(401, "Authentication required", "Log in.", headers=CHALLENGE)
    try:
        claims = await request.app.state.tokens.verified_claims(credentials.credentials)
    except InvalidTokenError as exc:
        raise ProblemError(
            401, "Invalid token", "The token is not valid here.", headers=INVALID_TOKEN
        ) from exc
    try:
        return resident(claims, settings(request).resident_clients)
    except NotAResidentError as exc:
        raise ProblemError(
            403,
            "Not a resident's token",
            "Mijn zaken is voor inwoners en ondernemers die met DigiD of eHerkenning inloggen.",
        ) from exc


ResidentDep = Annotated[Resident, Depends(get_resident)]


@dataclass(frozen=True)
class MyParties:
    roots: tuple[uuid.UUID, ...]  # the parties as staff see them (after merges)
    members: frozenset[uuid.UUID]  # the roots and every party merged into them

    @property
    def empty(self) -> bool:
        return not self.roots


async def my_parties(session: AsyncSession, who: Resident) -> MyParties:
    i = party_identifiers
    holders = await session.scalars(
        select(i.c.party_id).where(
            i.c.kind == who.kind, i.c.value == who.number, i.c.trust == Trust.AUTHENTICATED
        )
    )
    roots: set[uuid.UUID] = set()
    for party in holders.all():
        root = await merges.resolve(session, party)
        if await merges.party_exists(session, root):
            roots.add(root)
    members: set[uuid.UUID] = set()
    for root in roots:
        members.update(await merges.members(session, root))
    return MyParties(tuple(sorted(roots)), frozenset(members))

"""Need-to-know (design §9): who is looking (``Viewer``) and what decides whether they see a
case's contents (``CaseAccess``). Every query that returns case data takes the viewer and
applies this on the rows, so no route can forget it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.normalize import is_confidential_product
from services.caseview.orm import case_participants, cases


@dataclass(frozen=True)
class Viewer:
    """The caller's teams and the configured confidential products: what need-to-know needs."""

    teams: frozenset[str]
    confidential_terms: tuple[str, ...] = ()

    def is_confidential(self, confidential: bool, product: str | None) -> bool:
        return confidential or is_confidential_product(product, self.confidential_terms)

    def sees(self, case: CaseAccess) -> bool:
        if not self.is_confidential(case.confidential, case.product):
            return True
        return bool(self.teams & ({case.owner_team} | case.participants))


@dataclass(frozen=True)
class CaseAccess:
    id: uuid.UUID
    number: str
    product: str | None
    confidential: bool
    owner_team: str
    participants: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of_case(cls, row: Row[Any], participants: Iterable[str]) -> CaseAccess:
        """From a row of ``cases`` and its participating teams."""
        return cls(
            id=row.id,
            number=row.number,
            product=row.product,
            confidential=row.confidential,
            owner_team=row.owner_team,
            participants=frozenset(participants),
        )

    @classmethod
    def of_joined(cls, row: Row[Any], case_id: uuid.UUID) -> CaseAccess:
        """From the columns ``access_columns`` added to a query."""
        teams: str | None = row.access_teams
        return cls(
            id=case_id,
            number=row.access_number,
            product=row.access_product,
            confidential=row.access_confidential,
            owner_team=row.access_owner_team,
            participants=frozenset(teams.split(",") if teams else ()),
        )


def access_columns() -> list[Any]:
    """The ``CaseAccess`` of a joined ``cases`` row, under names of their own."""
    p = case_participants
    # The participating teams in the same round trip (team names hold no comma).
    teams = (
        select(func.aggregate_strings(p.c.team, ","))
        .where(p.c.case_id == cases.c.id)
        .scalar_subquery()
    )
    return [
        cases.c.number.label("access_number"),
        cases.c.product.label("access_product"),
        cases.c.confidential.label("access_confidential"),
        cases.c.owner_team.label("access_owner_team"),
        teams.label("access_teams"),
    ]


async def case_access(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CaseAccess]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (
        await session.execute(select(cases.c.id, *access_columns()).where(cases.c.id.in_(wanted)))
    ).all()
    return {r.id: CaseAccess.of_joined(r, r.id) for r in rows}


async def participants(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Each case's participating teams, sorted."""
    p = case_participants
    rows = await session.execute(
        select(p.c.case_id, p.c.team).where(p.c.case_id.in_(ids)).order_by(p.c.team)
    )
    out: dict[uuid.UUID, list[str]] = {}
    for r in rows:
        out.setdefault(r.case_id, []).append(r.team)
    return out

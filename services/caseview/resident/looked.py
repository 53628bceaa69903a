"""Who looked at my file: the access-log entries about the resident's parties and cases, by
team (never by person), when and why (AVG art. 15, the right of access made visible).

Only reads that showed data (``ok``) are listed. The resident's own reads are marked
(``own_read``). Below the level of assurance confidential cases need, an entry about such a
case, or by a team that owns or takes part in one of them, keeps only its time: which team of
the social domain looked is itself confidential.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.queries import decode_access_cursor
from services.caseview.auth import RESIDENT_ROLE, Role
from services.caseview.orm import access_log, case_participants, cases
from services.caseview.paging import encode
from services.caseview.resident.models import HIGHER_LOA_NOTICE, LookedEntry, LookedPage
from services.caseview.resident.queries import Reading


@dataclass(frozen=True)
class _MyCases:
    numbers: dict[uuid.UUID, str]
    confidential: frozenset[uuid.UUID]  # locked for this login
    social_teams: frozenset[str]  # owners and participants of those


async def _my_cases(session: AsyncSession, reading: Reading) -> _MyCases:
    rows = (
        await session.execute(select(cases).where(cases.c.party_id.in_(reading.parties.members)))
    ).all()
    locked = [r.id for r in rows if reading.locked(r)]
    teams = {r.owner_team for r in rows if r.id in locked}
    if locked:
        p = case_participants
        teams.update(await session.scalars(select(p.c.team).where(p.c.case_id.in_(locked))))
    return _MyCases({r.id: r.number for r in rows}, frozenset(locked), frozenset(teams))


def _what(row: Row[Any]) -> str:
    endpoint, detail = row.endpoint, row.detail or ""
    if "attachment" in detail:
        return "bijlage"
    if detail.startswith("search"):
        return "zoekresultaat"
    if "/access-log" in endpoint:
        return "verwerkingenlog"
    if "/timeline" in endpoint or "/events" in endpoint:
        return "geschiedenis"
    if row.case_id is not None:
        return "zaak"
    return "gegevens"


def _reader(roles: set[str]) -> str:
    if RESIDENT_ROLE in roles:
        return "uzelf"
    if Role.INTEGRATION in roles:
        return "koppeling"
    if Role.AUDITOR in roles:
        return "toezicht"
    return "team"


async def looked(
    session: AsyncSession, reading: Reading, *, limit: int, cursor: str | None
) -> LookedPage:
    """Newest first. Raises ValueError for a cursor that is not this list's."""
    if reading.parties.empty:
        return LookedPage(items=[], next_cursor=None)
    mine = await _my_cases(session, reading)
    a = access_log
    query = select(a).where(
        a.c.outcome == "ok",
        or_(a.c.party_id.in_(reading.parties.members), a.c.case_id.in_(list(mine.numbers))),
    )
    if cursor is not None:
        query = query.where(a.c.id < decode_access_cursor(cursor))
    rows = (await session.execute(query.order_by(a.c.id.desc()).limit(limit + 1))).all()
    items = [_entry(r, reading, mine) for r in rows[:limit]]
    more = len(rows) > limit
    return LookedPage(
        items=items, next_cursor=encode("a", [int(rows[limit - 1].id)]) if more else None
    )


def _entry(row: Row[Any], reading: Reading, mine: _MyCases) -> LookedEntry:
    roles = {x for x in row.roles.split(",") if x}
    teams = sorted(x for x in row.teams.split(",") if x)
    reader = _reader(roles)
    hidden = row.case_id in mine.confidential or bool(mine.social_teams & set(teams))
    if hidden and reader != "uzelf":
        return LookedEntry(
            at=row.at,
            teams=[],
            reader=reader,
            purpose=HIGHER_LOA_NOTICE,
            what="gegevens",
            case_number=None,
            own_read=False,
        )
    return LookedEntry(
        at=row.at,
        teams=[reading.team_names.get(t, t) for t in teams],
        reader=reader,
        purpose=row.purpose,
        what=_what(row),
        case_number=mine.numbers.get(row.case_id) if row.case_id else None,
        own_read=reader == "uzelf",
    )

"""The facade's actoren: the routing file's teams (organisatorische eenheden: no personal data,
any integration reads them, nothing logged) and the staff caseview's read models name
(medewerkers: the user ids of who handed over, replied, noted, merged, decided a link, ...).
Eenloket keeps no staff register, so a medewerker is its user id and nothing more; user ids
are personal data of employees: only integrations whose roles may read histories see them,
and each read that may show them is access-logged. Ids: mapping.medewerker_uuid, found back by
comparing against the user ids held (``staff_users``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Select, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.audited import NotFound, Target
from services.caseview.klantinteracties import mapping
from services.caseview.klantinteracties.auth import IntegrationRead
from services.caseview.klantinteracties.routes import READ, Page, PageSize, Text, text_query, urls
from services.caseview.orm import link_suggestions, party_merges, timeline_entries

# Without a prefix: related.py includes it under the facade's.
router = APIRouter(include_in_schema=False)
STAFF = Target(detail="klantinteracties medewerkers")  # no user id: the log names none
TEAM = ("organisatorische_eenheid", "organisatorische_eenheid", "team")
MEDEWERKER = ("medewerker", "mdw", "gebruikersnaam")


async def staff_users(session: AsyncSession) -> list[str]:
    """Every user id caseview's read models hold as the one who did something: the ``by`` of
    the history's staff events (replies, notes, registered contacts, handovers, status
    changes, ...), and who decided a link or merged parties. Sorted."""
    t, s, m = timeline_entries, link_suggestions, party_merges
    by = t.c.body[("by", "user")].as_string()
    held: list[Select[Any]] = [
        select(by.label("user")).where(by.is_not(None)),
        select(s.c.decided_by.label("user")).where(s.c.decided_by.is_not(None)),
        select(m.c.merged_by.label("user")).where(m.c.merged_by.is_not(None)),
        select(m.c.unmerged_by.label("user")).where(m.c.unmerged_by.is_not(None)),
    ]
    users = (await session.scalars(union(*held))).all()
    return sorted({u for u in users if u})


async def user_of(session: AsyncSession, actor: uuid.UUID) -> str | None:
    """The user id a medewerker's uuid was made from, if caseview holds it."""
    users = await staff_users(session)
    return next((u for u in users if mapping.medewerker_uuid(u) == actor), None)


def _teams(request: Request) -> dict[str, str]:
    teams: dict[str, str] = request.app.state.team_names
    return teams


def team_of(request: Request, actor: uuid.UUID) -> str | None:
    return next((t for t in _teams(request) if mapping.actor_uuid(t) == actor), None)


@router.get("/actoren")
async def actoren(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    naam: Text = None,
    soort: Annotated[str | None, text_query("soortActor")] = None,
    actief: Annotated[bool | None, Query(alias="indicatieActief")] = None,
    objecttype: Annotated[str | None, text_query("actoridentificatorCodeObjecttype")] = None,
    register: Annotated[str | None, text_query("actoridentificatorCodeRegister")] = None,
    soort_id: Annotated[str | None, text_query("actoridentificatorCodeSoortObjectId")] = None,
    object_id: Annotated[str | None, text_query("actoridentificatorObjectId")] = None,
) -> dict[str, Any]:
    """Teams, then (for an integration that may read histories) medewerkers, each by name."""
    u = urls(request)

    def wanted(kind: tuple[str, str, str]) -> bool:
        return (
            soort in (None, kind[0])
            and objecttype in (None, kind[1])
            and soort_id in (None, kind[2])
            and register in (None, "eenloket")
            and actief in (None, True)
        )

    found = (
        [
            mapping.actor(u, team, name)
            for team, name in sorted(_teams(request).items())
            if naam in (None, name) and object_id in (None, team)
        ]
        if wanted(TEAM)
        else []
    )
    if wanted(MEDEWERKER) and READ.allows(read.principal, STAFF):

        async def staff() -> list[str]:
            users = await staff_users(read.session)
            return [s for s in users if naam in (None, s) and object_id in (None, s)]

        found += [mapping.medewerker(u, s) for s in await read(READ, STAFF, staff)]
    start = (page - 1) * page_size
    nxt, prev = mapping.page_links(str(request.url), page, page_size, len(found))
    return {
        "count": len(found),
        "next": nxt,
        "previous": prev,
        "results": found[start : start + page_size],
    }


@router.get("/actoren/{uuid}")
async def actor(request: Request, uuid: uuid.UUID, read: IntegrationRead) -> dict[str, Any]:
    team = team_of(request, uuid)
    if team is not None:
        return mapping.actor(urls(request), team, _teams(request)[team])

    async def find() -> str | None:
        return await user_of(read.session, uuid)

    user = await read(
        READ, STAFF, find, not_found=NotFound("Niet gevonden", "Deze actor bestaat niet.")
    )
    return mapping.medewerker(urls(request), user)

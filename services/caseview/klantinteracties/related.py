"""The facade's reads of what hangs off partijen and klantcontacten: partij-identificatoren and
digitaleadressen (a party's identifiers), actorklantcontacten (the team a contact was routed
to, or the medewerker who sent it; the actoren themselves: staff.py), bijlagen
(a contact's attachments) and internetaken (a case as its owning team's open work). Read-only,
through the same audited read as routes.py; ids and their reversal in mapping.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.caseview.access_log.audited import Target
from services.caseview.klantinteracties import mapping, queries, staff
from services.caseview.klantinteracties.auth import IntegrationRead
from services.caseview.klantinteracties.mapping import ContactRow, Identifier, TaskRow, Urls
from services.caseview.klantinteracties.queries import ContactFilter, TaskFilter
from services.caseview.klantinteracties.routes import (
    PREFIX,
    READ,
    Expand,
    Page,
    PageSize,
    Text,
    _contact_page,
    _of_party,
    _one_contact,
    _page,
    not_found,
    text_query,
    urls,
)
from services.caseview.klantinteracties.staff import team_of
from services.caseview.web import viewer

router = APIRouter(prefix=PREFIX, include_in_schema=False)
router.include_router(staff.router)  # the actoren (bootstrap includes this router only)
Uuid = uuid.UUID
Found = tuple[int, list[Any]]
ALL = 1_000_000  # "every row" for lists paged in Python (actoren, bijlagen)


def _target(detail: str = "klantinteracties") -> Target:
    return Target(detail=detail)


def _party_of(row: tuple[Uuid, Identifier]) -> Uuid:
    return row[0]


# --- partij-identificatoren and digitaleadressen: a party's identifiers ----------------------


def _identificator_kinds(
    objecttype: str | None, register: str | None, soort: str | None
) -> list[str]:
    return [
        kind
        for kind, (o, s, r) in mapping.IDENTIFICATOREN.items()
        if objecttype in (None, o) and soort in (None, s) and register in (None, r)
    ]


@router.get("/partij-identificatoren")
async def partij_identificatoren(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    objecttype: Annotated[str | None, text_query("partijIdentificatorCodeObjecttype")] = None,
    register: Annotated[str | None, text_query("partijIdentificatorCodeRegister")] = None,
    soort: Annotated[str | None, text_query("partijIdentificatorCodeSoortObjectId")] = None,
    object_id: Annotated[str | None, text_query("partijIdentificatorObjectId")] = None,
    andere: Annotated[str | None, text_query("anderePartijIdentificator")] = None,
) -> dict[str, Any]:
    kinds = [] if andere else _identificator_kinds(objecttype, register, soort)
    # The searched value is never logged, as for partijen.
    target = _target(f"klantinteracties search by {soort or 'identificator'}")
    return await _identifier_page(
        request, read, mapping.partij_identificator, target, page, page_size, kinds, value=object_id
    )


async def _identifier_page(
    request: Request,
    read: IntegrationRead,
    render: Callable[[Urls, Uuid, Identifier], dict[str, Any]],
    target: Target,
    page: int,
    page_size: int,
    kinds: list[str],
    **filters: Any,
) -> dict[str, Any]:
    """A page of parties' identifiers (``filters``: queries.identifier_rows')."""
    u, offset = urls(request), (page - 1) * page_size

    async def find() -> Found:
        return await queries.identifier_rows(
            read.session, kinds, offset=offset, limit=page_size, **filters
        )

    def shown(r: tuple[Uuid, Identifier]) -> dict[str, Any]:
        return render(u, *r)

    return await _page(
        request, read, find, _party_of, shown, page=page, page_size=page_size, target=target
    )


async def _identifier(
    request: Request,
    read: IntegrationRead,
    id_: Uuid,
    kinds: list[str],
    id_of: Callable[[Uuid, str, str], Uuid],
    render: Callable[[Urls, Uuid, Identifier], dict[str, Any]],
    what: str,
) -> dict[str, Any]:
    """One of a party's identifiers by its ``prefixed`` id: the party by the id's prefix, the
    identifier among that party's few."""

    async def find() -> tuple[Uuid, Identifier] | None:
        _, rows = await queries.identifier_rows(read.session, kinds, prefix=id_, limit=ALL)
        return next((r for r in rows if id_of(r[0], r[1].kind, r[1].value) == id_), None)

    party, ident = await read(
        READ,
        _target(),
        find,
        not_found=not_found(what),
        logged=lambda r: [Target(party_id=r[0], detail="klantinteracties")],
    )
    return render(urls(request), party, ident)


@router.get("/partij-identificatoren/{uuid}")
async def partij_identificator(
    request: Request, uuid: Uuid, read: IntegrationRead
) -> dict[str, Any]:
    return await _identifier(
        request,
        read,
        uuid,
        list(mapping.IDENTIFICATOREN),
        mapping.identificator_uuid,
        mapping.partij_identificator,
        "Deze partij-identificator",
    )


@router.get("/digitaleadressen")
async def digitaleadressen(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    adres: Text = None,
    contains: Annotated[str | None, text_query("adres__icontains")] = None,
    soort: Annotated[str | None, text_query("soortDigitaalAdres")] = None,
    standaard: Annotated[bool | None, Query(alias="isStandaardAdres")] = None,
    party: Annotated[Uuid | None, Query(alias="verstrektDoorPartij__uuid")] = None,
    expand: Expand = None,  # verstrektDoorBetrokkene: nothing Eenloket holds
) -> dict[str, Any]:
    # No address is anyone's standard address: Eenloket keeps no preference per kind here.
    kinds = [] if standaard else [k for k, s in mapping.ADRESSEN.items() if soort in (None, s)]
    members = (await _of_party(read, ContactFilter(), party)).party_ids
    return await _identifier_page(
        request,
        read,
        mapping.digitaal_adres,
        Target(party_id=party, detail="klantinteracties search by adres"),
        page,
        page_size,
        kinds,
        party_ids=members,
        value=adres,
        contains=contains,
    )


@router.get("/digitaleadressen/{uuid}")
async def digitaal_adres(
    request: Request,
    uuid: Uuid,
    read: IntegrationRead,
    expand: Expand = None,
) -> dict[str, Any]:
    return await _identifier(
        request,
        read,
        uuid,
        list(mapping.ADRESSEN),
        mapping.digitaal_adres_uuid,
        mapping.digitaal_adres,
        "Dit digitaal adres",
    )


# --- actorklantcontacten and bijlagen: per klantcontact ---------------------------------------


@router.get("/actorklantcontacten")
async def actorklantcontacten(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    actor: Annotated[Uuid | None, Query(alias="actor__uuid")] = None,
    contact: Annotated[Uuid | None, Query(alias="klantcontact__uuid")] = None,
) -> dict[str, Any]:
    team = team_of(request, actor) if actor is not None else None
    user = await staff.user_of(read.session, actor) if actor and not team else None
    filters = ContactFilter(
        owner_team=team, staff=user, nothing=bool(actor and not team and not user)
    )
    filters = await queries.of_contact(read.session, contact, filters)
    return await _contact_page(
        request, read, filters, page, page_size, None, render=mapping.actorklantcontact
    )


@router.get("/actorklantcontacten/{uuid}")
async def actorklantcontact(request: Request, uuid: Uuid, read: IntegrationRead) -> dict[str, Any]:
    message_id = mapping.masked(uuid, mapping.ACTOR_KLANTCONTACT_MASK)
    return await _one_contact(
        request, read, message_id, "Dit actorklantcontact", mapping.actorklantcontact
    )


def _attachments(contacts: list[ContactRow], sha256: str | None) -> list[tuple[ContactRow, str]]:
    """Each attachment of the contacts the viewer may see (their contents, attachments too)."""
    return [
        (c, sha)
        for c in contacts
        if c.visible
        for sha in mapping.attachments(c)
        if sha256 in (None, sha)
    ]


@router.get("/bijlagen")
async def bijlagen(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    contact: Annotated[Uuid | None, Query(alias="klantcontact__uuid")] = None,
    objecttype: Annotated[str | None, text_query("bijlageidentificatorCodeObjecttype")] = None,
    register: Annotated[str | None, text_query("bijlageidentificatorCodeRegister")] = None,
    soort: Annotated[str | None, text_query("bijlageidentificatorCodeSoortObjectId")] = None,
    object_id: Annotated[str | None, text_query("bijlageidentificatorObjectId")] = None,
) -> dict[str, Any]:
    """Paged after need-to-know, in Python: the attachments live in each contact's body."""
    other = (objecttype, register, soort) != (None, None, None) and (
        objecttype not in (None, "bijlage")
        or register not in (None, "eenloket")
        or soort not in (None, "sha256")
    )
    filters = ContactFilter(message_id=contact, with_attachments=True, nothing=other)
    see, u = viewer(request, read.principal), urls(request)
    start = (page - 1) * page_size

    async def find() -> Found:
        _, contacts = await queries.contacts(read.session, see, filters, offset=0, limit=ALL)
        every = _attachments(contacts, object_id)
        return len(every), every[start : start + page_size]

    return await _page(
        request,
        read,
        find,
        lambda r: r[0].party_id,
        lambda r: mapping.bijlage(u, *r),
        page=page,
        page_size=page_size,
        target=_target(),
    )


@router.get("/bijlagen/{uuid}")
async def bijlage(request: Request, uuid: Uuid, read: IntegrationRead) -> dict[str, Any]:
    see = viewer(request, read.principal)

    async def find() -> tuple[ContactRow, str] | None:
        filters = ContactFilter(message_prefix=uuid, with_attachments=True)
        _, contacts = await queries.contacts(read.session, see, filters, offset=0, limit=ALL)
        found = _attachments(contacts, None)
        return next((r for r in found if mapping.bijlage_uuid(r[0].message_id, r[1]) == uuid), None)

    contact, sha = await read(
        READ,
        _target(),
        find,
        not_found=not_found("Deze bijlage"),
        logged=lambda r: [Target(party_id=r[0].party_id, case_id=r[0].case_id)],
    )
    return mapping.bijlage(urls(request), contact, sha)


# --- internetaken: a case as its owning team's open work --------------------------------------


@router.get("/internetaken")
async def internetaken(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    status: Text = None,
    contact: Annotated[Uuid | None, Query(alias="klantcontact__uuid")] = None,
    cause: Annotated[Uuid | None, Query(alias="aanleidinggevendKlantcontact__uuid")] = None,
    actor: Annotated[Uuid | None, Query(alias="toegewezenAanActor__uuid")] = None,
    actor_name: Annotated[str | None, text_query("actoren__naam")] = None,
    nummer: Text = None,
    referentienummer: Text = None,
) -> dict[str, Any]:
    teams: dict[str, str] = request.app.state.team_names
    team = team_of(request, actor) if actor is not None else None
    named = next((t for t, n in teams.items() if n == actor_name), None) if actor_name else None
    unknown_actor = (actor is not None and team is None) or (actor_name is not None and not named)
    f = TaskFilter(
        message_id=contact or cause,
        is_open={"te_verwerken": True, "verwerkt": False}.get(status or ""),
        team=team or named,
        # Only the first actor filter's team is applied; two that disagree match nothing.
        nothing=unknown_actor
        or bool(team and named and team != named)
        or status not in (None, "te_verwerken", "verwerkt")
        # Eenloket gives no (referentie)nummer: a case number is longer than the document allows.
        or nummer is not None
        or referentienummer is not None,
    )
    return await _task_page(request, read, f, page, page_size)


async def _task_page(
    request: Request, read: IntegrationRead, f: TaskFilter, page: int, page_size: int
) -> dict[str, Any]:
    see, u = viewer(request, read.principal), urls(request)

    async def find() -> Found:
        return await queries.tasks(
            read.session, see, f, offset=(page - 1) * page_size, limit=page_size
        )

    def shown(t: TaskRow) -> Uuid:
        return t.party_id

    return await _page(
        request,
        read,
        find,
        shown,
        lambda t: mapping.internetaak(u, t),
        page=page,
        page_size=page_size,
        target=_target(),
    )


@router.get("/internetaken/{uuid}")
async def internetaak(request: Request, uuid: Uuid, read: IntegrationRead) -> dict[str, Any]:
    case_id = mapping.masked(uuid, mapping.INTERNETAAK_MASK)
    see = viewer(request, read.principal)

    async def find() -> TaskRow | None:
        _, rows = await queries.tasks(
            read.session, see, TaskFilter(case_id=case_id), offset=0, limit=1
        )
        return rows[0] if rows else None

    found = await read(
        READ,
        _target(),
        find,
        not_found=not_found("Deze interne taak"),
        logged=lambda t: [Target(party_id=t.party_id, case_id=t.case_id)],
    )
    return mapping.internetaak(urls(request), found)

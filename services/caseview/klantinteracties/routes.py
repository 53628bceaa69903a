"""The facade's routes under ``/klantinteracties/api/v1``: partijen, klantcontacten,
betrokkenen and onderwerpobjecten, read-only (what hangs off them: related.py). Every read
goes through caseview's audited read (access_log/audited.py) with the integration as the
reader (auth.py). The routes are left out of caseview's own ``/v1`` document: their contract
is the derived Klantinteracties document (openapi-0.9.0.yaml), which the tests hold them to."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.caseview.access_log.audited import AuditedRead, Need, NotFound, Target
from services.caseview.auth import READ_HISTORY
from services.caseview.klantinteracties import expand as expand_page
from services.caseview.klantinteracties import mapping, queries
from services.caseview.klantinteracties.auth import IntegrationRead
from services.caseview.klantinteracties.mapping import ContactRow, Urls
from services.caseview.klantinteracties.queries import ContactFilter
from services.caseview.web import viewer, when

PREFIX = "/klantinteracties/api/v1"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
READ = Need(READ_HISTORY, "Geen toegang", "De rollen van deze integratie staan dit niet toe.")

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=500)]  # default 100
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]
Expand = Annotated[str | None, Query(max_length=500)]  # comma-separated, as Open Klant takes it


def text_query(alias: str) -> Any:
    """A free-text filter under the document's name (as ``Text``)."""
    return Query(alias=alias, max_length=200, pattern=r"^[^\x00]*$")


def urls(request: Request) -> Urls:
    return Urls(str(request.base_url).rstrip("/") + PREFIX, request.app.state.team_names)


def not_found(what: str) -> NotFound:
    return NotFound("Niet gevonden", f"{what} bestaat niet (of is nog niet verwerkt).")


async def _page(
    request: Request,
    read: AuditedRead,
    find: Callable[[], Awaitable[tuple[int, list[Any]]]],
    shown: Callable[[Any], uuid.UUID],
    render: Callable[[Any], dict[str, Any]],
    *,
    page: int,
    page_size: int,
    target: Target,
) -> dict[str, Any]:
    """One list page, logged per party it shows (or once as not-found when it shows none)."""
    count, rows = await read(
        READ,
        target,
        find,
        logged=lambda found: [Target(party_id=p) for p in dict.fromkeys(map(shown, found[1]))],
    )
    nxt, prev = mapping.page_links(str(request.url), page, page_size, count)
    return {"count": count, "next": nxt, "previous": prev, "results": [render(r) for r in rows]}


def _party_target(party_ids: tuple[uuid.UUID, ...] | None) -> Target:
    root = party_ids[0] if party_ids else None
    return Target(party_id=root, detail="klantinteracties")


@router.get("/klantcontacten")
async def klantcontacten(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    party: Annotated[uuid.UUID | None, Query(alias="hadBetrokkene__wasPartij__uuid")] = None,
    kanaal: Text = None,
    plaatsgevonden_op: Annotated[datetime | None, Query(alias="plaatsgevondenOp")] = None,
    since: Annotated[datetime | None, Query(alias="plaatsgevondenOp__gte")] = None,
    until: Annotated[datetime | None, Query(alias="plaatsgevondenOp__lte")] = None,
    object_type: Annotated[
        str | None, Query(alias="onderwerpobject__onderwerpobjectidentificatorCodeObjecttype")
    ] = None,
    soort: Annotated[
        str | None, Query(alias="onderwerpobject__onderwerpobjectidentificatorCodeSoortObjectId")
    ] = None,
    object_id: Annotated[
        str | None, Query(alias="onderwerpobject__onderwerpobjectidentificatorObjectId")
    ] = None,
    expand: Expand = None,
) -> dict[str, Any]:
    filters = ContactFilter(
        channel=kanaal,
        at=when(plaatsgevonden_op),
        since=when(since),
        until=when(until),
        **_case_filter(object_type, soort, object_id),
    )
    filters = await _of_party(read, filters, party)
    return await _contact_page(request, read, filters, page, page_size, expand)


async def _of_party(
    read: AuditedRead, filters: ContactFilter, party: uuid.UUID | None
) -> ContactFilter:
    """Only the contacts of ``party`` (and the parties merged into it), if one is asked for."""
    if party is None:
        return filters
    members = await queries.party_members(read.session, party)
    return replace(filters, party_ids=members or (party,))


def _case_filter(object_type: str | None, soort: str | None, object_id: str | None) -> Any:
    """The onderwerpobject filters: a case by uuid (or, ``codeSoortObjectId=zaaknummer``, by
    number); any other object type matches nothing."""
    if object_type not in (None, "zaak") or soort not in (None, "uuid", "zaaknummer"):
        return {"nothing": True}
    if object_id is None:
        return {}
    if soort == "zaaknummer":
        return {"case_number": object_id}
    try:
        return {"case_id": uuid.UUID(object_id)}
    except ValueError:
        return {"case_number": object_id}


async def _contact_page(
    request: Request,
    read: AuditedRead,
    filters: ContactFilter,
    page: int,
    page_size: int,
    expand: str | None,
    render: Callable[[Urls, ContactRow], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A page of contacts, each as ``render`` shows it (default: a klantcontact, expanded)."""
    u, see = urls(request), viewer(request, read.principal)

    async def find() -> tuple[int, list[tuple[ContactRow, dict[str, Any]]]]:
        count, rows = await queries.contacts(
            read.session, see, filters, offset=(page - 1) * page_size, limit=page_size
        )
        if render is not None:
            return count, [(c, render(u, c)) for c in rows]
        shown = await expand_page.klantcontacten(read.session, see, u, rows, expand)
        return count, list(zip(rows, shown, strict=True))

    return await _page(
        request,
        read,
        find,
        lambda r: r[0].party_id,
        lambda r: r[1],
        page=page,
        page_size=page_size,
        target=_party_target(filters.party_ids),
    )


async def _one_contact(
    request: Request,
    read: AuditedRead,
    message_id: uuid.UUID,
    what: str,
    render: Callable[[Urls, ContactRow], dict[str, Any]],
    *,
    needs_case: bool = False,
) -> dict[str, Any]:
    found = await _one_contact_row(request, read, message_id, what, needs_case=needs_case)
    return render(urls(request), found)


async def _one_contact_row(
    request: Request,
    read: AuditedRead,
    message_id: uuid.UUID,
    what: str,
    *,
    needs_case: bool = False,
) -> ContactRow:
    see = viewer(request, read.principal)

    async def find() -> ContactRow | None:
        filters = await queries.of_contact(read.session, message_id)
        _, rows = await queries.contacts(read.session, see, filters, offset=0, limit=1)
        return rows[0] if rows and (rows[0].case_id or not needs_case) else None

    found = await read(
        READ,
        Target(detail="klantinteracties"),
        find,
        not_found=not_found(what),
        logged=lambda c: [Target(party_id=c.party_id, case_id=c.case_id)],
    )
    return found


@router.get("/klantcontacten/{uuid}")
async def klantcontact(
    request: Request, uuid: uuid.UUID, read: IntegrationRead, expand: Expand = None
) -> dict[str, Any]:
    found = await _one_contact_row(request, read, uuid, "Dit klantcontact")
    see = viewer(request, read.principal)
    return (await expand_page.klantcontacten(read.session, see, urls(request), [found], expand))[0]


@router.get("/betrokkenen")
async def betrokkenen(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    party: Annotated[uuid.UUID | None, Query(alias="wasPartij__uuid")] = None,
    contact: Annotated[uuid.UUID | None, Query(alias="hadKlantcontact__uuid")] = None,
    expand: Expand = None,
) -> dict[str, Any]:
    filters = await _of_party(read, await queries.of_contact(read.session, contact), party)
    return await _contact_page(
        request,
        read,
        filters,
        page,
        page_size,
        None,
        render=lambda u, c: expand_page.betrokkene(u, c, expand),
    )


@router.get("/betrokkenen/{uuid}")
async def betrokkene(
    request: Request, uuid: uuid.UUID, read: IntegrationRead, expand: Expand = None
) -> dict[str, Any]:
    message_id = mapping.masked(uuid, mapping.BETROKKENE_MASK)
    return await _one_contact(
        request,
        read,
        message_id,
        "Deze betrokkene",
        lambda u, c: expand_page.betrokkene(u, c, expand),
    )


@router.get("/onderwerpobjecten")
async def onderwerpobjecten(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    contact: Annotated[uuid.UUID | None, Query(alias="klantcontact__uuid")] = None,
    object_type: Annotated[
        str | None, Query(alias="onderwerpobjectidentificatorCodeObjecttype")
    ] = None,
    soort: Annotated[
        str | None, Query(alias="onderwerpobjectidentificatorCodeSoortObjectId")
    ] = None,
    object_id: Annotated[str | None, Query(alias="onderwerpobjectidentificatorObjectId")] = None,
) -> dict[str, Any]:
    # Only contacts about a case have an onderwerpobject.
    case = _case_filter(object_type, soort, object_id)
    filters = await queries.of_contact(read.session, contact, ContactFilter(with_case=True, **case))
    return await _contact_page(
        request, read, filters, page, page_size, None, render=mapping.onderwerpobject
    )


@router.get("/onderwerpobjecten/{uuid}")
async def onderwerpobject(
    request: Request, uuid: uuid.UUID, read: IntegrationRead
) -> dict[str, Any]:
    message_id = mapping.masked(uuid, mapping.ONDERWERP_MASK)
    return await _one_contact(
        request, read, message_id, "Dit onderwerpobject", mapping.onderwerpobject, needs_case=True
    )


@router.get("/partijen")
async def partijen(
    request: Request,
    read: IntegrationRead,
    page: Page = 1,
    page_size: PageSize = 100,
    soort: Annotated[str | None, Query(alias="partijIdentificator__codeSoortObjectId")] = None,
    object_id: Annotated[
        str | None, Query(alias="partijIdentificator__objectId", max_length=200)
    ] = None,
    expand: Expand = None,
) -> dict[str, Any]:
    u, see = urls(request), viewer(request, read.principal)
    ids = None
    if soort is not None or object_id is not None:
        ids = await queries.parties_with(read.session, soort, object_id)

    async def find() -> tuple[int, list[tuple[mapping.PartyRow, dict[str, Any]]]]:
        count, rows = await queries.party_rows(
            read.session, ids, offset=(page - 1) * page_size, limit=page_size
        )
        shown = await expand_page.partijen(read.session, see, u, rows, expand)
        return count, list(zip(rows, shown, strict=True))

    return await _page(
        request,
        read,
        find,
        lambda r: r[0].id,
        lambda r: r[1],
        page=page,
        page_size=page_size,
        # The searched value is never logged ("search by bsn"), like /v1's party search.
        target=Target(detail=f"klantinteracties search by {soort or 'identificator'}"),
    )


@router.get("/partijen/{uuid}")
async def partij(
    request: Request, uuid: uuid.UUID, read: IntegrationRead, expand: Expand = None
) -> dict[str, Any]:
    async def find() -> mapping.PartyRow | None:
        members = await queries.party_members(read.session, uuid)
        if not members:
            return None
        _, rows = await queries.party_rows(read.session, [members[0]], offset=0, limit=1)
        return rows[0] if rows else None

    found = await read(
        READ,
        Target(party_id=uuid, detail="klantinteracties"),
        find,
        not_found=not_found("Deze partij"),
        logged=lambda p: [Target(party_id=p.id, detail="klantinteracties")],
    )
    see = viewer(request, read.principal)
    return (await expand_page.partijen(read.session, see, urls(request), [found], expand))[0]

"""The ``expand`` values the facade serves, for a whole page at once (one query per kind of
related resource, not one per row):

- klantcontacten: ``hadBetrokkenen`` (and inside each ``wasPartij``, ``digitaleAdressen``),
  ``gingOverOnderwerpobjecten``, ``omvatteBijlagen``, ``leiddeTotInterneTaken`` (the case's
  internetaak, for the contact that opened the case);
- partijen: ``digitaleAdressen``, ``categorieRelaties`` (none), ``betrokkenen`` (and inside
  each ``hadKlantcontact``);
- betrokkenen: ``digitaleAdressen`` (none: a betrokkene gives no addresses of its own).

Each shows only what the reader may see: contacts through need-to-know (queries.contacts),
tasks likewise (queries.tasks). ``_expand`` is left out when nothing was asked for, as Open
Klant does. What stays unsupported (docs/klantinteracties.md): ``verstrektDoorBetrokkene…`` on
digitaleadressen (Eenloket does not record which contact gave an address).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.klantinteracties import mapping, queries
from services.caseview.klantinteracties.mapping import ContactRow, PartyRow, TaskRow, Urls
from services.caseview.klantinteracties.queries import ContactFilter, TaskFilter
from services.caseview.viewer import Viewer

EVERY = 1_000_000  # "all of them": the related rows of one page


def wanted(expand: str | None) -> set[str]:
    return {v.strip() for v in (expand or "").split(",") if v.strip()}


async def klantcontacten(
    session: AsyncSession, viewer: Viewer, u: Urls, rows: list[ContactRow], expand: str | None
) -> list[dict[str, Any]]:
    """The page's klantcontacten, each with the internetaak it led to and what ``expand`` asks."""
    want = wanted(expand)
    tasks = await _tasks_opened_by(session, viewer, rows)
    partijen: dict[uuid.UUID, PartyRow] = {}
    if "hadBetrokkenen.wasPartij" in want:
        ids = list(dict.fromkeys(c.party_id for c in rows))
        partijen = {
            p.id: p for p in (await queries.party_rows(session, ids, offset=0, limit=EVERY))[1]
        }
    return [_klantcontact(u, c, tasks.get(c.message_id), partijen, want) for c in rows]


async def _tasks_opened_by(
    session: AsyncSession, viewer: Viewer, rows: list[ContactRow]
) -> dict[uuid.UUID, TaskRow]:
    """The internetaak (a case) each of the contacts opened, by the contact's id."""
    cases = tuple({c.case_id for c in rows if c.incoming and c.case_id is not None})
    if not cases:
        return {}
    _, found = await queries.tasks(
        session, viewer, TaskFilter(case_ids=cases), offset=0, limit=len(cases)
    )
    return {t.first_message_id: t for t in found}


def _klantcontact(
    u: Urls,
    c: ContactRow,
    task: TaskRow | None,
    partijen: dict[uuid.UUID, PartyRow],
    want: set[str],
) -> dict[str, Any]:
    out = mapping.klantcontact(u, c)
    if task is not None:
        out["leiddeTotInterneTaken"] = [
            u.of("internetaken", mapping.internetaak_uuid(task.case_id))
        ]
    extra: dict[str, Any] = {}
    if want & {"hadBetrokkenen", "hadBetrokkenen.wasPartij", "hadBetrokkenen.digitaleAdressen"}:
        betrokkene = mapping.betrokkene(u, c)
        inner: dict[str, Any] = {}
        if "hadBetrokkenen.wasPartij" in want and c.party_id in partijen:
            inner["wasPartij"] = mapping.partij(u, partijen[c.party_id])
        if "hadBetrokkenen.digitaleAdressen" in want:
            inner["digitaleAdressen"] = []
        extra["hadBetrokkenen"] = [{**betrokkene, "_expand": inner} if inner else betrokkene]
    if "gingOverOnderwerpobjecten" in want:
        extra["gingOverOnderwerpobjecten"] = [mapping.onderwerpobject(u, c)] if c.case_id else []
    if "omvatteBijlagen" in want:
        shas = mapping.attachments(c) if c.visible else []
        extra["omvatteBijlagen"] = [mapping.bijlage(u, c, sha) for sha in shas]
    if "leiddeTotInterneTaken" in want:
        extra["leiddeTotInterneTaken"] = [mapping.internetaak(u, task)] if task else []
    if extra:
        out["_expand"] = extra
    return out


async def partijen(
    session: AsyncSession, viewer: Viewer, u: Urls, rows: list[PartyRow], expand: str | None
) -> list[dict[str, Any]]:
    """The page's partijen with what ``expand`` asks: their digitale adressen, their
    betrokkenen (a party's own contacts, as its ``betrokkenen`` links), each with its
    klantcontact."""
    want = wanted(expand)
    contacts: dict[uuid.UUID, list[ContactRow]] = {}
    if want & {"betrokkenen", "betrokkenen.hadKlantcontact"} and rows:
        filters = ContactFilter(party_ids=tuple(p.id for p in rows))
        _, found = await queries.contacts(session, viewer, filters, offset=0, limit=EVERY)
        for c in found:
            contacts.setdefault(c.party_id, []).append(c)
    return [_partij(u, p, contacts.get(p.id, []), want) for p in rows]


def _partij(u: Urls, p: PartyRow, contacts: list[ContactRow], want: set[str]) -> dict[str, Any]:
    out = mapping.partij(u, p)
    extra: dict[str, Any] = {}
    if "digitaleAdressen" in want:
        extra["digitaleAdressen"] = [
            mapping.digitaal_adres(u, p.id, i) for i in p.identifiers if i.kind in mapping.ADRESSEN
        ]
    if "categorieRelaties" in want:
        extra["categorieRelaties"] = []
    if want & {"betrokkenen", "betrokkenen.hadKlantcontact"}:
        nested = "betrokkenen.hadKlantcontact" in want
        extra["betrokkenen"] = [
            {
                **mapping.betrokkene(u, c),
                **({"_expand": {"hadKlantcontact": mapping.klantcontact(u, c)}} if nested else {}),
            }
            for c in contacts
        ]
    if extra:
        out["_expand"] = extra
    return out


def betrokkene(u: Urls, c: ContactRow, expand: str | None) -> dict[str, Any]:
    """A betrokkene; ``digitaleAdressen`` expands to none (the partij's are the party's)."""
    out = mapping.betrokkene(u, c)
    if "digitaleAdressen" in wanted(expand):
        out["_expand"] = {"digitaleAdressen": []}
    return out

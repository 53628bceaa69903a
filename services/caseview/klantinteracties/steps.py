"""A contact registered in steps, as Open Klant's clients do: ``POST /klantcontacten``, then
``POST /betrokkenen`` and ``POST /onderwerpobjecten`` naming it, in either order
(docs/klantinteracties.md, "Writes in three steps").

Eenloket's contact is one ingest message that needs its party (the router matches on it), so
the steps fill a draft (drafts.py) that becomes the message as soon as it is complete, within
the request that completed it: 201 only after Kafka acknowledged, else 503 with the draft kept
(settle.py publishes it once Kafka is back). A draft never completed goes in after the settle
window with what it has. Validation, kanalen, the trust rule and Idempotency-Key are
maak-klantcontact's (writes.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from services.caseview.klantinteracties import drafts, mapping
from services.caseview.klantinteracties.auth import Integration, IntegrationDep
from services.caseview.klantinteracties.mapping import Urls
from services.caseview.klantinteracties.routes import PREFIX, urls
from services.caseview.klantinteracties.writes import (
    TALEN,
    BetrokkeneIn,
    Identificator,
    KlantcontactIn,
    PartijRef,
    _Lenient,
    channel_of,
    language_of,
    message_id_for,
    partij_identifiers,
    publish_or_503,
    sender,
    zaak,
)
from services.caseview.web import SessionDep
from shared.http import ProblemError

router = APIRouter(prefix=PREFIX, include_in_schema=False)

IdempotencyKey = Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")]
KEPT = (
    "Het klantcontact is bewaard maar nog niet doorgegeven; Eenloket geeft het door zodra de "
    "berichtenwachtrij terug is. Herhaal dit verzoek na de Retry-After voor de bevestiging."
)
TAAL = {v: k for k, v in TALEN.items()}  # the message's ISO 639-1 back to the document's 639-2


class KlantcontactStep(KlantcontactIn):
    indicatieContactGelukt: bool | None = None  # noqa: N815 - the standard's field name


class BetrokkeneStep(BetrokkeneIn):
    hadKlantcontact: PartijRef  # noqa: N815


class OnderwerpobjectStep(_Lenient):
    klantcontact: PartijRef
    onderwerpobjectidentificator: Identificator


def _conflict(detail: str) -> ProblemError:
    return ProblemError(409, "Conflict", detail)


def klantcontact_body(u: Urls, draft: Any) -> dict[str, Any]:
    """The draft as the klantcontact the reads will show once it is routed."""
    out = mapping.klantcontact(u, drafts.contact_row(draft))
    if draft.betrokkene_at is None:
        out["hadBetrokkenen"] = []
    out["taal"] = TAAL.get(draft.language, out["taal"])
    if draft.contact_made is not None:
        out["indicatieContactGelukt"] = draft.contact_made
    return out


def betrokkene_body(u: Urls, draft: Any) -> dict[str, Any]:
    out = mapping.betrokkene(u, drafts.contact_row(draft))
    if draft.party_id is None:  # a betrokkene without partij (nullable: left out, see doc)
        del out["wasPartij"]
    return out


@router.post("/klantcontacten", status_code=201)
async def klantcontact(
    request: Request,
    body: KlantcontactStep,
    who: IntegrationDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    channel = channel_of(who, body.kanaal)
    language = language_of(body.taal)
    draft_id = message_id_for(who, idempotency_key)
    now = datetime.now(UTC)
    existing = await drafts.find(session, draft_id)
    if existing is None:
        try:
            await session.execute(
                insert(drafts.facade_drafts).values(
                    id=draft_id,
                    integration=who.name,
                    channel=channel.value,
                    subject=body.onderwerp.strip(),
                    text=body.inhoud.strip(),
                    language=language,
                    confidential=body.vertrouwelijk,
                    contact_made=body.indicatieContactGelukt,
                    received_at=(body.plaatsgevondenOp or now).astimezone(UTC),
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.commit()
        except IntegrityError:  # the same Idempotency-Key twice at once: one draft
            await session.rollback()
    # A replayed Idempotency-Key answers with the draft it made (its content as first sent).
    return klantcontact_body(urls(request), await drafts.find(session, draft_id))


async def _own_draft(session: Any, who: Integration, contact: uuid.UUID) -> Any:
    """This integration's draft; anything else (unknown, routed, another integration's) is
    not found: an integration sees only its own drafts."""
    draft = await drafts.find(session, contact)
    if draft is None or draft.integration != who.name:
        raise ProblemError(
            404, "Niet gevonden", "Geen klantcontact in aanmaak van deze integratie met die uuid."
        )
    return draft


async def _step(
    request: Request, session: Any, who: Integration, contact: uuid.UUID, **values: Any
) -> Any:
    """Attach one step's values to the draft and publish it when that completed it. The same
    step again with the same values is a replay (the same 201, or the publish retried)."""
    step = "betrokkene_at" if "betrokkene_at" in values else "case_id"
    same = [k for k in values if k not in ("betrokkene_at", "sender")]
    draft = await _own_draft(session, who, contact)
    if getattr(draft, step) is None:
        if draft.published_at is not None:
            raise _conflict("Dit klantcontact is al vastgelegd; het kan niet meer veranderen.")
        if await drafts.attach(session, contact, datetime.now(UTC), **values):
            await session.commit()
        else:
            await session.rollback()
        draft = await drafts.find(session, contact)
    if any(getattr(draft, k) != values[k] for k in same):
        what = "betrokkene" if step == "betrokkene_at" else "onderwerpobject"
        raise _conflict(f"Dit klantcontact heeft al een andere {what}.")
    if drafts.complete(draft) and draft.published_at is None:
        await publish_or_503(request, drafts.message_of(draft), KEPT)
        await drafts.published(session, contact, datetime.now(UTC))
        await session.commit()
    return draft


@router.post("/betrokkenen", status_code=201)
async def betrokkene(
    request: Request, body: BetrokkeneStep, who: IntegrationDep, session: SessionDep
) -> dict[str, Any]:
    await _own_draft(session, who, body.hadKlantcontact.uuid)  # 404 before the partij's 400
    party: uuid.UUID | None = None
    identifiers: list[Any] = []
    if body.wasPartij is not None:
        party, identifiers = await partij_identifiers(session, body.wasPartij.uuid)
    draft = await _step(
        request,
        session,
        who,
        body.hadKlantcontact.uuid,
        betrokkene_at=datetime.now(UTC),
        party_id=party,
        sender=[s.model_dump(mode="json") for s in sender(who, identifiers)],
        display_name=body.contactnaam.full() if body.contactnaam else None,
    )
    return betrokkene_body(urls(request), draft)


@router.post("/onderwerpobjecten", status_code=201)
async def onderwerpobject(
    request: Request, body: OnderwerpobjectStep, who: IntegrationDep, session: SessionDep
) -> dict[str, Any]:
    await _own_draft(session, who, body.klantcontact.uuid)
    case_id, number = await zaak(session, body.onderwerpobjectidentificator)
    draft = await _step(
        request, session, who, body.klantcontact.uuid, case_id=case_id, case_number=number
    )
    return mapping.onderwerpobject(urls(request), drafts.contact_row(draft))

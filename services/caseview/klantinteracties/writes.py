"""``POST /maak-klantcontact``: a contact the KCC registers on behalf of a resident, onto
``omni.inbound.v1`` as ingest's ``message.received`` (docs/klantinteracties.md, "Writes").

Why here and not in ingest: the write names its party by ``wasPartij.uuid``, a caseview party
id that only caseview can resolve to the identifiers the router matches on, and its caller is
a facade integration (``Authorization: Token``). What makes an ingest write an ingest write is
reused, not repeated: the identifier rungs (``shared.identifiers``), the record key
(``shared.identifiers.sender_key``, the same secret), the envelope, and ``publish``, which
returns only once Kafka acknowledged (else 503, nothing accepted).

Trust rule: whatever an integration passes in a body is *claimed*; only an integration
configured with ``asserts_identity`` (its staff checked the resident's identity document, as at
the counter) makes the partij's BSN authenticated (evidence ``id-document``). A KvK number
stays claimed: no evidence of a KCC proves an eHerkenning login.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from services.caseview.config import CaseviewSettings
from services.caseview.klantinteracties import mapping, queries
from services.caseview.klantinteracties.auth import Integration, IntegrationDep
from services.caseview.klantinteracties.mapping import ContactRow, Urls
from services.caseview.klantinteracties.routes import PREFIX, urls
from services.caseview.orm import cases, party_identifiers
from services.caseview.web import SessionDep
from shared.contracts import Channel, Evidence, IdentifierKind, InboundMessage, MessageReceived
from shared.envelope import envelope_json
from shared.http import ProblemError
from shared.identifiers import sender_identifiers, sender_key
from shared.ids import new_id
from shared.kafka.producer import BrokerUnavailableError, publish

router = APIRouter(prefix=PREFIX, include_in_schema=False)

# kanaal (free text in the standard) -> Eenloket channel; Open Klant clients send Dutch names.
KANALEN: dict[str, Channel] = {
    **{c.value: c for c in Channel},
    "telefoon": Channel.PHONE,
    "e-mail": Channel.EMAIL,
    "balie": Channel.COUNTER,
    "webformulier": Channel.WEB,
    "post": Channel.LETTER,
    "brief": Channel.LETTER,
}
# taal (ISO 639-2, the document's 3 letters) -> the message's ISO 639-1.
TALEN = {"nld": "nl", "eng": "en", "deu": "de", "fra": "fr", "tur": "tr", "ara": "ar", "pol": "pl"}
# Message ids from an Idempotency-Key (uuid5): a re-send is the same event, routed once.
IDEMPOTENCY_NAMESPACE = uuid.UUID("0f5d7c44-8d0e-5a51-b7f6-6b6c616e7432")

Text = Annotated[str, Field(max_length=1000, pattern=r"^[^\x00]*$")]


class _Lenient(BaseModel):
    # Read-only fields a client echoes (url, uuid, ...) are ignored, as Open Klant does.
    model_config = ConfigDict(extra="ignore", frozen=True)


class KlantcontactIn(_Lenient):
    kanaal: str = Field(min_length=1, max_length=50)
    onderwerp: str = Field(max_length=200, pattern=r"^[^\x00]*$")
    inhoud: Text = ""
    taal: str = Field(default="nld", min_length=3, max_length=3)
    vertrouwelijk: bool = False
    plaatsgevondenOp: datetime | None = None  # noqa: N815 - the standard's field name


class PartijRef(_Lenient):
    uuid: uuid.UUID


class Contactnaam(_Lenient):
    voorletters: str = Field(default="", max_length=10)
    voornaam: str = Field(default="", max_length=200)
    voorvoegselAchternaam: str = Field(default="", max_length=10)  # noqa: N815
    achternaam: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _fits(self) -> Contactnaam:
        # A party's name is at most 200 characters everywhere (ingest's channels, the
        # router's and caseview's tables): a longer one accepted here would fail the router's
        # insert and the contact would end as a dead letter after its 201.
        if len(self.full() or "") > 200:
            raise ValueError("de volledige naam is langer dan 200 tekens")
        return self

    def full(self) -> str | None:
        first = self.voornaam or self.voorletters
        parts = [first, self.voorvoegselAchternaam, self.achternaam]
        return " ".join(p.strip() for p in parts if p.strip()) or None


class BetrokkeneIn(_Lenient):
    wasPartij: PartijRef | None = None  # noqa: N815
    contactnaam: Contactnaam | None = None
    rol: str = "klant"
    initiator: bool = True


class Identificator(_Lenient):
    codeObjecttype: str = Field(max_length=200)  # noqa: N815
    codeSoortObjectId: str = Field(max_length=200)  # noqa: N815
    objectId: str = Field(max_length=200, pattern=r"^[^\x00]*$")  # noqa: N815
    codeRegister: str = Field(default="", max_length=200)  # noqa: N815


class OnderwerpobjectIn(_Lenient):
    onderwerpobjectidentificator: Identificator | None = None


class MaakKlantcontact(_Lenient):
    klantcontact: KlantcontactIn
    betrokkene: BetrokkeneIn | None = None
    onderwerpobject: OnderwerpobjectIn | None = None


def bad_request(detail: str) -> ProblemError:
    return ProblemError(400, "Ongeldig verzoek", detail)


def channel_of(who: Integration, kanaal: str) -> Channel:
    channel = KANALEN.get(kanaal.strip().lower())
    if channel is None:
        raise bad_request(f"Onbekend kanaal; bekend zijn: {', '.join(sorted(KANALEN))}.")
    if channel not in who.kanalen:
        raise ProblemError(
            403,
            "Geen toegang",
            "Deze integratie mag geen klantcontacten via dit kanaal vastleggen.",
        )
    return channel


async def partij_identifiers(session: Any, party: uuid.UUID) -> tuple[uuid.UUID, list[Any]]:
    """The partij (merges followed) and its BSN/KvK; an unknown partij is a bad body."""
    members = await queries.party_members(session, party)
    if not members:
        raise bad_request("betrokkene.wasPartij: deze partij bestaat niet.")
    i = party_identifiers
    rows = await session.execute(
        i.select().where(i.c.party_id == members[0], i.c.kind.in_(mapping.IDENTIFICATOREN))
    )
    return members[0], list(rows)


async def zaak(session: Any, ident: Identificator) -> tuple[uuid.UUID, str]:
    """The zaak the contact is about (by uuid or number); another object is a bad body."""
    if ident.codeObjecttype != "zaak" or ident.codeSoortObjectId not in ("uuid", "zaaknummer"):
        raise bad_request(
            "onderwerpobject: alleen een zaak (codeObjecttype 'zaak') op uuid of nummer."
        )
    if ident.codeSoortObjectId == "zaaknummer":
        where = cases.c.number == ident.objectId
    else:
        try:
            where = cases.c.id == uuid.UUID(ident.objectId)
        except ValueError:
            raise bad_request("onderwerpobject: objectId is geen uuid.") from None
    found = (await session.execute(select(cases.c.id, cases.c.number).where(where))).first()
    if found is None:
        raise bad_request("onderwerpobject: deze zaak bestaat niet.")
    return found.id, found.number


def language_of(taal: str) -> str:
    language = TALEN.get(taal.lower())
    if language is None:
        raise bad_request(f"Onbekende taal; bekend zijn: {', '.join(sorted(TALEN))}.")
    return language


def message_id_for(who: Integration, idempotency_key: str | None) -> uuid.UUID:
    """A new message id, or one derived from the integration and its Idempotency-Key."""
    if idempotency_key:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{who.name}\n{idempotency_key}")
    return new_id()


def sender(who: Integration, identifiers: list[Any]) -> list[Any]:
    """The trust rule (module docstring): claimed unless the integration asserts identity."""
    proven = {IdentifierKind.BSN: Evidence.ID_DOCUMENT} if who.asserts_identity else {}
    return sender_identifiers(
        [(IdentifierKind(r.kind), r.value) for r in identifiers], proven, detail=who.name
    )


@router.post("/maak-klantcontact", status_code=201)
async def maak_klantcontact(
    request: Request,
    body: MaakKlantcontact,
    who: IntegrationDep,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> dict[str, Any]:
    k = body.klantcontact
    channel = channel_of(who, k.kanaal)
    language = language_of(k.taal)
    party: uuid.UUID | None = None
    identifiers: list[Any] = []
    b = body.betrokkene
    if b is not None and b.wasPartij is not None:
        party, identifiers = await partij_identifiers(session, b.wasPartij.uuid)
    ident = body.onderwerpobject.onderwerpobjectidentificator if body.onderwerpobject else None
    case_id, number = await zaak(session, ident) if ident is not None else (None, None)
    message_id = message_id_for(who, idempotency_key)
    received = (k.plaatsgevondenOp or datetime.now(UTC)).astimezone(UTC)
    message = InboundMessage(
        message_id=message_id,
        channel=channel,
        received_at=received,
        sender=sender(who, identifiers),
        display_name=b.contactnaam.full() if b is not None and b.contactnaam else None,
        subject=k.onderwerp.strip() or None,
        text=k.inhoud.strip(),
        language=language,
        case_number_hint=number,
        channel_message_id=f"klantinteracties:{who.name}:{message_id}",
    )
    await publish_or_503(
        request,
        message,
        "Het klantcontact is niet vastgelegd; probeer het na de Retry-After opnieuw.",
    )
    return _created(urls(request), message, party, case_id, k.vertrouwelijk)


async def publish_inbound(s: CaseviewSettings, producer: Any, message: InboundMessage) -> None:
    """``message.received`` onto the inbound topic, keyed as ingest keys it; returns once Kafka
    acknowledged (else ``BrokerUnavailableError``). Also the drafts' path (drafts.py)."""
    event = envelope_json(
        source=s.source("eenloket-caseview"),
        type=MessageReceived.TYPE,
        subject=str(message.message_id),
        data=MessageReceived(message=message).model_dump(mode="json"),
        event_id=message.message_id,
        time=message.received_at,
    )
    await publish(
        producer,
        s.topic_inbound,
        key=sender_key(message, s.sender_key_secret.get_secret_value().encode()),
        event=event,
        timeout=s.command_publish_timeout,
    )


async def publish_or_503(request: Request, message: InboundMessage, what: str) -> None:
    """``publish_inbound``; Kafka away: 503 with Retry-After (``what``: the answer's detail)."""
    s = request.app.state.settings
    try:
        await publish_inbound(s, request.app.state.producer, message)
    except BrokerUnavailableError as exc:
        raise ProblemError(
            503,
            "Berichtenwachtrij niet beschikbaar",
            what,
            headers={"Retry-After": str(s.retry_after_seconds)},
        ) from exc


def _created(
    u: Urls, m: InboundMessage, party: uuid.UUID | None, case: uuid.UUID | None, secret: bool
) -> dict[str, Any]:
    """The 201 body: the klantcontact (and its betrokkene, onderwerpobject) in the document's
    shape, as the reads show it once routed."""
    row = ContactRow(
        message_id=m.message_id,
        party_id=party or m.message_id,
        party_name=m.display_name,
        channel=m.channel.value,
        occurred_at=m.received_at,
        body={"subject": m.subject, "text": m.text},
        case_id=case,
        case_number=m.case_number_hint,
        confidential=secret,
        visible=True,
    )
    out: dict[str, Any] = {"klantcontact": mapping.klantcontact(u, row)}
    if party is None:
        out["klantcontact"]["hadBetrokkenen"] = []
    else:
        out["betrokkene"] = mapping.betrokkene(u, row)
    if case is not None:
        out["onderwerpobject"] = mapping.onderwerpobject(u, row)
    return out

"""Eenloket's read-model rows in the shape of Klantinteracties 0.9 (pure: no database, no HTTP).

Identifiers: a partij's uuid is the party id, a klantcontact's the message id. What exists once
per klantcontact (betrokkene, onderwerpobject, actorklantcontact) or per case (internetaak)
takes the owner's id XOR a fixed mask per resource: stable, distinct, and reversible, so
``GET /betrokkenen/{uuid}`` finds its message without a table of its own. What exists several
times per owner (a party's partij-identificatoren and digitale adressen, a message's bijlagen)
takes the owner's first 8 bytes and 8 bytes of a hash of what it is (``prefixed``): the detail
route finds the owner by that prefix (a range on its indexed id) and the item among its few.
An actor (a team) is a UUIDv5 of the team id: teams are few and known from the routing file;
a medewerker a UUIDv5 of the user id under another namespace, found back among the user ids
caseview's read models hold (staff.py).

A klantcontact is a message the resident sent (``kind`` "in": its uuid the message id) or one
the municipality sent: a reply (``reply``: the reply id) or a contact staff registered
(``outbound``: the contact id).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The ids (shared with the notifications), re-exported: the facade's modules use them from here.
from shared.klantinteracties_ids import (
    ACTOR_KLANTCONTACT_MASK as ACTOR_KLANTCONTACT_MASK,
)
from shared.klantinteracties_ids import (
    ACTOR_NAMESPACE as ACTOR_NAMESPACE,
)
from shared.klantinteracties_ids import (
    BETROKKENE_MASK as BETROKKENE_MASK,
)
from shared.klantinteracties_ids import (
    INTERNETAAK_MASK as INTERNETAAK_MASK,
)
from shared.klantinteracties_ids import (
    ONDERWERP_MASK as ONDERWERP_MASK,
)
from shared.klantinteracties_ids import (
    Identifier as Identifier,
)
from shared.klantinteracties_ids import (
    actor_uuid as actor_uuid,
)
from shared.klantinteracties_ids import (
    actorklantcontact_uuid as actorklantcontact_uuid,
)
from shared.klantinteracties_ids import (
    betrokkene_uuid as betrokkene_uuid,
)
from shared.klantinteracties_ids import (
    bijlage_uuid as bijlage_uuid,
)
from shared.klantinteracties_ids import (
    digitaal_adres_uuid as digitaal_adres_uuid,
)
from shared.klantinteracties_ids import (
    identificator_uuid as identificator_uuid,
)
from shared.klantinteracties_ids import (
    internetaak_uuid as internetaak_uuid,
)
from shared.klantinteracties_ids import (
    masked as masked,
)
from shared.klantinteracties_ids import (
    onderwerpobject_uuid as onderwerpobject_uuid,
)
from shared.klantinteracties_ids import (
    owner_range as owner_range,
)
from shared.klantinteracties_ids import (
    prefixed as prefixed,
)
from shared.klantinteracties_ids import (
    soort_partij as soort_partij,
)

# Eenloket identifier kind -> (codeObjecttype, codeSoortObjectId, codeRegister).
IDENTIFICATOREN = {
    "bsn": ("natuurlijk_persoon", "bsn", "brp"),
    "kvk": ("niet_natuurlijk_persoon", "kvk_nummer", "hr"),
}
# Eenloket identifier kind -> soortDigitaalAdres (a postal address is no digital one).
ADRESSEN = {"email": "email", "phone": "telefoonnummer"}
# Optional groups Eenloket does not hold (addresses, a preferred address, a contact name) are
# left out rather than sent as null: the document types them `allOf` + `nullable`, which
# strict OpenAPI 3.0 validators read as not nullable.
MAX_INHOUD = 1000  # the document's maxLength; longer texts are cut (docs/klantinteracties.md)
MAX_ONDERWERP = 200
MEDEWERKER_NAMESPACE = uuid.UUID("5f0d8a52-3c1e-5b7a-9e44-6d6577657231")
# A reply's status -> indicatieContactGelukt (requested: not known yet; handed to print: the
# letter left, as far as Eenloket can know).
GELUKT = {"sent": True, "delivered": True, "handed-to-print": True}
NIET_GELUKT = {"bounced", "failed"}


@dataclass(frozen=True)
class Urls:
    """Absolute urls of the facade's resources (``base``: up to and including ``/v1``), and the
    teams' public names (actoren are shown whole inside a klantcontact)."""

    base: str
    teams: Mapping[str, str] = field(default_factory=dict)

    def of(self, resource: str, id_: uuid.UUID) -> dict[str, str]:
        return {"uuid": str(id_), "url": f"{self.base}/{resource}/{id_}"}


@dataclass(frozen=True)
class PartyRow:
    id: uuid.UUID
    display_name: str | None
    identifiers: Sequence[Identifier]
    message_ids: Sequence[uuid.UUID]  # the klantcontacten it had, as betrokkene


@dataclass(frozen=True)
class ContactRow:
    """One message as a klantcontact; ``visible``: need-to-know lets the reader see it."""

    message_id: uuid.UUID
    party_id: uuid.UUID
    party_name: str | None
    channel: str | None
    occurred_at: datetime
    body: dict[str, Any]
    case_id: uuid.UUID | None
    case_number: str | None
    confidential: bool
    visible: bool
    kind: str = "in"  # in | reply | outbound (module docstring)
    status: str | None = None  # a reply's delivery status

    @property
    def incoming(self) -> bool:
        return self.kind == "in"

    @property
    def staff(self) -> str | None:
        """The user who sent an outgoing contact (its ``by.user``)."""
        by = self.body.get("by") if not self.incoming else None
        user = by.get("user") if isinstance(by, dict) else None
        return user if isinstance(user, str) and user else None

    @property
    def staff_team(self) -> str | None:
        by = self.body.get("by") if not self.incoming else None
        team = by.get("team") if isinstance(by, dict) else None
        return team if isinstance(team, str) and team else None


def _when(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def partij_identificator(urls: Urls, party_id: uuid.UUID, i: Identifier) -> dict[str, Any]:
    objecttype, soort, register = IDENTIFICATOREN[i.kind]
    return {
        **urls.of("partij-identificatoren", identificator_uuid(party_id, i.kind, i.value)),
        "identificeerdePartij": urls.of("partijen", party_id),
        "anderePartijIdentificator": "",
        "partijIdentificator": {
            "codeObjecttype": objecttype,
            "codeSoortObjectId": soort,
            "objectId": i.value,
            "codeRegister": register,
        },
    }


def partij(urls: Urls, p: PartyRow) -> dict[str, Any]:
    """A party as a partij: its identifiers (BSN, KvK) as partij-identificatoren, its
    addresses as digitale adressen, the klantcontacten it had as betrokkenen."""
    soort = soort_partij(p.identifiers)
    naam = p.display_name or ""
    identificatie: dict[str, Any] = (
        {"naam": naam} if soort == "organisatie" else {"volledigeNaam": naam}
    )
    return {
        **urls.of("partijen", p.id),
        "nummer": None,
        "interneNotitie": "",
        "betrokkenen": [urls.of("betrokkenen", betrokkene_uuid(m)) for m in p.message_ids],
        "categorieRelaties": [],
        "digitaleAdressen": [
            urls.of("digitaleadressen", digitaal_adres_uuid(p.id, i.kind, i.value))
            for i in p.identifiers
            if i.kind in ADRESSEN
        ],
        "vertegenwoordigden": [],
        "rekeningnummers": [],
        "partijIdentificatoren": [
            partij_identificator(urls, p.id, i) for i in p.identifiers if i.kind in IDENTIFICATOREN
        ],
        "soortPartij": soort,
        "indicatieGeheimhouding": None,
        "voorkeurstaal": "nld",
        "indicatieActief": True,
        "partijIdentificatie": identificatie,
    }


def klantcontact(urls: Urls, c: ContactRow) -> dict[str, Any]:
    """A message as a klantcontact. Without need-to-know: that it happened, when, on which
    channel and about which case; no onderwerp or inhoud."""
    has_case = c.case_id is not None
    out: dict[str, Any] = {
        **urls.of("klantcontacten", c.message_id),
        "gingOverOnderwerpobjecten": (
            [urls.of("onderwerpobjecten", onderwerpobject_uuid(c.message_id))] if has_case else []
        ),
        "hadBetrokkenActoren": actors(urls, c),
        "omvatteBijlagen": [],
        "hadBetrokkenen": [urls.of("betrokkenen", betrokkene_uuid(c.message_id))],
        "leiddeTotInterneTaken": [],
        "nummer": None,
        "referentienummer": None,
        "kanaal": c.channel or "",
        "onderwerp": "",
        "inhoud": "",
        "indicatieContactGelukt": _gelukt(c),
        "taal": "nld",
        "vertrouwelijk": c.confidential,
        "plaatsgevondenOp": _when(c.occurred_at),
    }
    if c.visible:
        out["onderwerp"] = str(c.body.get("subject") or "")[:MAX_ONDERWERP]
        # A registered outbound contact has a summary where a message has its text.
        text = c.body.get("text") if "text" in c.body else c.body.get("summary")
        out["inhoud"] = str(text or "")[:MAX_INHOUD]
        out["omvatteBijlagen"] = [
            urls.of("bijlagen", bijlage_uuid(c.message_id, sha)) for sha in attachments(c)
        ]
    return out


def _gelukt(c: ContactRow) -> bool | None:
    """A message that reached Eenloket is a contact made; a reply as its delivery status says
    (requested only: not known yet); a registered outbound contact does not say."""
    if c.incoming:
        return True
    if c.status in GELUKT:
        return True
    return False if c.status in NIET_GELUKT else None


def _owner(c: ContactRow) -> list[str]:
    """The team the contact was routed to: the actor that had it (the router's decision)."""
    team = c.body.get("owner_team") if c.incoming else None
    return [team] if isinstance(team, str) and team else []


def actors(urls: Urls, c: ContactRow) -> list[dict[str, Any]]:
    """The actors that had the contact: the team it was routed to; for an outgoing one the
    medewerker who sent it and the team they acted for."""
    teams = _owner(c) if c.incoming else [t for t in [c.staff_team] if t]
    staff = [medewerker(urls, c.staff)] if c.staff else []
    return staff + [actor(urls, t, urls.teams.get(t, t)) for t in teams]


def handler(urls: Urls, c: ContactRow) -> dict[str, str] | None:
    """The actor of the contact's actorklantcontact: the team it was routed to, or the
    medewerker who sent it."""
    if c.staff:
        return urls.of("actoren", medewerker_uuid(c.staff))
    return next((urls.of("actoren", actor_uuid(t)) for t in _owner(c)), None)


def attachments(c: ContactRow) -> list[str]:
    """The sha256 of each of the (incoming) contact's attachments (their claim checks); those of
    a reply are served with the reply in caseview, not as bijlagen."""
    if not c.incoming:
        return []
    return [str(a["sha256"]) for a in c.body.get("attachments") or [] if a.get("sha256")]


def betrokkene(urls: Urls, c: ContactRow) -> dict[str, Any]:
    """The party that had the contact (its initiator, as klant)."""
    return {
        **urls.of("betrokkenen", betrokkene_uuid(c.message_id)),
        "wasPartij": urls.of("partijen", c.party_id),
        "hadKlantcontact": urls.of("klantcontacten", c.message_id),
        "digitaleAdressen": [],
        "volledigeNaam": (c.party_name or "") if c.visible or not c.confidential else "",
        "rol": "klant",
        "organisatienaam": "",
        "initiator": c.incoming,  # an outgoing contact: the municipality took the initiative
    }


def onderwerpobject(urls: Urls, c: ContactRow) -> dict[str, Any]:
    """The case the contact was about, as ``codeObjecttype: "zaak"`` identified by its uuid
    (Open Zaak's convention). The filters also find it by its number (``codeSoortObjectId``
    "zaaknummer"), queries.py."""
    assert c.case_id is not None
    return {
        **urls.of("onderwerpobjecten", onderwerpobject_uuid(c.message_id)),
        "klantcontact": urls.of("klantcontacten", c.message_id),
        "onderwerpobjectidentificator": {
            "objectId": str(c.case_id),
            "codeObjecttype": "zaak",
            "codeRegister": "eenloket",
            "codeSoortObjectId": "uuid",
        },
    }


def digitaal_adres(urls: Urls, party_id: uuid.UUID, i: Identifier) -> dict[str, Any]:
    """An e-mail address or phone number of the party; ``omschrijving`` names its rung
    (authenticated, verified, claimed): what Eenloket knows of whose it is."""
    return {
        **urls.of("digitaleadressen", digitaal_adres_uuid(party_id, i.kind, i.value)),
        "verstrektDoorPartij": urls.of("partijen", party_id),
        "adres": i.value,
        "soortDigitaalAdres": ADRESSEN[i.kind],
        "isStandaardAdres": False,
        "omschrijving": i.trust[:40],
        "verificatieDatum": None,
    }


def actor(urls: Urls, team: str, name: str) -> dict[str, Any]:
    """A team of the routing file as an organisatorische eenheid."""
    return {
        **urls.of("actoren", actor_uuid(team)),
        "naam": name[:200],
        "soortActor": "organisatorische_eenheid",
        "indicatieActief": True,
        "actoridentificator": {
            "objectId": team,
            "codeObjecttype": "organisatorische_eenheid",
            "codeRegister": "eenloket",
            "codeSoortObjectId": "team",
        },
        "actorIdentificatie": {"omschrijving": name[:200]},
    }


def medewerker_uuid(user: str) -> uuid.UUID:
    return uuid.uuid5(MEDEWERKER_NAMESPACE, user)


def medewerker(urls: Urls, user: str) -> dict[str, Any]:
    """A staff member by the user id caseview holds. No ``actorIdentificatie``: the document's
    Medewerker requires a function and a phone number, and Eenloket keeps no staff register."""
    return {
        **urls.of("actoren", medewerker_uuid(user)),
        "naam": user[:200],
        "soortActor": "medewerker",
        "indicatieActief": True,
        "actoridentificator": {
            "objectId": user[:200],
            "codeObjecttype": "mdw",
            "codeRegister": "eenloket",
            "codeSoortObjectId": "gebruikersnaam",
        },
    }


def actorklantcontact(urls: Urls, c: ContactRow) -> dict[str, Any]:
    """The actor that had the contact: the team it was routed to, or the medewerker who sent
    it."""
    found = handler(urls, c)
    assert found is not None
    return {
        **urls.of("actorklantcontacten", actorklantcontact_uuid(c.message_id)),
        "actor": found,
        "klantcontact": urls.of("klantcontacten", c.message_id),
    }


def bijlage(urls: Urls, c: ContactRow, sha256: str) -> dict[str, Any]:
    """An attachment by its claim check (the bytes: caseview's attachments route)."""
    return {
        **urls.of("bijlagen", bijlage_uuid(c.message_id, sha256)),
        "wasBijlageVanKlantcontact": urls.of("klantcontacten", c.message_id),
        "bijlageidentificator": {
            "objectId": sha256,
            "codeObjecttype": "bijlage",
            "codeRegister": "eenloket",
            "codeSoortObjectId": "sha256",
        },
    }


@dataclass(frozen=True)
class TaskRow:
    """A case as the internetaak of its owning team, opened by the case's first contact."""

    case_id: uuid.UUID
    number: str
    product: str | None
    party_id: uuid.UUID
    owner_team: str
    is_open: bool
    assigned_at: datetime  # opened, or the last handover
    closed_at: datetime | None
    first_message_id: uuid.UUID
    visible: bool


def internetaak(urls: Urls, t: TaskRow) -> dict[str, Any]:
    """The owning team's open work on a case: te_verwerken while the case is open. Without
    need-to-know the product (which may tell what a confidential case is about) is left out."""
    what = f"Zaak {t.number} afhandelen"
    if t.visible and t.product:
        what += f": {t.product}"
    team = urls.of("actoren", actor_uuid(t.owner_team))
    return {
        **urls.of("internetaken", internetaak_uuid(t.case_id)),
        "nummer": None,
        "referentienummer": None,  # at most 10 characters: a case number (20) is in the handeling
        "gevraagdeHandeling": what[:200],
        "aanleidinggevendKlantcontact": urls.of("klantcontacten", t.first_message_id),
        "toegewezenAanActor": team,
        "toegewezenAanActoren": [team],
        "toelichting": "",
        "status": "te_verwerken" if t.is_open else "verwerkt",
        "toegewezenOp": _when(t.assigned_at),
        "afgehandeldOp": _when(t.closed_at) if t.closed_at else None,
    }


def page_links(url: str, page: int, page_size: int, count: int) -> tuple[str | None, str | None]:
    """``next`` and ``previous`` of an offset page, as absolute urls (``url``: this request's)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]

    def at(n: int) -> str:
        return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(n))])))

    more = page * page_size < count
    return (at(page + 1) if more else None, at(page - 1) if page > 1 else None)

"""Eenloket's read-model rows in the shape of Klantinteracties 0.9 (pure: no database, no HTTP).

Identifiers: a partij's uuid is the party id, a klantcontact's the message id. A betrokkene and
an onderwerpobject exist once per klantcontact, so their uuids are the message id XOR a fixed
mask per resource: stable, distinct, and reversible, so ``GET /betrokkenen/{uuid}`` finds
its message without a table of its own. A partij-identificator's uuid is a UUIDv5 of the
party id, kind and value (stable; found through its partij).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

BETROKKENE_MASK = 0x6265_7472_6F6B_6B65_6E65_0000_0000_0001  # "betrokkene"
ONDERWERP_MASK = 0x6F6E_6465_7277_6572_7000_0000_0000_0002  # "onderwerp"
IDENTIFICATOR_NAMESPACE = uuid.UUID("5b0c7f0e-3c1e-5e8a-9d55-6b6c616e7469")

# Eenloket identifier kind -> (codeObjecttype, codeSoortObjectId, codeRegister).
IDENTIFICATOREN = {
    "bsn": ("natuurlijk_persoon", "bsn", "brp"),
    "kvk": ("niet_natuurlijk_persoon", "kvk_nummer", "hr"),
}
# Optional groups Eenloket does not hold (addresses, a preferred address, a contact name) are
# left out rather than sent as null: the document types them `allOf` + `nullable`, which
# strict OpenAPI 3.0 validators read as not nullable.
MAX_INHOUD = 1000  # the document's maxLength; longer texts are cut (docs/klantinteracties.md)
MAX_ONDERWERP = 200


def masked(id_: uuid.UUID, mask: int) -> uuid.UUID:
    return uuid.UUID(int=id_.int ^ mask)


def betrokkene_uuid(message_id: uuid.UUID) -> uuid.UUID:
    return masked(message_id, BETROKKENE_MASK)


def onderwerpobject_uuid(message_id: uuid.UUID) -> uuid.UUID:
    return masked(message_id, ONDERWERP_MASK)


def identificator_uuid(party_id: uuid.UUID, kind: str, value: str) -> uuid.UUID:
    return uuid.uuid5(IDENTIFICATOR_NAMESPACE, f"{party_id}/{kind}/{value}")


@dataclass(frozen=True)
class Urls:
    """Absolute urls of the facade's resources (``base``: up to and including ``/v1``)."""

    base: str

    def of(self, resource: str, id_: uuid.UUID) -> dict[str, str]:
        return {"uuid": str(id_), "url": f"{self.base}/{resource}/{id_}"}


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str
    trust: str


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


def _when(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def soort_partij(identifiers: Sequence[Identifier]) -> str:
    kinds = {i.kind for i in identifiers}
    return "organisatie" if "kvk" in kinds and "bsn" not in kinds else "persoon"


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
        "digitaleAdressen": [],
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
        "hadBetrokkenActoren": [],
        "omvatteBijlagen": [],
        "hadBetrokkenen": [urls.of("betrokkenen", betrokkene_uuid(c.message_id))],
        "leiddeTotInterneTaken": [],
        "nummer": None,
        "referentienummer": None,
        "kanaal": c.channel or "",
        "onderwerp": "",
        "inhoud": "",
        "indicatieContactGelukt": True,  # a message that reached Eenloket is a contact made
        "taal": "nld",
        "vertrouwelijk": c.confidential,
        "plaatsgevondenOp": _when(c.occurred_at),
    }
    if c.visible:
        out["onderwerp"] = str(c.body.get("subject") or "")[:MAX_ONDERWERP]
        out["inhoud"] = str(c.body.get("text") or "")[:MAX_INHOUD]
    return out


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
        "initiator": True,
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


def page_links(url: str, page: int, page_size: int, count: int) -> tuple[str | None, str | None]:
    """``next`` and ``previous`` of an offset page, as absolute urls (``url``: this request's)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]

    def at(n: int) -> str:
        return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(n))])))

    more = page * page_size < count
    return (at(page + 1) if more else None, at(page - 1) if page > 1 else None)

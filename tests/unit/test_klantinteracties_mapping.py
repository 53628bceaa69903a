"""The facade's mapping from Eenloket rows to Klantinteracties resources, held to the derived
document; the integrations' tokens."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from openapi_schema_validator import OAS30ReadValidator

from services.caseview.klantinteracties import mapping
from services.caseview.klantinteracties.auth import Integrations
from services.caseview.klantinteracties.mapping import ContactRow, Identifier, PartyRow, Urls
from tests.klantinteracties import DOCUMENT, document, integration

URLS = Urls("https://eenloket.example/klantinteracties/api/v1")


def valid(schema: str, body: dict[str, Any]) -> None:
    validator = OAS30ReadValidator(
        {"$ref": f"#/components/schemas/{schema}", "components": document()["components"]}
    )
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors


def contact(*, visible: bool = True, confidential: bool = False, case: bool = True) -> ContactRow:
    return ContactRow(
        message_id=uuid.uuid4(),
        party_id=uuid.uuid4(),
        party_name="Fatima el Amrani",
        channel="email",
        occurred_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        body={"subject": "Bijstand", "text": "x" * 1500},
        case_id=uuid.uuid4() if case else None,
        case_number="ZAAK-2026-0000000001" if case else None,
        confidential=confidential,
        visible=visible,
    )


def test_the_derived_document_is_the_unmodified_copy() -> None:
    digest = hashlib.sha256(DOCUMENT.read_bytes()).hexdigest()
    assert digest == "52ae448e17d4189dc9f29d08754074bad0a41863db5b5d822457e8b77d828798"


def test_a_message_is_a_conforming_klantcontact_with_its_contents_cut_to_the_maximum() -> None:
    c = contact()
    body = mapping.klantcontact(URLS, c)
    valid("Klantcontact", body)
    assert body["uuid"] == str(c.message_id)
    assert body["url"] == f"{URLS.base}/klantcontacten/{c.message_id}"
    assert (body["kanaal"], body["onderwerp"]) == ("email", "Bijstand")
    assert body["inhoud"] == "x" * 1000 and body["plaatsgevondenOp"] == "2026-03-01T09:30:00Z"
    assert body["hadBetrokkenen"][0]["uuid"] == str(mapping.betrokkene_uuid(c.message_id))


def test_a_confidential_contact_without_need_to_know_shows_no_contents() -> None:
    c = contact(visible=False, confidential=True)
    body = mapping.klantcontact(URLS, c)
    valid("Klantcontact", body)
    assert body["vertrouwelijk"] is True
    assert body["onderwerp"] == "" and body["inhoud"] == ""
    assert mapping.betrokkene(URLS, c)["volledigeNaam"] == ""


def test_betrokkene_and_onderwerpobject_conform_and_their_uuids_lead_back_to_the_message() -> None:
    c = contact()
    b, o = mapping.betrokkene(URLS, c), mapping.onderwerpobject(URLS, c)
    valid("Betrokkene", b)
    valid("Onderwerpobject", o)
    assert mapping.masked(uuid.UUID(b["uuid"]), mapping.BETROKKENE_MASK) == c.message_id
    assert mapping.masked(uuid.UUID(o["uuid"]), mapping.ONDERWERP_MASK) == c.message_id
    assert o["onderwerpobjectidentificator"]["objectId"] == str(c.case_id)
    assert o["onderwerpobjectidentificator"]["codeObjecttype"] == "zaak"


@pytest.mark.parametrize(
    ("kinds", "soort"), [(("bsn", "email"), "persoon"), (("kvk",), "organisatie"), ((), "persoon")]
)
def test_a_party_is_a_conforming_partij(kinds: tuple[str, ...], soort: str) -> None:
    values = {"bsn": "999993653", "kvk": "12345678", "email": "a@example.org"}
    p = PartyRow(
        uuid.uuid4(),
        "Van den Berg",
        [Identifier(k, values[k], "authenticated") for k in kinds],
        [uuid.uuid4()],
    )
    body = mapping.partij(URLS, p)
    valid("Partij", body)
    assert body["soortPartij"] == soort
    shown = [i["partijIdentificator"]["codeSoortObjectId"] for i in body["partijIdentificatoren"]]
    assert shown == [{"bsn": "bsn", "kvk": "kvk_nummer"}[k] for k in kinds if k != "email"]
    again = mapping.partij(URLS, p)["partijIdentificatoren"]
    assert [i["uuid"] for i in again] == [i["uuid"] for i in body["partijIdentificatoren"]]


def test_page_links_keep_the_filters_and_stop_at_the_ends() -> None:
    url = f"{URLS.base}/klantcontacten?kanaal=email&pageSize=2&page=2"
    nxt, prev = mapping.page_links(url, 2, 2, 5)
    assert nxt == f"{URLS.base}/klantcontacten?kanaal=email&pageSize=2&page=3"
    assert prev == f"{URLS.base}/klantcontacten?kanaal=email&pageSize=2&page=1"
    assert mapping.page_links(url, 3, 2, 5)[0] is None
    assert mapping.page_links(url, 1, 2, 5)[1] is None


def test_a_token_finds_only_its_own_integration() -> None:
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    found = Integrations.load(
        f"[{integration('kcc-app', a, teams=['kcc'])},{integration('portal', b, teams=[])}]",
        None,
    )
    first, second = found.find(a), found.find(b)
    assert first is not None and first.name == "kcc-app" and first.teams == {"kcc"}
    assert second is not None and second.name == "portal"
    assert found.find(uuid.uuid4().hex) is None
    assert first.principal().user == "integration:kcc-app"
    with pytest.raises(ValueError, match="unique"):
        Integrations.load(
            f"[{integration('x', a, teams=[])},{integration('x', b, teams=[])}]", None
        )


def test_identifiers_and_addresses_conform_and_their_uuids_lead_back_to_the_party() -> None:
    party = uuid.uuid4()
    bsn, email = (
        Identifier("bsn", "123456782", "authenticated"),
        Identifier("email", "a@b.nl", "verified"),
    )
    ident = mapping.partij_identificator(URLS, party, bsn)
    valid("PartijIdentificator", ident)
    adres = mapping.digitaal_adres(URLS, party, email)
    valid("DigitaalAdres", adres)
    assert (adres["soortDigitaalAdres"], adres["omschrijving"]) == ("email", "verified")
    for shown in (ident, adres):
        low, high = mapping.owner_range(uuid.UUID(shown["uuid"]))
        assert low <= party <= high  # the detail route finds the party by this range
    assert ident["uuid"] != adres["uuid"]
    row = PartyRow(party, "Anna", [bsn, email], [])
    assert mapping.partij(URLS, row)["digitaleAdressen"] == [
        {"uuid": adres["uuid"], "url": adres["url"]}
    ]


def test_a_team_is_an_organisatorische_eenheid_and_a_contact_names_its_team() -> None:
    team = mapping.actor(URLS, "burgerzaken", "Burgerzaken")
    valid("Actor", team)
    assert team["uuid"] == str(mapping.actor_uuid("burgerzaken"))
    urls = Urls(URLS.base, {"burgerzaken": "Burgerzaken"})
    c = replace(contact(), body={"subject": "Paspoort", "text": "", "owner_team": "burgerzaken"})
    body = mapping.klantcontact(urls, c)
    valid("Klantcontact", body)
    assert body["hadBetrokkenActoren"] == [team]
    link = mapping.actorklantcontact(urls, c)
    valid("ActorKlantcontact", link)
    assert mapping.masked(uuid.UUID(link["uuid"]), mapping.ACTOR_KLANTCONTACT_MASK) == c.message_id


def test_attachments_are_bijlagen_shown_only_with_need_to_know() -> None:
    sha = hashlib.sha256(b"scan").hexdigest()
    body = {"subject": "Brief", "text": "", "attachments": [{"sha256": sha}]}
    seen = replace(contact(), body=body)
    assert mapping.klantcontact(URLS, seen)["omvatteBijlagen"] == [
        URLS.of("bijlagen", mapping.bijlage_uuid(seen.message_id, sha))
    ]
    valid("Bijlage", mapping.bijlage(URLS, seen, sha))
    hidden = replace(seen, visible=False, confidential=True)
    assert mapping.klantcontact(URLS, hidden)["omvatteBijlagen"] == []


@pytest.mark.parametrize("visible", [True, False])
def test_a_case_is_its_teams_internetaak(visible: bool) -> None:
    task = mapping.TaskRow(
        case_id=uuid.uuid4(),
        number="ZAAK-2026-0000000007",
        product="bijstand",
        party_id=uuid.uuid4(),
        owner_team="werk-en-inkomen",
        is_open=False,
        assigned_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        closed_at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC),
        first_message_id=uuid.uuid4(),
        visible=visible,
    )
    body = mapping.internetaak(URLS, task)
    valid("InterneTaak", body)
    assert (body["status"], body["afgehandeldOp"]) == ("verwerkt", "2026-03-04T12:00:00Z")
    assert body["gevraagdeHandeling"].endswith(": bijstand") is visible
    assert mapping.masked(uuid.UUID(body["uuid"]), mapping.INTERNETAAK_MASK) == task.case_id

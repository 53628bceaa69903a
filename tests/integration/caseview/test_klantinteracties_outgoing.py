"""The facade's outgoing contacts and staff (issue #20), on real Kafka and PostgreSQL and on
SQLite: replies and registered outbound contacts as klantcontacten among the resident's own in
caseview's history order; the staff who sent them as medewerker actoren (only for an
integration that may read histories, and access-logged); every 200 through ``conforms``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.caseview import orm
from services.caseview.klantinteracties import mapping
from shared.contracts import Actor, Channel, MessageRouted, OutboundContactRegistered
from shared.contracts.outbound import ReplyChannel, ReplyRequested, ReplyStatus, ReplyStatusChanged
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent
from tests.integration.caseview.conftest import Party, running, send, settings_for, token
from tests.klantinteracties import PREFIX, conforms, integration, problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CONTACTS = {MessageRouted.TYPE: "message_id", ReplyRequested.TYPE: "reply_id"}
CONTACTS[OutboundContactRegistered.TYPE] = "contact_id"


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Token {value}"}


def reply(p: Party, case: uuid.UUID, by: Actor, subject: str) -> tuple[uuid.UUID, CloudEvent]:
    reply_id = uuid.uuid4()
    event = p.event(
        ReplyRequested(
            reply_id=reply_id,
            case_id=case,
            party_id=p.id,
            identifier_id=uuid.uuid4(),
            channel=ReplyChannel.EMAIL,
            recipient_trust="verified",
            subject=subject,
            text=f"{subject}: ons antwoord",
            template=None,
            attachments=[],
            notice_only=False,
            by=by,
            at=p.at(),
        )
    )
    return reply_id, event


def phoned(p: Party, case: uuid.UUID, by: Actor, summary: str) -> tuple[uuid.UUID, CloudEvent]:
    """Staff registered that they called the resident (an outbound contact)."""
    contact_id = uuid.uuid4()
    event = p.event(
        OutboundContactRegistered(
            contact_id=contact_id,
            case_id=case,
            party_id=p.id,
            channel=Channel.PHONE,
            summary=summary,
            by=by,
            at=p.at(),
        )
    )
    return contact_id, event


def status(p: Party, case: uuid.UUID, reply_id: uuid.UUID, to: ReplyStatus) -> CloudEvent:
    return p.event(
        ReplyStatusChanged(
            reply_id=reply_id,
            case_id=case,
            party_id=p.id,
            channel=ReplyChannel.EMAIL,
            status=to,
            reason=None,
            reference=None,
            at=p.at(),
        )
    )


async def test_replies_and_registered_contacts_are_klantcontacten_sent_by_medewerkers(
    kafka_bootstrap, db_urls, topics, producer
):
    p = Party()
    tag = uuid.uuid4().hex[:8]
    anna, bob = f"anna-{tag}", f"bob-{tag}"
    created = p.created("Anna de Vries", ("email", f"{tag}@example.org", "verified"))
    passport, passport_no, opened = p.case("paspoort", "burgerzaken")
    web = p.message(passport, passport_no, Channel.WEB, "Paspoort", owner="burgerzaken")
    answered, answer = reply(p, passport, Actor(user=anna, team="burgerzaken"), "Uw paspoort")
    delivered = status(p, passport, answered, ReplyStatus.DELIVERED)
    aid, _, aid_opened = p.case("bijstand", "werk-en-inkomen", confidential=True)
    bounced, secret = reply(p, aid, Actor(user=bob, team="werk-en-inkomen"), "Uw schulden")
    bounce = status(p, aid, bounced, ReplyStatus.BOUNCED)
    pending, waiting = reply(p, passport, Actor(user=anna, team="burgerzaken"), "Nog iets")
    phoned_id, called = phoned(
        p, passport, Actor(user=bob, team="kcc"), "Teruggebeld over de afspraak"
    )
    social, desk, teams_only = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    no_roles = integration(f"teams-{teams_only[:6]}", teams_only, teams=["kcc"])
    integrations = (
        f"[{integration(f'social-{social[:6]}', social, teams=['werk-en-inkomen'])},"
        f"{integration(f'desk-{desk[:6]}', desk, teams=['kcc'])},"
        f'{no_roles[:-1]}, "roles": []}}]'
    )
    settings = settings_for(
        db_urls["caseview"], kafka_bootstrap, topics, klantinteracties_integrations=integrations
    )
    events = [created, opened, web, answer, delivered, aid_opened, secret, bounce, waiting, called]
    async with running(settings) as cv:
        await send(producer, topics.timeline, *events)
        await cv.projected(*events)
        c = cv.client

        # The history, incoming and outgoing, in caseview's order.
        url = f"{PREFIX}/klantcontacten"
        query = {"hadBetrokkene__wasPartij__uuid": str(p.id)}
        page = conforms(await c.get(url, params=query, headers=auth(desk)))
        staff = token(teams=["kcc", "werk-en-inkomen"], roles=["kcc"])  # sees every body
        own = (await c.get(f"/v1/parties/{p.id}/timeline", headers=staff)).json()
        history = [
            str(e["data"][CONTACTS[e["type"]]]) for e in own["items"] if e["type"] in CONTACTS
        ]
        assert [r["uuid"] for r in page["results"]] == history
        ids = [str(web.data["message_id"]), str(answered), str(bounced), str(pending)]
        assert set(history) == {*ids, str(phoned_id)}
        by_id = {r["uuid"]: r for r in page["results"]}

        # A reply: its channel, contents, delivery as indicatieContactGelukt, who sent it.
        sent = by_id[str(answered)]
        assert (sent["kanaal"], sent["onderwerp"], sent["indicatieContactGelukt"]) == (
            "email",
            "Uw paspoort",
            True,
        )
        assert [a["soortActor"] for a in sent["hadBetrokkenActoren"]] == [
            "medewerker",
            "organisatorische_eenheid",
        ]
        assert sent["hadBetrokkenActoren"][0]["naam"] == anna
        assert by_id[str(pending)]["indicatieContactGelukt"] is None
        call = by_id[str(phoned_id)]
        assert (call["kanaal"], call["inhoud"]) == ("phone", "Teruggebeld over de afspraak")
        # The confidential reply: redacted without the owning team, and it did not arrive.
        hidden = by_id[str(bounced)]
        assert (hidden["vertrouwelijk"], hidden["onderwerp"], hidden["inhoud"]) == (True, "", "")
        assert hidden["indicatieContactGelukt"] is False
        mine = conforms(await c.get(f"{url}/{bounced}", headers=auth(social)))
        assert mine["onderwerp"] == "Uw schulden"

        # The detail routes resolve an outgoing contact's uuids.
        betrokkene = conforms(
            await c.get(
                f"{PREFIX}/betrokkenen/{mapping.betrokkene_uuid(answered)}", headers=auth(desk)
            )
        )
        assert betrokkene["initiator"] is False and betrokkene["wasPartij"]["uuid"] == str(p.id)
        about = mapping.onderwerpobject_uuid(phoned_id)
        found = conforms(await c.get(f"{PREFIX}/onderwerpobjecten/{about}", headers=auth(desk)))
        assert found["onderwerpobjectidentificator"]["objectId"] == str(passport)
        link = mapping.actorklantcontact_uuid(answered)
        linked = conforms(await c.get(f"{PREFIX}/actorklantcontacten/{link}", headers=auth(desk)))
        assert linked["actor"]["uuid"] == str(mapping.medewerker_uuid(anna))
        partij = conforms(await c.get(f"{PREFIX}/partijen/{p.id}", headers=auth(desk)))
        assert str(mapping.betrokkene_uuid(answered)) in {b["uuid"] for b in partij["betrokkenen"]}

        # Medewerkers: listed, filtered, by uuid, and the contacts they sent.
        await medewerkers(c, desk, anna, bob, answered, pending)
        # Staff names only to an integration whose roles may read histories.
        actors = conforms(await c.get(f"{PREFIX}/actoren", headers=auth(teams_only)))
        assert {a["soortActor"] for a in actors["results"]} == {"organisatorische_eenheid"}
        problem(
            await c.get(
                f"{PREFIX}/actoren/{mapping.medewerker_uuid(anna)}", headers=auth(teams_only)
            ),
            403,
        )

    engine = create_engine(db_urls["caseview"])
    try:
        async with session_factory(engine)() as s:
            a = orm.access_log
            logged = await s.scalars(
                select(a.c.detail).where(a.c.user == f"integration:desk-{desk[:6]}")
            )
            assert "klantinteracties medewerkers" in set(logged)
    finally:
        await engine.dispose()


async def medewerkers(
    c: httpx.AsyncClient, token_: str, anna: str, bob: str, *sent: uuid.UUID
) -> None:
    def names(page: dict[str, Any]) -> list[str]:
        return [a["naam"] for a in page["results"] if a["soortActor"] == "medewerker"]

    actoren = f"{PREFIX}/actoren"
    mdw = {"soortActor": "medewerker"}
    listed = conforms(await c.get(actoren, params=mdw, headers=auth(token_)))
    assert {anna, bob} <= set(names(listed))
    assert all(a["soortActor"] == "medewerker" for a in listed["results"])
    one = {
        "actoridentificatorObjectId": anna,
        "actoridentificatorCodeSoortObjectId": "gebruikersnaam",
    }
    assert names(conforms(await c.get(actoren, params=one, headers=auth(token_)))) == [anna]
    found = conforms(
        await c.get(f"{actoren}/{mapping.medewerker_uuid(anna)}", headers=auth(token_))
    )
    assert found["actoridentificator"]["objectId"] == anna and found["indicatieActief"] is True
    problem(await c.get(f"{actoren}/{uuid.uuid4()}", headers=auth(token_)), 404)
    links = conforms(
        await c.get(
            f"{PREFIX}/actorklantcontacten",
            params={"actor__uuid": str(mapping.medewerker_uuid(anna))},
            headers=auth(token_),
        )
    )
    assert {r["klantcontact"]["uuid"] for r in links["results"]} == {str(s) for s in sent}


async def test_the_expand_values_eenloket_holds(kafka_bootstrap, db_urls, topics, producer):
    p = Party()
    created = p.created(
        "Anna de Vries", ("email", f"{uuid.uuid4().hex[:8]}@example.org", "verified")
    )
    case, number, opened = p.case("paspoort", "burgerzaken")
    first = p.message(case, number, Channel.WEB, "Paspoort", owner="burgerzaken")
    second = p.message(case, number, Channel.EMAIL, "Nog een vraag", owner="burgerzaken")
    answered, answer = reply(p, case, Actor(user="u-expand", team="burgerzaken"), "Antwoord")
    desk = uuid.uuid4().hex
    settings = settings_for(
        db_urls["caseview"],
        kafka_bootstrap,
        topics,
        klantinteracties_integrations=f"[{integration(f'desk-{desk[:6]}', desk, teams=['kcc'])}]",
    )
    events = [created, opened, first, second, answer]
    async with running(settings) as cv:
        await send(producer, topics.timeline, *events)
        await cv.projected(*events)
        c = cv.client
        every = (
            "hadBetrokkenen,hadBetrokkenen.wasPartij,hadBetrokkenen.digitaleAdressen,"
            "gingOverOnderwerpobjecten,omvatteBijlagen,leiddeTotInterneTaken"
        )
        query = {"hadBetrokkene__wasPartij__uuid": str(p.id), "expand": every}
        page = conforms(await c.get(f"{PREFIX}/klantcontacten", params=query, headers=auth(desk)))
        by_id = {r["uuid"]: r for r in page["results"]}
        task = str(mapping.internetaak_uuid(case))
        # The contact that opened the case led to its internetaak; the others to none.
        opener = by_id[str(first.data["message_id"])]
        assert [t["uuid"] for t in opener["leiddeTotInterneTaken"]] == [task]
        assert [t["uuid"] for t in opener["_expand"]["leiddeTotInterneTaken"]] == [task]
        later = by_id[str(second.data["message_id"])]
        assert later["leiddeTotInterneTaken"] == later["_expand"]["leiddeTotInterneTaken"] == []
        inner = by_id[str(answered)]["_expand"]["hadBetrokkenen"][0]["_expand"]
        assert inner["wasPartij"]["uuid"] == str(p.id) and inner["digitaleAdressen"] == []
        detail = conforms(
            await c.get(
                f"{PREFIX}/klantcontacten/{answered}",
                params={"expand": "hadBetrokkenen.wasPartij"},
                headers=auth(desk),
            )
        )
        assert detail["_expand"]["hadBetrokkenen"][0]["initiator"] is False
        tasks = conforms(
            await c.get(
                f"{PREFIX}/internetaken",
                params={"klantcontact__uuid": str(first.data["message_id"])},
                headers=auth(desk),
            )
        )
        assert [t["uuid"] for t in tasks["results"]] == [task]

        # A partij's betrokkenen, each with its klantcontact; a betrokkene's addresses: none.
        expand = {"expand": "betrokkenen,betrokkenen.hadKlantcontact,digitaleAdressen"}
        partij = conforms(
            await c.get(f"{PREFIX}/partijen/{p.id}", params=expand, headers=auth(desk))
        )
        listed = partij["_expand"]["betrokkenen"]
        assert [b["uuid"] for b in listed] == [b["uuid"] for b in partij["betrokkenen"]]
        assert [b["_expand"]["hadKlantcontact"]["uuid"] for b in listed] == list(by_id)
        assert len(partij["_expand"]["digitaleAdressen"]) == 1
        partijen = conforms(
            await c.get(
                f"{PREFIX}/partijen",
                params={"partijIdentificator__objectId": "nobody", **expand},
                headers=auth(desk),
            )
        )
        assert partijen["count"] == 0
        betrokkenen = conforms(
            await c.get(
                f"{PREFIX}/betrokkenen",
                params={"wasPartij__uuid": str(p.id), "expand": "digitaleAdressen"},
                headers=auth(desk),
            )
        )
        assert [b["_expand"] for b in betrokkenen["results"]] == [{"digitaleAdressen": []}] * 3

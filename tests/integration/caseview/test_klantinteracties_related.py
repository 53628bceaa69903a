"""The facade's reads of what hangs off partijen and klantcontacten, on real Kafka and
PostgreSQL: partij-identificatoren (the links a partij gives resolve), digitaleadressen,
actoren (the routing file's teams), actorklantcontacten, bijlagen and internetaken, with
need-to-know on the confidential case; every 200 validated against the 0.9.0 document. On
PostgreSQL and SQLite: the detail routes find an owner by a range of uuids (mapping.prefixed),
which each stores in its own way."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import pytest

from shared.contracts import AttachmentRef, Channel
from tests.integration.caseview.conftest import Party, running, send, settings_for
from tests.klantinteracties import PREFIX, conforms, integration, problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Token {value}"}


def scan(name: str) -> AttachmentRef:
    sha = hashlib.sha256(f"{name}{uuid.uuid4()}".encode()).hexdigest()
    return AttachmentRef(sha256=sha, filename=name, media_type="application/pdf", size=1234)


async def uuids(c: httpx.AsyncClient, path: str, token: str, **params: Any) -> list[str]:
    page = conforms(await c.get(f"{PREFIX}/{path}", params=params, headers=auth(token)))
    return [r["uuid"] for r in page["results"]]


async def test_identifiers_addresses_teams_attachments_and_tasks(
    kafka_bootstrap, db_urls, topics, producer
):
    p = Party()
    bsn = f"{uuid.uuid4().int % 10**9:09d}"
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    phone = f"+316{uuid.uuid4().int % 10**8:08d}"  # random: the session's database is shared
    created = p.created(
        "Anna de Vries",
        ("bsn", bsn, "authenticated"),
        ("email", email, "verified"),
        ("phone", phone, "claimed"),
    )
    passport, passport_no, opened = p.case("paspoort", "burgerzaken")
    photo, letter = scan("pasfoto.pdf"), scan("brief.pdf")
    web = p.message(
        passport, passport_no, Channel.WEB, "Paspoort", owner="burgerzaken", attachments=[photo]
    )
    aid, aid_no, aid_opened = p.case("bijstand", "werk-en-inkomen", confidential=True)
    secret = p.message(
        aid, aid_no, Channel.LETTER, "Schulden", owner="werk-en-inkomen", attachments=[letter]
    )
    social, desk = uuid.uuid4().hex, uuid.uuid4().hex
    integrations = (
        f"[{integration(f'social-{social[:6]}', social, teams=['werk-en-inkomen'])},"
        f"{integration(f'desk-{desk[:6]}', desk, teams=['kcc'])}]"
    )
    settings = settings_for(
        db_urls["caseview"], kafka_bootstrap, topics, klantinteracties_integrations=integrations
    )
    events = [created, opened, web, aid_opened, secret]
    async with running(settings) as cv:
        await send(producer, topics.timeline, *events)
        await cv.projected(*events)
        c = cv.client

        # The partij's links resolve: its BSN as partij-identificator, its addresses.
        partij = conforms(
            await c.get(
                f"{PREFIX}/partijen/{p.id}",
                params={"expand": "digitaleAdressen"},
                headers=auth(desk),
            )
        )
        (ident,) = partij["partijIdentificatoren"]
        assert conforms(await c.get(ident["url"], headers=auth(desk))) == ident
        assert ident["identificeerdePartij"]["uuid"] == str(p.id)
        addresses = partij["_expand"]["digitaleAdressen"]
        assert {a["uuid"] for a in addresses} == {a["uuid"] for a in partij["digitaleAdressen"]}
        by_kind = {a["soortDigitaalAdres"]: a for a in addresses}
        assert by_kind["email"]["adres"] == email and by_kind["email"]["omschrijving"] == "verified"
        assert (
            conforms(await c.get(by_kind["email"]["url"], headers=auth(desk))) == by_kind["email"]
        )
        assert await uuids(
            c,
            "partij-identificatoren",
            desk,
            partijIdentificatorCodeSoortObjectId="bsn",
            partijIdentificatorObjectId=bsn,
        ) == [ident["uuid"]]
        assert await uuids(c, "digitaleadressen", desk, verstrektDoorPartij__uuid=str(p.id)) == [
            a["uuid"] for a in sorted(addresses, key=lambda a: a["soortDigitaalAdres"] != "email")
        ]
        assert await uuids(
            c, "digitaleadressen", desk, soortDigitaalAdres="telefoonnummer", adres=phone
        ) == [by_kind["telefoonnummer"]["uuid"]]
        problem(
            await c.get(f"{PREFIX}/partij-identificatoren/{uuid.uuid4()}", headers=auth(desk)), 404
        )

        # Actoren: the routing file's teams; the contact's team through actorklantcontacten.
        teams = conforms(
            await c.get(f"{PREFIX}/actoren", params={"pageSize": 500}, headers=auth(desk))
        )
        burgerzaken = next(
            a for a in teams["results"] if a["actoridentificator"]["objectId"] == "burgerzaken"
        )
        assert burgerzaken["soortActor"] == "organisatorische_eenheid"
        assert burgerzaken["naam"] == "Burgerzaken"
        assert conforms(await c.get(burgerzaken["url"], headers=auth(desk))) == burgerzaken
        problem(await c.get(f"{PREFIX}/actoren/{uuid.uuid4()}", headers=auth(desk)), 404)
        contact = conforms(
            await c.get(f"{PREFIX}/klantcontacten/{web.data['message_id']}", headers=auth(desk))
        )
        assert contact["hadBetrokkenActoren"] == [burgerzaken]
        links = conforms(
            await c.get(
                f"{PREFIX}/actorklantcontacten",
                # Both filters: the session's database is shared (and kept between runs on
                # a developer's server), so the team has more contacts than one page.
                params={"actor__uuid": burgerzaken["uuid"], "klantcontact__uuid": contact["uuid"]},
                headers=auth(desk),
            )
        )
        (link,) = [r for r in links["results"] if r["klantcontact"]["uuid"] == contact["uuid"]]
        assert conforms(await c.get(link["url"], headers=auth(desk))) == link

        # Bijlagen: the contact's attachment; the confidential letter only for its team.
        (bijlage,) = contact["omvatteBijlagen"]
        shown = conforms(await c.get(bijlage["url"], headers=auth(desk)))
        assert shown["bijlageidentificator"]["objectId"] == photo.sha256
        assert shown["wasBijlageVanKlantcontact"]["uuid"] == contact["uuid"]
        secret_id = str(secret.data["message_id"])
        assert await uuids(c, "bijlagen", desk, klantcontact__uuid=secret_id) == []
        (theirs,) = await uuids(c, "bijlagen", social, klantcontact__uuid=secret_id)
        problem(await c.get(f"{PREFIX}/bijlagen/{theirs}", headers=auth(desk)), 404)
        conforms(await c.get(f"{PREFIX}/bijlagen/{theirs}", headers=auth(social)))
        expanded = conforms(
            await c.get(
                f"{PREFIX}/klantcontacten",
                params={"hadBetrokkene__wasPartij__uuid": str(p.id), "expand": "omvatteBijlagen"},
                headers=auth(desk),
            )
        )
        assert [len(r["_expand"]["omvatteBijlagen"]) for r in expanded["results"]] == [0, 1]

        # Internetaken: each case as its owning team's open work, opened by its first contact.
        task_of = str(web.data["message_id"])
        task = conforms(
            await c.get(
                f"{PREFIX}/internetaken",
                params={"klantcontact__uuid": task_of},
                headers=auth(desk),
            )
        )["results"][0]
        assert task["status"] == "te_verwerken" and task["afgehandeldOp"] is None
        assert task["toegewezenAanActor"]["uuid"] == burgerzaken["uuid"]
        assert task["gevraagdeHandeling"] == f"Zaak {passport_no} afhandelen: paspoort"
        assert conforms(await c.get(task["url"], headers=auth(desk))) == task
        hidden = conforms(
            await c.get(
                f"{PREFIX}/internetaken",
                params={"klantcontact__uuid": secret_id},
                headers=auth(desk),
            )
        )["results"][0]
        assert hidden["gevraagdeHandeling"] == f"Zaak {aid_no} afhandelen"
        assert (
            await uuids(c, "internetaken", desk, status="verwerkt", klantcontact__uuid=task_of)
            == []
        )

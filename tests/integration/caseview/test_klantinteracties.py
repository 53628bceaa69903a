"""The Klantinteracties facade on real Kafka and PostgreSQL: a resident's history projected by
caseview, read back as an Open Klant client reads it; every 200 validated against the derived
0.9.0 document."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from services.caseview import orm
from shared.contracts import Channel, MessageRouted
from shared.db.engine import create_engine, session_factory
from tests.integration.caseview.conftest import (
    Party,
    running,
    send,
    settings_for,
    team_name,
    token,
)
from tests.klantinteracties import PREFIX, conforms, integration, problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Token {value}"}


async def test_a_residents_contacts_through_the_facade(kafka_bootstrap, pg_urls, topics, producer):
    team, social = team_name(), team_name()
    p = Party()
    bsn = f"{uuid.uuid4().int % 10**9:09d}"
    created = p.created("Émile van den Berg", ("bsn", bsn, "authenticated"))
    passport, passport_no, opened = p.case("paspoort", team)
    web = p.message(passport, passport_no, Channel.WEB, "Paspoort verlopen", subject="Paspoort")
    mail = p.message(passport, passport_no, Channel.EMAIL, "Nog een vraag", owner=team)
    aid, aid_no, aid_opened = p.case("bijstand", social, confidential=True)
    secret = p.message(aid, aid_no, Channel.PHONE, "Mijn schulden", subject="Schulden")
    kcc, portal = uuid.uuid4().hex, uuid.uuid4().hex
    integrations = (
        f"[{integration(f'kcc-{kcc[:6]}', kcc, teams=[social], purpose='klantcontact')},"
        f"{integration(f'portal-{portal[:6]}', portal, teams=[team])}]"
    )
    settings = settings_for(
        pg_urls["caseview"], kafka_bootstrap, topics, klantinteracties_integrations=integrations
    )
    events = [created, opened, web, mail, aid_opened, secret]
    async with running(settings) as cv:
        await send(producer, topics.timeline, *events)
        await cv.projected(*events)
        c = cv.client

        # No token, another scheme, an unknown token: 401 with a Dutch title.
        url = f"{PREFIX}/klantcontacten"
        assert problem(await c.get(url), 401)["title"] == "Niet geauthenticeerd"
        problem(await c.get(url, headers={"Authorization": f"Bearer {kcc}"}), 401)
        problem(await c.get(url, headers=auth(uuid.uuid4().hex)), 401)

        # The resident's history, as caseview's own timeline has it (same contacts, same order).
        query = {"hadBetrokkene__wasPartij__uuid": str(p.id), "expand": "hadBetrokkenen"}
        page = conforms(await c.get(url, params=query, headers=auth(kcc)))
        staff = token(teams=[social], roles=["kcc"])
        own = (await c.get(f"/v1/parties/{p.id}/timeline", headers=staff)).json()
        messages = [str(e["message_id"]) for e in own["items"] if e["type"] == MessageRouted.TYPE]
        assert [r["uuid"] for r in page["results"]] == messages
        assert page["count"] == 3 and page["next"] is None and page["previous"] is None
        first = page["results"][-1]
        assert (first["kanaal"], first["onderwerp"], first["inhoud"]) == (
            "web",
            "Paspoort",
            "Paspoort verlopen",
        )
        assert first["url"].startswith("http") and first["url"].endswith(
            str(web.data["message_id"])
        )
        assert first["_expand"]["hadBetrokkenen"][0]["wasPartij"]["uuid"] == str(p.id)

        # The confidential contact: its contents for the integration of the social team only.
        mine = conforms(await c.get(f"{url}/{secret.data['message_id']}", headers=auth(kcc)))
        assert mine["vertrouwelijk"] is True and mine["inhoud"] == "Mijn schulden"
        other = conforms(await c.get(f"{url}/{secret.data['message_id']}", headers=auth(portal)))
        assert other["vertrouwelijk"] is True and (other["onderwerp"], other["inhoud"]) == ("", "")

        # Pagination: pageSize 2 of 3, absolute next/previous that keep the filters.
        two = conforms(await c.get(url, params={**query, "pageSize": 2}, headers=auth(kcc)))
        assert len(two["results"]) == 2 and two["previous"] is None
        rest = conforms(await c.get(two["next"], headers=auth(kcc)))
        assert [r["uuid"] for r in rest["results"]] == messages[2:] and rest["next"] is None
        problem(await c.get(url, params={"pageSize": 501}, headers=auth(kcc)), 422)

        # Filters: kanaal, the date range, the case as onderwerpobject (uuid or number).
        by_channel = conforms(
            await c.get(url, params={**query, "kanaal": "email"}, headers=auth(kcc))
        )
        assert [r["uuid"] for r in by_channel["results"]] == [str(mail.data["message_id"])]
        at = first["plaatsgevondenOp"]
        ranged = {**query, "plaatsgevondenOp__gte": at, "plaatsgevondenOp__lte": at}
        assert [
            r["uuid"]
            for r in conforms(await c.get(url, params=ranged, headers=auth(kcc)))["results"]
        ] == [first["uuid"]]
        case_query = {
            "onderwerpobject__onderwerpobjectidentificatorCodeObjecttype": "zaak",
            "onderwerpobject__onderwerpobjectidentificatorObjectId": str(passport),
        }
        about = conforms(await c.get(url, params=case_query, headers=auth(kcc)))
        assert {r["uuid"] for r in about["results"]} == {
            str(web.data["message_id"]),
            str(mail.data["message_id"]),
        }
        objects = conforms(
            await c.get(
                f"{PREFIX}/onderwerpobjecten",
                params={
                    "onderwerpobjectidentificatorCodeSoortObjectId": "zaaknummer",
                    "onderwerpobjectidentificatorObjectId": passport_no,
                },
                headers=auth(kcc),
            )
        )
        assert {o["onderwerpobjectidentificator"]["objectId"] for o in objects["results"]} == {
            str(passport)
        }
        one = objects["results"][0]
        assert conforms(await c.get(one["url"], headers=auth(kcc))) == one

        # Betrokkenen, and the partij found by its BSN with the BSN as partij-identificator.
        involved = conforms(
            await c.get(
                f"{PREFIX}/betrokkenen", params={"wasPartij__uuid": str(p.id)}, headers=auth(kcc)
            )
        )
        assert involved["count"] == 3
        assert (
            conforms(await c.get(involved["results"][0]["url"], headers=auth(kcc)))
            == involved["results"][0]
        )
        found = conforms(
            await c.get(
                f"{PREFIX}/partijen",
                params={
                    "partijIdentificator__codeSoortObjectId": "bsn",
                    "partijIdentificator__objectId": bsn,
                },
                headers=auth(kcc),
            )
        )
        assert [r["uuid"] for r in found["results"]] == [str(p.id)]
        partij = conforms(await c.get(f"{PREFIX}/partijen/{p.id}", headers=auth(kcc)))
        assert partij["partijIdentificatoren"][0]["partijIdentificator"]["objectId"] == bsn
        assert len(partij["betrokkenen"]) == 3

        # 404 as a problem; an unknown partij is logged as not found.
        problem(await c.get(f"{PREFIX}/partijen/{uuid.uuid4()}", headers=auth(kcc)), 404)
        problem(await c.get(f"{url}/{uuid.uuid4()}", headers=auth(kcc)), 404)

    # Every read is in the access log, under the integration's name and purpose.
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            a = orm.access_log
            rows = (
                await s.execute(select(a).where(a.c.user == f"integration:kcc-{kcc[:6]}"))
            ).all()
    finally:
        await engine.dispose()
    assert rows and all(r.purpose == "klantcontact" for r in rows)
    assert {r.party_id for r in rows if r.outcome == "ok"} == {p.id}
    assert any(r.outcome == "not-found" for r in rows)


async def test_the_facade_answers_as_the_token_scheme_requires_without_integrations(
    kafka_bootstrap, pg_urls, topics
):
    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        response = await cv.client.get(f"{PREFIX}/partijen", headers=auth("anything"))
        assert problem(response, 401)["detail"] == "Dit token is onbekend."
        assert response.headers["WWW-Authenticate"].startswith("Token")
        assert isinstance(cv.client, httpx.AsyncClient)

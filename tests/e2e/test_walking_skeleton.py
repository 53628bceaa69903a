"""One real message the whole way: HTTP -> ingest -> Kafka -> router -> outbox -> Kafka ->
caseview -> HTTP, through a real broker and real PostgreSQL, with the services as processes."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.caseview.auth import mint_token
from shared.devstack import run_services
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

# Caseview needs a bearer token: a dev token (the dev key is trusted outside production).
CASEVIEW_AUTH = {"Authorization": f"Bearer {mint_token('e2e', teams=['kcc'], roles=['kcc'])}"}


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, pg_urls, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    common = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "EENLOKET_TOPIC_INBOUND": f"e2e.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"e2e.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"e2e.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"e2e.deadletter.{suffix}",
        "EENLOKET_TOPIC_PARTITIONS": "3",
        "EENLOKET_CONSUMER_GROUP": f"e2e-{suffix}",
    }
    env = {
        name: {**common, "EENLOKET_DATABASE_URL": pg_urls[name]}
        for name in ("ingest", "router", "caseview")
    }
    env["router"]["EENLOKET_CONSUMER_GROUP"] = f"e2e-router-{suffix}"
    env["caseview"]["EENLOKET_CONSUMER_GROUP"] = f"e2e-caseview-{suffix}"
    with run_services(env, tmp_path_factory.mktemp("logs")) as services:
        yield {name: s.url for name, s in services.items()}


async def test_web_form_reaches_the_party_timeline(stack):
    address = f"e2e-{uuid.uuid4().hex[:8]}@example.nl"
    async with httpx.AsyncClient(timeout=10) as http:
        first = await http.post(
            f"{stack['ingest']}/v1/channels/web",
            json={
                "email": address,
                "subject": "Paspoort verlopen",
                "text": "Wanneer kan ik komen?",
            },
        )
        assert first.status_code == 202, first.text
        first_id = first.json()["message_id"]

        async def located(message_id: str):
            r = await http.get(
                f"{stack['caseview']}/v1/contacts/{message_id}", headers=CASEVIEW_AUTH
            )
            return r.json() if r.status_code == 200 else None

        where = await eventually(lambda: located(first_id), timeout=60)

        # The same sender writes again, quoting their own case number: a typed address
        # alone joins nothing (docs/routing.md), but the own case number from the address
        # its provisional party was made from keeps the conversation in one case.
        first_page = (
            await http.get(
                f"{stack['caseview']}/v1/parties/{where['party_id']}/timeline",
                headers=CASEVIEW_AUTH,
            )
        ).json()
        number = next(
            i["data"]["case_number"]
            for i in first_page["items"]
            if i["type"] == "nl.eenloket.message.routed"
        )
        second = await http.post(
            f"{stack['ingest']}/v1/channels/web",
            json={
                "email": address,
                "subject": "Nog een vraag",
                "text": "Moet ik een foto meenemen?",
                "case_number": number,
            },
        )
        assert second.status_code == 202
        where_second = await eventually(lambda: located(second.json()["message_id"]), timeout=60)
        assert where_second["party_id"] == where["party_id"]
        assert where_second["case_id"] == where["case_id"]

        timeline = (
            await http.get(
                f"{stack['caseview']}/v1/parties/{where['party_id']}/timeline",
                headers=CASEVIEW_AUTH,
            )
        ).json()

    types = [item["type"] for item in reversed(timeline["items"])]
    assert types == [
        "nl.eenloket.party.created",
        "nl.eenloket.case.opened",
        "nl.eenloket.message.routed",
        "nl.eenloket.message.routed",
    ]
    sequences = [item["sequence"] for item in reversed(timeline["items"])]
    assert sequences == [1, 2, 3, 4]
    routed = timeline["items"][1]
    assert routed["message_id"] == first_id
    assert routed["data"]["text"] == "Wanneer kan ik komen?"
    assert routed["data"]["owner_team"] == "burgerzaken"  # "paspoort" in the routing file
    assert routed["data"]["case_number"].startswith("ZAAK-")
    assert routed["data"]["explanation"]["case_rule"] == "new-case"
    follow_up = timeline["items"][0]["data"]["explanation"]
    assert follow_up["case_rule"] == "case-number"


async def test_every_service_is_ready_and_exposes_metrics(stack):
    async with httpx.AsyncClient(timeout=10) as http:
        for url in stack.values():
            assert (await http.get(f"{url}/healthz")).status_code == 200
            ready = await http.get(f"{url}/readyz")
            assert ready.status_code == 200, ready.text
            assert (await http.get(f"{url}/metrics")).status_code == 200


async def test_unknown_party_is_a_problem_404(stack):
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(
            f"{stack['caseview']}/v1/parties/{uuid.uuid4()}/timeline", headers=CASEVIEW_AUTH
        )
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"

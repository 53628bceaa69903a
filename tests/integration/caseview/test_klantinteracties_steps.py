"""A contact registered in three steps (``POST /klantcontacten``, ``/betrokkenen``,
``/onderwerpobjecten``) on real Kafka and PostgreSQL: once complete it is one
``message.received`` on the inbound topic (either order), an incomplete one goes in after the
settle window, Kafka away at completion is a 503 and the task publishes it later, a replayed
Idempotency-Key is one message, another integration cannot attach to a draft, and a claimed
BSN stays claimed. Every 201 through ``conforms``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.caseview.config import CaseviewSettings
from shared.contracts import Channel, InboundMessage, MessageReceived
from shared.envelope import CloudEvent
from shared.kafka.producer import ResilientProducer
from tests.integration.caseview.conftest import Party, running, send, settings_for, team_name
from tests.integration.caseview.test_klantinteracties_writes import auth, kcc
from tests.klantinteracties import PREFIX, conforms, problem
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KLANTCONTACT = {
    "kanaal": "telefoon",
    "onderwerp": "Afspraak paspoort",
    "inhoud": "Belt over de afspraak",
    "taal": "nld",
    "vertrouwelijk": False,
    "indicatieContactGelukt": True,
    "plaatsgevondenOp": "2026-11-02T09:30:00+01:00",
}


def betrokkene(contact: str, party: uuid.UUID) -> dict[str, Any]:
    return {
        "hadKlantcontact": {"uuid": contact},
        "wasPartij": {"uuid": str(party)},
        "rol": "klant",
        "initiator": True,
        "contactnaam": {"voornaam": "Anna", "achternaam": "de Vries"},
    }


def onderwerpobject(contact: str, case: uuid.UUID) -> dict[str, Any]:
    ident = {"codeObjecttype": "zaak", "codeSoortObjectId": "uuid", "objectId": str(case)}
    return {"klantcontact": {"uuid": contact}, "onderwerpobjectidentificator": ident}


async def post(client: httpx.AsyncClient, resource: str, body: Any, token: str) -> httpx.Response:
    return await client.post(f"{PREFIX}/{resource}", json=body, headers=auth(token))


def configured(url: str, kafka: str, topics: Any, writers: str, **extra: Any) -> CaseviewSettings:
    """Caseview with these writing integrations, publishing onto the test's inbound topic."""
    return settings_for(
        url,
        kafka,
        topics,
        topic_inbound=topics.inbound,
        klantinteracties_integrations=f"[{writers}]",
        **extra,
    )


async def back(producer: ResilientProducer) -> None:
    """Kafka reachable again for a producer stopped to make it unreachable (an aiokafka
    producer does not restart: a fresh one from its factory, as its own replacement does)."""
    producer._producer = producer._factory()
    producer._stopped = False
    await producer.start()


def received(records: list[Any]) -> dict[uuid.UUID, InboundMessage]:
    out = {}
    for r in records:
        if r.value != b"marker":
            m = MessageReceived.model_validate(CloudEvent.from_json(r.value).data).message
            out[m.message_id] = m
    return out


async def test_three_steps_make_one_message(kafka_bootstrap, db_urls, topics, producer):
    """On PostgreSQL and SQLite (drafts are kept in caseview's database, either)."""
    p = Party()
    bsn = f"{uuid.uuid4().int % 10**9:09d}"
    created = p.created("Anna de Vries", ("bsn", bsn, "authenticated"))
    case, number, opened = p.case("paspoort", team_name())
    mine, other = uuid.uuid4().hex, uuid.uuid4().hex
    settings = configured(
        db_urls["caseview"],
        kafka_bootstrap,
        topics,
        f"{kcc(f'kcc-{mine[:6]}', mine, asserts=False)},"
        f"{kcc(f'ander-{other[:6]}', other, asserts=False)}",
        # Long enough for the steps of one contact, short enough to wait for in a test.
        klantinteracties_settle_seconds=5.0,
    )
    async with running(settings) as cv:
        await send(producer, topics.timeline, created, opened)
        await cv.projected(created, opened)
        c = cv.client

        async def contact(key: str | None = None) -> str:
            headers = {**auth(mine), "Idempotency-Key": key} if key else auth(mine)
            r = await c.post(f"{PREFIX}/klantcontacten", json=KLANTCONTACT, headers=headers)
            body = conforms(r, status=201)
            assert body["kanaal"] == "phone" and body["hadBetrokkenen"] == []
            return str(body["uuid"])

        # Klantcontact, betrokkene, onderwerpobject: published in the last request.
        first = await contact()
        b = conforms(await post(c, "betrokkenen", betrokkene(first, p.id), mine), 201)
        assert b["wasPartij"]["uuid"] == str(p.id) and b["hadKlantcontact"]["uuid"] == first
        # Another integration cannot attach to my draft; bad references are problems.
        problem(await post(c, "onderwerpobjecten", onderwerpobject(first, case), other), 404)
        problem(await post(c, "betrokkenen", betrokkene(str(uuid.uuid4()), p.id), mine), 404)
        problem(await post(c, "betrokkenen", betrokkene(first, uuid.uuid4()), mine), 400)
        o = conforms(await post(c, "onderwerpobjecten", onderwerpobject(first, case), mine), 201)
        assert o["onderwerpobjectidentificator"]["objectId"] == str(case)
        # A second, different betrokkene is a conflict.
        bea = {**betrokkene(first, p.id), "contactnaam": {"voornaam": "Bea"}}
        problem(await post(c, "betrokkenen", bea, mine), 409)

        # The other order, under an Idempotency-Key replayed: one draft, one message.
        key = f"k-{mine[:6]}"
        second = await contact(key)
        assert await contact(key) == second
        conforms(await post(c, "onderwerpobjecten", onderwerpobject(second, case), mine), 201)
        conforms(await post(c, "betrokkenen", betrokkene(second, p.id), mine), 201)

        # Klantcontact and betrokkene only: published after the settle window by the task.
        third = await contact()
        conforms(await post(c, "betrokkenen", betrokkene(third, p.id), mine), 201)
        records = await read_topic(kafka_bootstrap, topics.inbound, expect=3)

    messages = received(records)
    assert set(messages) == {uuid.UUID(first), uuid.UUID(second), uuid.UUID(third)}
    one = messages[uuid.UUID(first)]
    assert one.channel == Channel.PHONE and one.case_number_hint == number
    assert (one.subject, one.text, one.display_name) == (
        "Afspraak paspoort",
        "Belt over de afspraak",
        "Anna de Vries",
    )
    # Claimed: the integration does not assert identity.
    for m in messages.values():
        assert [(s.value, s.trust, s.evidence) for s in m.sender] == [(bsn, "claimed", None)]
    assert messages[uuid.UUID(third)].case_number_hint is None


async def test_kafka_away_at_completion_is_a_503_and_the_task_publishes_it_later(
    kafka_bootstrap, pg_urls, topics, producer
):
    p = Party()
    created = p.created("Anna", ("bsn", f"{uuid.uuid4().int % 10**9:09d}", "authenticated"))
    case, _, opened = p.case("paspoort", team_name())
    token = uuid.uuid4().hex
    settings = configured(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        kcc(f"kcc-{token[:6]}", token, asserts=True),
        command_publish_timeout=2.0,
        klantinteracties_settle_seconds=60.0,  # a complete draft is due at once: no waiting
    )
    async with running(settings) as cv:
        await send(producer, topics.timeline, created, opened)
        await cv.projected(created, opened)
        c = cv.client
        contact = conforms(await post(c, "klantcontacten", KLANTCONTACT, token), 201)["uuid"]
        await post(c, "betrokkenen", betrokkene(contact, p.id), token)
        await cv.app.state.producer.stop()  # the broker is gone for this producer
        r = await post(c, "onderwerpobjecten", onderwerpobject(contact, case), token)
        assert problem(r, 503)["title"]
        assert r.headers["retry-after"] == str(settings.retry_after_seconds)
        await producer.send_and_wait(topics.inbound, b"marker")
        await back(cv.app.state.producer)  # Kafka is back: the task publishes the draft
        records = await read_topic(kafka_bootstrap, topics.inbound, expect=2)
        # The client's retry after the Retry-After is answered 201 (the same onderwerpobject).
        conforms(await post(c, "onderwerpobjecten", onderwerpobject(contact, case), token), 201)
    assert records[0].value == b"marker"
    (message,) = received(records).values()
    assert str(message.message_id) == contact
    assert [(s.trust, s.evidence) for s in message.sender] == [("authenticated", "id-document")]

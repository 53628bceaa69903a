"""``POST /maak-klantcontact`` on real Kafka and PostgreSQL: the contact lands on the inbound
topic as ingest's ``message.received`` (the kanaal as channel, the partij's BSN claimed unless
the integration asserts identity), 201 in the document's shape only after Kafka acknowledged;
bad bodies are problems; Kafka away is a 503 and nothing on the topic."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.contracts import Channel, MessageReceived
from shared.envelope import CloudEvent
from tests.integration.caseview.conftest import Party, running, send, settings_for, team_name
from tests.klantinteracties import PREFIX, conforms, integration, problem
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

URL = f"{PREFIX}/maak-klantcontact"


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Token {value}"}


def body(party: uuid.UUID, case: uuid.UUID | None = None, kanaal: str = "telefoon") -> Any:
    out: dict[str, Any] = {
        "klantcontact": {
            "kanaal": kanaal,
            "onderwerp": "Afspraak paspoort",
            "inhoud": "Belt over de afspraak",
            "taal": "nld",
            "vertrouwelijk": False,
            "plaatsgevondenOp": "2026-11-02T09:30:00+01:00",
        },
        "betrokkene": {
            "wasPartij": {"uuid": str(party)},
            "rol": "klant",
            "initiator": True,
            "contactnaam": {"voornaam": "Anna", "achternaam": "de Vries"},
        },
    }
    if case is not None:
        out["onderwerpobject"] = {
            "onderwerpobjectidentificator": {
                "codeObjecttype": "zaak",
                "codeSoortObjectId": "uuid",
                "objectId": str(case),
                "codeRegister": "eenloket",
            }
        }
    return out


def kcc(name: str, token: str, *, asserts: bool) -> str:
    entry = integration(name, token, teams=["kcc"])
    extra = f', "kanalen": ["phone", "counter"], "asserts_identity": {str(asserts).lower()}}}'
    return entry[:-1] + extra


async def test_maak_klantcontact_lands_on_the_inbound_topic(
    kafka_bootstrap, pg_urls, topics, producer
):
    p = Party()
    bsn = f"{uuid.uuid4().int % 10**9:09d}"
    created = p.created("Anna de Vries", ("bsn", bsn, "authenticated"))
    case, number, opened = p.case("paspoort", team_name())
    asserting, claiming, reader = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    suffix = asserting[:6]
    integrations = (
        f"[{kcc(f'balie-{suffix}', asserting, asserts=True)},"
        f"{kcc(f'kcc-{suffix}', claiming, asserts=False)},"
        f"{integration(f'lezer-{suffix}', reader, teams=['kcc'])}]"
    )
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        topic_inbound=topics.inbound,
        klantinteracties_integrations=integrations,
    )
    async with running(settings) as cv:
        await send(producer, topics.timeline, created, opened)
        await cv.projected(created, opened)
        c = cv.client

        # Asserted: the partij's BSN authenticated (id-document); the case as number hint.
        first = conforms(
            await c.post(URL, json=body(p.id, case), headers=auth(asserting)), status=201
        )
        assert first["klantcontact"]["kanaal"] == "phone"
        assert first["betrokkene"]["wasPartij"]["uuid"] == str(p.id)
        assert first["onderwerpobject"]["onderwerpobjectidentificator"]["objectId"] == str(case)
        # Claimed: the same body from an integration that does not assert identity.
        again = {**auth(claiming), "Idempotency-Key": f"k-{suffix}"}
        second = conforms(
            await c.post(URL, json=body(p.id, kanaal="balie"), headers=again), status=201
        )
        # A re-send with the same Idempotency-Key is the same message (the router applies an
        # event id once).
        resent = conforms(
            await c.post(URL, json=body(p.id, kanaal="balie"), headers=again), status=201
        )
        assert resent["klantcontact"]["uuid"] == second["klantcontact"]["uuid"]

        # Bad bodies and callers: problems, nothing published.
        problem(await c.post(URL, json={"betrokkene": {}}, headers=auth(asserting)), 422)
        problem(await c.post(URL, json=body(p.id, kanaal="duif"), headers=auth(asserting)), 400)
        problem(await c.post(URL, json=body(uuid.uuid4()), headers=auth(asserting)), 400)
        problem(await c.post(URL, json=body(p.id, uuid.uuid4()), headers=auth(asserting)), 400)
        problem(await c.post(URL, json=body(p.id, kanaal="email"), headers=auth(asserting)), 403)
        problem(await c.post(URL, json=body(p.id), headers=auth(reader)), 403)
        problem(await c.post(URL, json=body(p.id)), 401)

    records = await read_topic(kafka_bootstrap, topics.inbound, expect=3)
    messages = {
        m.message_id: m
        for m in (
            MessageReceived.model_validate(CloudEvent.from_json(r.value).data).message
            for r in records
        )
    }
    assert len(records) == 3 and len(messages) == 2
    asserted = messages[uuid.UUID(first["klantcontact"]["uuid"])]
    assert asserted.channel == Channel.PHONE and asserted.case_number_hint == number
    assert [(s.kind, s.value, s.trust, s.evidence) for s in asserted.sender] == [
        ("bsn", bsn, "authenticated", "id-document")
    ]
    assert (asserted.subject, asserted.text, asserted.display_name) == (
        "Afspraak paspoort",
        "Belt over de afspraak",
        "Anna de Vries",
    )
    claimed = messages[uuid.UUID(second["klantcontact"]["uuid"])]
    assert claimed.channel == Channel.COUNTER
    assert [(s.value, s.trust, s.evidence) for s in claimed.sender] == [(bsn, "claimed", None)]
    # Records are keyed like ingest's: an HMAC, never the BSN itself.
    assert all(bsn.encode() not in (r.key or b"") for r in records)


async def test_kafka_away_is_a_503_and_nothing_is_accepted(
    kafka_bootstrap, pg_urls, topics, producer
):
    p = Party()
    created = p.created("Anna", ("bsn", f"{uuid.uuid4().int % 10**9:09d}", "authenticated"))
    token = uuid.uuid4().hex
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        topic_inbound=topics.inbound,
        command_publish_timeout=2.0,
        klantinteracties_integrations=f"[{kcc(f'kcc-{token[:6]}', token, asserts=False)}]",
    )
    async with running(settings) as cv:
        await send(producer, topics.timeline, created)
        await cv.projected(created)
        await cv.app.state.producer.stop()  # the broker is gone for this producer
        r = await cv.client.post(URL, json=body(p.id), headers=auth(token))
    assert problem(r, 503)["title"]
    assert r.headers["retry-after"] == str(settings.retry_after_seconds)
    # Nothing went out: the first record on the topic is a marker sent after the 503.
    await producer.send_and_wait(topics.inbound, b"marker")
    records = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    assert [r.value for r in records] == [b"marker"]

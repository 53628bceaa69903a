"""The notifications publisher on a real broker and database, sending to a notification
component that implements the Notificaties API 1.0 request contract (tests/fakes/notificaties.py,
on a real HTTP server): what a routed message, a handover and a merge become; a component
that is down for a while (503, then not listening at all) gets everything once it is back;
a component that stays down makes the publisher give up at the ceiling, counted."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.notifications.bootstrap import MIGRATIONS, create_app
from services.notifications.config import NotificationsSettings
from services.notifications.orm import notifications
from shared.contracts.base import Event, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.envelope import source_urn
from tests.apps import serve
from tests.fakes.notificaties import NotificatieReceiver
from tests.fakes.webhooks import serving
from tests.notificaties_events import PERSONAL, Story
from tests.reliability.inproc import fresh_database
from tests.support import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROUTER = source_urn("00000000000000000000", "eenloket-router")
CLIENT_ID = "eenloket-test"
SECRET = "het-geheim-van-de-test-applicatie-in-open-notificaties"
KI = "https://gemeente.example/klantinteracties/api/v1"
CV = "https://gemeente.example/v1"


@pytest.fixture
async def database(pg_dsn: str) -> str:
    """A fresh migrated database per test: no other test's notifications in the queue."""
    return await fresh_database(pg_dsn, MIGRATIONS, "eenloket_test_notifications")


def settings(
    kafka_bootstrap: str, url: str, topics: Any, nrc: str, **extra: Any
) -> NotificationsSettings:
    extra.setdefault("backoff_base_seconds", 0.05)  # retries within a test's patience
    extra.setdefault("backoff_max_seconds", 0.3)
    return NotificationsSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=url,
        topic_timeline=topics.timeline,
        topic_deadletter=topics.deadletter,
        consumer_group=f"notifications-{uuid.uuid4().hex[:8]}",
        nrc_url=nrc,
        nrc_client_id=CLIENT_ID,
        nrc_secret=SECRET,
        klantinteracties_url=KI,
        caseview_url=CV,
        worker_poll_seconds=0.05,
        **extra,
    )


async def publish(
    producer: AIOKafkaProducer, topic: str, events: list[tuple[uuid.UUID, Event]]
) -> None:
    for key, event in events:
        cloud = to_cloudevent(event, source=ROUTER, subject=key)
        await producer.send_and_wait(topic, cloud.to_json(), key=str(key).encode())


def received(receiver: NotificatieReceiver, story: Story) -> list[dict[str, Any]]:
    """This story's notifications, in the order they arrived."""
    ids = {str(i) for i in vars(story).values()}
    return [n for n in receiver.notifications if any(i in n["hoofdObject"] for i in ids)]


def keys(notes: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(n["resource"], n["actie"], n["resourceUrl"]) for n in notes]


async def test_a_routed_message_a_handover_and_a_merge(
    kafka_bootstrap: str, database: str, topics: Any, producer: AIOKafkaProducer
) -> None:
    receiver = NotificatieReceiver(CLIENT_ID, SECRET)
    story = Story()
    async with serving(receiver.app()) as nrc:
        app = create_app(settings(kafka_bootstrap, database, topics, nrc))
        async with serve(app) as client:
            await publish(producer, topics.timeline, story.routed())
            await publish(producer, topics.timeline, [(story.party, story.handed_over())])
            # The other party's records are on another partition: its case is known before
            # staff merge (as in life, where a person decides minutes later).
            await publish(producer, topics.timeline, story.merge()[:3])
            await eventually(lambda: _at_least(received(receiver, story), 11))
            await publish(producer, topics.timeline, story.merge()[3:])
            notes = await eventually(lambda: _at_least(received(receiver, story), 16))
            assert (await client.get("/readyz")).status_code == 200
            metrics = (await client.get("/metrics")).text
    assert sorted(receiver.kanalen) == ["eenloket-zaken", "klantinteracties"]
    assert receiver.bad_tokens == 0
    assert len(notes) == 16
    contact = [n for n in notes if n["hoofdObject"] == f"{KI}/klantcontacten/{story.message}"]
    assert [(n["resource"], n["actie"]) for n in contact] == [
        ("klantcontact", "create"),
        ("betrokkene", "create"),
        ("onderwerpobject", "create"),
    ]
    assert contact[0]["kanaal"] == "klantinteracties"
    assert contact[0]["kenmerken"] == {
        "kanaal": "email",
        "behandelendTeam": "kcc",
        "product": "overlast",
        "vertrouwelijk": "false",
    }
    zaak = [n for n in notes if n["hoofdObject"] == f"{CV}/cases/{story.case}"]
    # Its create, the handover, and the merge folding the other case into it, in that order.
    assert [(n["kanaal"], n["actie"], n["kenmerken"]["behandelendTeam"]) for n in zaak] == [
        ("eenloket-zaken", "create", "kcc"),
        ("eenloket-zaken", "partial_update", "handhaving"),
        ("eenloket-zaken", "partial_update", "handhaving"),
    ]
    merged = [n for n in notes if n["resource"] == "partij" and n["actie"] == "partial_update"]
    assert {n["hoofdObject"] for n in merged} == {
        f"{KI}/partijen/{story.party}",
        f"{KI}/partijen/{story.other}",
    }
    folded = [n for n in notes if n["hoofdObject"] == f"{CV}/cases/{story.other_case}"]
    assert [n["kenmerken"]["status"] for n in folded] == ["open", "afgehandeld"]
    moved = f"{KI}/klantcontacten/{story.other_message}"
    assert [n["actie"] for n in notes if n["hoofdObject"] == moved][-1] == "update"
    body = str(notes)
    assert not [value for value in PERSONAL if value in body]
    assert (
        'eenloket_notifications_attempts_total{kanaal="klantinteracties",outcome="sent"}' in metrics
    )


def _at_least(notes: list[dict[str, Any]], n: int) -> Any:
    async def probe() -> list[dict[str, Any]] | None:
        return notes if len(notes) >= n else None

    return probe()


async def rows(url: str, *columns: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return [tuple(r) for r in await session.execute(select(*columns))]
    finally:
        await engine.dispose()


async def test_a_component_down_for_a_while_gets_everything_once_it_is_back(
    kafka_bootstrap: str, database: str, topics: Any, producer: AIOKafkaProducer
) -> None:
    receiver = NotificatieReceiver(CLIENT_ID, SECRET)
    story = Story()
    async with contextlib.AsyncExitStack() as component:
        nrc = await component.enter_async_context(serving(receiver.app()))
        port = int(nrc.rsplit(":", 1)[1])
        async with serve(create_app(settings(kafka_bootstrap, database, topics, nrc))):
            await eventually(lambda: _truthy(len(receiver.kanalen) == 2))
            receiver.down(503)
            await publish(producer, topics.timeline, story.routed())
            await eventually(lambda: _truthy(receiver.refused >= 3))
            await component.aclose()  # now not even listening: connections refused
            await publish(producer, topics.timeline, [(story.party, story.handed_over())])
            await eventually(lambda: _connect_refused(database))
            receiver.up()
            await component.enter_async_context(serving(receiver.app(), port=port))
            notes = await eventually(lambda: _at_least(received(receiver, story), 6))
    # Nothing lost, nothing twice (503 and a refused connection are not deliveries), in order.
    assert sorted(keys(notes)) == sorted(set(keys(notes)))
    assert len(notes) == 6
    zaak = [n["actie"] for n in notes if n["hoofdObject"] == f"{CV}/cases/{story.case}"]
    assert zaak == ["create", "partial_update"]


async def _truthy(value: bool) -> bool:
    return value


async def _connect_refused(url: str) -> bool:
    return any("ConnectError" in (r or "") for (r,) in await rows(url, notifications.c.reason))


async def test_gives_up_at_the_ceiling_and_counts_it(
    kafka_bootstrap: str, database: str, topics: Any, producer: AIOKafkaProducer
) -> None:
    receiver = NotificatieReceiver(CLIENT_ID, SECRET)
    story = Story()
    async with serving(receiver.app()) as nrc:
        app = create_app(settings(kafka_bootstrap, database, topics, nrc, max_attempts=3))
        async with serve(app) as client:
            await eventually(lambda: _truthy(len(receiver.kanalen) == 2))
            receiver.down(503)
            await publish(producer, topics.timeline, [(story.party, story.case_opened())])

            async def gave_up() -> bool:
                n = notifications
                return await rows(database, n.c.status, n.c.attempts) == [("gave_up", 3)]

            await eventually(gave_up)
            metrics = (await client.get("/metrics")).text
    assert receiver.refused == 3
    assert 'eenloket_notifications_gave_up_total{kanaal="eenloket-zaken"}' in metrics

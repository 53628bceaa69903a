"""The delivery machinery on real Kafka and real databases: apply once, dead-letter poison,
replay changes nothing, and the outbox survives a crash between publish and mark."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from services.caseview import orm as cv
from services.caseview.projector import project
from services.router import orm as rt
from shared.contracts import PartyCreated, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.outbox import OutboxRelay, add_to_outbox, outbox_row
from tests.support import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SOURCE = source_urn("00000000000000000000", "eenloket-router")


def party_created(party_id: uuid.UUID, sequence: int = 1) -> CloudEvent:
    payload = PartyCreated(
        party_id=party_id,
        provisional=True,
        display_name="Test",
        identifiers=[],
        created_at=datetime.now(UTC),
    )
    return to_cloudevent(payload, source=SOURCE, subject=party_id, sequence=sequence)


@pytest.fixture
async def producer(kafka_bootstrap) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(kafka_bootstrap, "test")
    await p.start()
    yield p
    await p.stop()


@contextlib.asynccontextmanager
async def running_projector(kafka_bootstrap, url, topics, producer, group):
    engine = create_engine(url)
    sessions = session_factory(engine)

    async def handler(session, event, record):
        await project(session, event)

    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group_id=group,
        topics=[topics.timeline],
        sessions=sessions,
        tables=ConsumerTables(offsets=cv.consumer_offsets, processed=cv.processed_events),
        handler=handler,
        dead_letters=DeadLetters(producer, topics.deadletter),
        client_id="test",
        max_records=50,
    )
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield sessions
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await engine.dispose()


async def count_parties(sessions, ids) -> int:
    async with sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(cv.parties).where(cv.parties.c.id.in_(ids))
            )
        )


async def test_each_event_applied_once_and_poison_dead_lettered(
    kafka_bootstrap, db_urls, topics, producer
):
    ids = [uuid.uuid4() for _ in range(40)]
    events = [party_created(i) for i in ids]
    invalid = CloudEvent(
        source=SOURCE,
        type=PartyCreated.TYPE,
        subject=str(uuid.uuid4()),
        data={"party_id": "not-a-uuid"},
    )
    for n, event in enumerate(events):
        await producer.send_and_wait(
            topics.timeline, event.to_json(), key=str(event.subject).encode()
        )
        if n == 10:
            await producer.send_and_wait(topics.timeline, b"{not json", key=b"poison")
            await producer.send_and_wait(topics.timeline, invalid.to_json(), key=b"poison")
        if n % 7 == 0:  # a duplicate on the wire, as an outbox relay may produce
            await producer.send_and_wait(
                topics.timeline, event.to_json(), key=str(event.subject).encode()
            )

    group = f"g-{uuid.uuid4().hex[:8]}"
    async with running_projector(
        kafka_bootstrap, db_urls["caseview"], topics, producer, group
    ) as sessions:
        await eventually(lambda: _equals(count_parties(sessions, ids), len(ids)), timeout=60)
        dead = await read_topic(kafka_bootstrap, topics.deadletter, expect=2)
        async with sessions() as s:
            processed = await s.scalar(
                select(func.count())
                .select_from(cv.processed_events)
                .where(cv.processed_events.c.consumer_group == group)
            )
            offsets = (
                await s.execute(
                    select(
                        cv.consumer_offsets.c.partition, cv.consumer_offsets.c.next_offset
                    ).where(cv.consumer_offsets.c.consumer_group == group)
                )
            ).all()
    assert processed == len(ids)
    assert sum(o.next_offset for o in offsets) == len(ids) + 2 + 6  # all consumed, incl. poison
    # The delay from each event's time to its commit: one observation per applied event (not
    # for duplicates or dead letters), and none of them older than this test.
    delays = {"group": group}
    assert REGISTRY.get_sample_value("eenloket_consumer_event_delay_seconds_count", delays) == len(
        ids
    )
    total_delay = REGISTRY.get_sample_value("eenloket_consumer_event_delay_seconds_sum", delays)
    assert total_delay is not None and total_delay < 300 * len(ids)
    reasons = sorted(dict(r.headers)["dlt.reason"] for r in dead)
    assert reasons == [b"handler-failed", b"malformed-envelope"]
    by_reason = {dict(r.headers)["dlt.reason"]: r for r in dead}
    assert by_reason[b"malformed-envelope"].value == b"{not json"  # bytes untouched
    headers = dict(by_reason[b"handler-failed"].headers)
    assert headers["dlt.source.topic"] == topics.timeline.encode()
    assert b"party_id" in headers["dlt.error.message"]
    assert b"not-a-uuid" not in headers["dlt.error.message"]  # the error does not echo input


async def test_replay_from_offset_zero_changes_nothing(kafka_bootstrap, db_urls, topics, producer):
    ids = [uuid.uuid4() for _ in range(10)]
    for i in ids:
        event = party_created(i)
        await producer.send_and_wait(
            topics.timeline, event.to_json(), key=str(event.subject).encode()
        )
    group = f"g-{uuid.uuid4().hex[:8]}"
    url = db_urls["caseview"]
    async with running_projector(kafka_bootstrap, url, topics, producer, group) as sessions:
        await eventually(lambda: _equals(count_parties(sessions, ids), len(ids)))
    # Rewind the stored offsets to 0: the whole topic is delivered again.
    engine = create_engine(url)
    async with session_factory(engine)() as s, s.begin():
        await s.execute(
            update(cv.consumer_offsets)
            .where(cv.consumer_offsets.c.consumer_group == group)
            .values(next_offset=0)
        )
    await engine.dispose()
    async with running_projector(kafka_bootstrap, url, topics, producer, group) as sessions:

        async def offsets_restored():
            async with sessions() as s:
                return await s.scalar(
                    select(func.sum(cv.consumer_offsets.c.next_offset)).where(
                        cv.consumer_offsets.c.consumer_group == group
                    )
                )

        await eventually(lambda: _equals(offsets_restored(), len(ids)))
        assert await count_parties(sessions, ids) == len(ids)
        # Really delivered a second time, and skipped by event id.
        skipped = REGISTRY.get_sample_value(
            "eenloket_consumer_duplicates_total", {"group": group, "topic": topics.timeline}
        )
        assert skipped == len(ids)


class CrashError(Exception):
    pass


async def test_outbox_crash_between_publish_and_mark_publishes_again_in_order(
    kafka_bootstrap, db_urls, topics, producer
):
    """R3: duplicates on the wire are allowed, lost or reordered events are not."""
    engine = create_engine(db_urls["router"])
    sessions = session_factory(engine)
    party = uuid.uuid4()
    events = [party_created(party, sequence=n) for n in range(1, 6)]
    async with sessions() as s, s.begin():
        await add_to_outbox(
            s,
            rt.outbox,
            [outbox_row(topic=topics.timeline, aggregatetype="party", event=e) for e in events],
        )

    async def crash(point: str) -> None:
        raise CrashError(point)

    crashing = OutboxRelay(sessions=sessions, table=rt.outbox, producer=producer, crash_hook=crash)
    with pytest.raises(CrashError):
        await crashing.publish_once()  # published all five, crashed before marking them
    relay = OutboxRelay(sessions=sessions, table=rt.outbox, producer=producer)
    while await relay.publish_once():
        pass
    async with sessions() as s:
        left = await s.scalar(
            select(func.count())
            .select_from(rt.outbox)
            .where(rt.outbox.c.aggregateid == str(party), rt.outbox.c.published_at.is_(None))
        )
    await engine.dispose()
    assert left == 0

    records = await read_topic(kafka_bootstrap, topics.timeline, expect=10)
    ours = [r for r in records if r.key == str(party).encode()]
    sequences = [orjson.loads(r.value)["sequence"] for r in ours]
    # Published twice (crash before marking), each time complete and in order.
    assert sequences == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    # Each payload travels byte for byte as written (PostgreSQL keeps it as ``json``: no
    # parsing into ``jsonb`` on the way in and printing on the way out).
    written = {orjson.dumps(e.model_dump(mode="json", exclude_none=True)) for e in events}
    assert {r.value for r in ours} == written
    assert {r.partition for r in ours} == {ours[0].partition}  # keyed by party id


async def _equals(awaitable, expected):
    return (await awaitable) == expected

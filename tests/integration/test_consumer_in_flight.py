"""``eenloket_consumer_batch_in_flight``: 1 exactly while a batch is being applied.

The reliability test R2 kills a consumer only while this gauge is 1 (and then checks from
PostgreSQL that the batch's transaction really is open), so it must not stay 1 after a
batch, also not after one that rolled back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from services.caseview import orm as cv
from shared.contracts import PartyCreated, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.records import Record
from tests.conftest import Topics
from tests.support import eventually

pytestmark = [pytest.mark.kafka]

SOURCE = source_urn("00000000000000000000", "eenloket-router")


def in_flight(group: str) -> float | None:
    return REGISTRY.get_sample_value("eenloket_consumer_batch_in_flight", {"group": group})


def retries(group: str) -> float:
    value = REGISTRY.get_sample_value("eenloket_consumer_batch_retries_total", {"group": group})
    return value or 0.0


async def test_gauge_is_one_while_applying_and_zero_after_commit_and_rollback(
    kafka_bootstrap: str, sqlite_urls: dict[str, str], topics: Topics
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    seen_while_applying: list[float | None] = []
    calls = 0

    async def handler(session: object, event: CloudEvent, record: Record) -> None:
        nonlocal calls
        calls += 1
        seen_while_applying.append(in_flight(group))
        if calls == 1:
            raise OSError("the database went away")  # transient: the batch rolls back

    producer = make_producer(kafka_bootstrap, "test")
    await producer.start()
    engine = create_engine(sqlite_urls["caseview"])
    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group_id=group,
        topics=[topics.timeline],
        sessions=session_factory(engine),
        tables=ConsumerTables(offsets=cv.consumer_offsets, processed=cv.processed_events),
        handler=handler,
        dead_letters=DeadLetters(producer, topics.deadletter),
        client_id="test",
    )
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        party = uuid.uuid4()
        payload = PartyCreated(
            party_id=party,
            provisional=True,
            display_name="Test",
            identifiers=[],
            created_at=datetime.now(UTC),
        )
        event = to_cloudevent(payload, source=SOURCE, subject=party, sequence=1)
        await producer.send_and_wait(topics.timeline, event.to_json(), key=str(party).encode())

        # The failed attempt: the gauge is back to 0 while the loop waits to retry (0.2 s).
        await eventually(lambda: _true(retries(group) >= 1), timeout=60, interval=0.005)
        after_rollback = in_flight(group)

        async def applied() -> bool:
            return calls >= 2 and not task.done()

        await eventually(applied, timeout=30)
        await eventually(lambda: _true(in_flight(group) == 0), timeout=10, interval=0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()
        await engine.dispose()

    assert seen_while_applying[:2] == [1.0, 1.0]
    assert after_rollback == 0.0
    assert in_flight(group) == 0.0


async def _true(value: bool) -> bool:
    return value

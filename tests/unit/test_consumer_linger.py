"""Adaptive batching (issue #22): a consumer's small batch waits for more records only while
records arrive fast; when it is quiet a poll's records go on at once, and a full poll never
waits. The relay's finished producer batches go out without the producer's linger.

No broker: the consumer's aiokafka consumer is a fake that serves scripted polls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder, MessageBatch

from shared.kafka.arrivals import ArrivalRate
from shared.outbox import _send_now
from tests.unit.consumer_fakes import Make, Rec, unstarted_consumers

TOPIC = f"linger-{uuid.uuid4().hex[:6]}"
TP = TopicPartition(TOPIC, 0)


class Polls:
    """Serves the scripted polls in order (then nothing), recording each call's timeout."""

    def __init__(self, *counts: int) -> None:
        self._counts = list(counts)
        self._offset = 0
        self.timeouts: list[int] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.timeouts.append(timeout_ms)
        count = min(self._counts.pop(0), max_records) if self._counts else 0
        records = [Rec(TOPIC, 0, self._offset + n) for n in range(count)]
        self._offset += count
        return {TP: records} if records else {}


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    async with unstarted_consumers(TOPIC) as make:
        yield make


def _options() -> dict[str, Any]:
    return {"linger": 0.05, "linger_until": 100, "linger_rate": 200.0}


async def test_when_quiet_a_small_batch_goes_on_at_once(make: Make) -> None:
    polls = Polls(2, 50)
    consumer = make(polls, **_options())
    batch = await consumer._next_batch()
    assert [len(r) for r in batch.values()] == [2]
    assert len(polls.timeouts) == 1  # no second poll: nothing waited


async def test_while_records_arrive_fast_a_small_batch_waits_for_more(make: Make) -> None:
    polls = Polls(300, 5, 60, 40, 7)
    consumer = make(polls, **_options())
    await consumer._next_batch()  # 300 records in the last second: busy
    batch = await consumer._next_batch()
    assert sum(len(r) for r in batch.values()) == 105  # 5, then more until 100 were there
    assert len(polls.timeouts) == 4
    assert all(0 < t <= 50 for t in polls.timeouts[2:])  # within the linger, never longer


async def test_a_full_poll_never_waits_and_an_empty_one_does_not_linger(make: Make) -> None:
    polls = Polls(300, 150, 0, 30)
    consumer = make(polls, **_options())
    await consumer._next_batch()
    assert sum(len(r) for r in (await consumer._next_batch()).values()) == 150
    assert await consumer._next_batch() == {}
    assert len(polls.timeouts) == 3


def test_the_arrival_rate_counts_the_last_second_only() -> None:
    now = [100.0]
    rate = ArrivalRate(clock=lambda: now[0])
    rate.add(150)
    now[0] += 0.6
    rate.add(100)
    assert rate.per_second() == 250
    now[0] += 0.5  # the first 150 left the window
    assert rate.per_second() == 100
    now[0] += 1.0
    assert rate.per_second() == 0


class SeesBatches:
    """A producer that remembers whether each batch it was handed was still open."""

    def __init__(self) -> None:
        self.open_when_sent: list[bool] = []

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        self.open_when_sent.append(not batch.closed())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_the_relay_hands_over_closed_batches_which_aiokafka_sends_without_lingering() -> None:
    producer = SeesBatches()
    batch = BatchBuilder(1024 * 1024, 0)
    batch.append(key=b"k", value=b"v", timestamp=None, headers=[])
    await _send_now(producer, batch, TOPIC, partition=0)
    assert producer.open_when_sent == [False]
    # What the closing is for: aiokafka lets an open batch linger, a closed one not at all.
    lingering = BatchBuilder(1024 * 1024, 0)
    assert MessageBatch(TP, lingering, ttl=30, linger_time=10.0).remaining_linger()
    lingering.close()
    assert MessageBatch(TP, lingering, ttl=30, linger_time=10.0).remaining_linger() is None

"""The producer wrapper replaces an aiokafka producer whose idempotence state is broken.

The Kafka side of this (a broker outage longer than the request timeout) is reliability
test R7; here a stand-in producer fails its sends the way aiokafka does, to pin down the
wrapper's own logic: replace once, keep the new one, pass every failure to its caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from shared.kafka.producer import ResilientProducer
from tests.support import eventually


class StandIn:
    """Records what it was asked; its sends fail with ``error`` while it has one."""

    made: list[StandIn] = []

    def __init__(self, error: type[Exception] | None) -> None:
        self.error = error
        self.started = self.stopped = False
        self.sent: list[str] = []
        StandIn.made.append(self)

    @property
    def client(self) -> str:
        return f"client-{len(StandIn.made)}"

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[str]:
        self.sent.append(topic)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if self.error is None:
            future.set_result(topic)
        else:
            future.set_exception(self.error())
        return future

    def create_batch(self) -> list[bytes]:
        return []

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[str]:
        return await self.send(topic)


@pytest.fixture(autouse=True)
def fresh() -> None:
    StandIn.made = []


async def test_a_broken_producer_is_replaced_once_and_the_failure_reaches_the_caller():
    errors = iter([OutOfOrderSequenceNumber, None])
    producer = ResilientProducer(lambda: StandIn(next(errors)))
    await producer.start()
    failed = [await producer.send("t", value=b"x") for _ in range(3)]
    for future in failed:
        with pytest.raises(OutOfOrderSequenceNumber):
            await future
    await eventually(lambda: _true(len(StandIn.made) == 2 and StandIn.made[1].started))
    assert StandIn.made[0].stopped  # one replacement for three failures of one producer
    assert await producer.send_and_wait("t", value=b"y") == "t"
    assert StandIn.made[1].sent == ["t"]
    await producer.stop()
    assert StandIn.made[1].stopped


async def test_an_ordinary_kafka_error_keeps_the_producer():
    producer = ResilientProducer(lambda: StandIn(KafkaConnectionError))
    await producer.start()
    with pytest.raises(KafkaConnectionError):
        await producer.send_and_wait("t", value=b"x")
    await asyncio.sleep(0)  # a replacement, if one were scheduled, would start here
    assert len(StandIn.made) == 1
    await producer.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_batch_refused_by_a_broken_producer_replaces_it_too():
    errors = iter([OutOfOrderSequenceNumber, None])
    producer = ResilientProducer(lambda: StandIn(next(errors)))
    await producer.start()
    refused = await producer.send_batch(producer.create_batch(), "t", partition=0)
    with pytest.raises(OutOfOrderSequenceNumber):
        await refused
    await eventually(lambda: _true(len(StandIn.made) == 2 and StandIn.made[1].started))
    assert await (await producer.send_batch(producer.create_batch(), "t", partition=0)) == "t"
    await producer.stop()

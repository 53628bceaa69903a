"""Publishing an envelope and waiting for the broker's acknowledgement; a producer that
recovers from a broken idempotence state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.structs import RecordMetadata
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.envelope import CloudEvent
from shared.kafka.headers import outgoing_headers
from shared.metrics import PRODUCER_RESETS

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# Errors after which this producer id can never write to a partition again: a new producer
# (a new id, sequences from zero) is the only way on. aiokafka 0.14 gets here after a
# broker outage longer than the request timeout: it fails an expired batch whose sequence
# numbers it already used, and the broker then refuses every later batch of that partition
# as out of order, forever (aio-libs/aiokafka#1017). Found by reliability test R7.
BROKEN_PRODUCER = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerIdMapping,
    ProducerFenced,
)


class ResilientProducer:
    """An ``AIOKafkaProducer`` (made by ``factory``) that is replaced by a fresh one when a
    send fails with ``BROKEN_PRODUCER``. The failed sends fail to their callers as any
    Kafka error does (ingest answers 503, the relay leaves the rows unmarked and retries),
    so nothing acknowledged is lost; the next sends go through the new producer."""

    def __init__(self, factory: Callable[[], AIOKafkaProducer]) -> None:
        self._factory = factory
        self._producer = factory()
        self._generation = 0
        self._replacing: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def client(self) -> Any:
        return self._producer.client

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        self._stopped = True
        if self._replacing is not None:
            self._replacing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replacing
        await self._producer.stop()

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[RecordMetadata]:
        """As ``AIOKafkaProducer.send``: returns the future of the acknowledgement."""
        generation = self._generation
        try:
            future: asyncio.Future[RecordMetadata] = await self._producer.send(topic, **kwargs)
        except BROKEN_PRODUCER:
            self._replace(generation)
            raise
        future.add_done_callback(lambda done: self._check(done, generation))
        return future

    async def send_and_wait(self, topic: str, **kwargs: Any) -> RecordMetadata:
        return await (await self.send(topic, **kwargs))

    # Whole batches (the outbox relay: one batch per partition instead of a future, a
    # metadata check and a partitioner call per record).

    async def partitions_for(self, topic: str) -> set[int]:
        """The topic's partition ids (waits for its metadata, as ``send`` does)."""
        return set(await self._producer.partitions_for(topic))

    def create_batch(self) -> Any:
        return self._producer.create_batch()

    async def send_batch(
        self, batch: Any, topic: str, *, partition: int
    ) -> asyncio.Future[RecordMetadata]:
        """As ``AIOKafkaProducer.send_batch``: the future of the batch's acknowledgement."""
        generation = self._generation
        try:
            future: asyncio.Future[RecordMetadata] = await self._producer.send_batch(
                batch, topic, partition=partition
            )
        except BROKEN_PRODUCER:
            self._replace(generation)
            raise
        future.add_done_callback(lambda done: self._check(done, generation))
        return future

    def _check(self, done: asyncio.Future[RecordMetadata], generation: int) -> None:
        if not done.cancelled() and isinstance(done.exception(), BROKEN_PRODUCER):
            self._replace(generation)

    def _replace(self, generation: int) -> None:
        if self._stopped or generation != self._generation or self._replacing is not None:
            return  # this producer was replaced already, or is being replaced
        self._replacing = asyncio.get_running_loop().create_task(self._swap())

    async def _swap(self) -> None:
        old = self._producer
        backoff = 0.5
        try:
            while True:
                fresh = self._factory()
                try:
                    await fresh.start()
                    break
                except KafkaError as exc:
                    log.warning(
                        "new Kafka producer did not start; retrying",
                        extra={"error_type": type(exc).__name__},
                    )
                    await fresh.stop()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
            self._producer = fresh
            self._generation += 1
            PRODUCER_RESETS.inc()
            log.warning("Kafka producer replaced: its idempotence state was broken")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.stop(), 15)  # its queued sends fail to their callers
        finally:
            self._replacing = None


class BrokerUnavailableError(RuntimeError):
    """Kafka did not acknowledge in time: the caller must not report success."""


async def publish(
    producer: AIOKafkaProducer | ResilientProducer,
    topic: str,
    *,
    key: bytes,
    event: CloudEvent | dict[str, Any],
    timeout: float = 10.0,  # noqa: ASYNC109 - the ack deadline is part of the contract
) -> RecordMetadata:
    """Send one event and return only once it is acknowledged (``acks=all``).

    ``event`` is an envelope model, or its JSON form from ``envelope_json``."""
    if isinstance(event, CloudEvent):
        value, event_id, event_type = event.to_json(), str(event.id), event.type
    else:
        value, event_id, event_type = orjson.dumps(event), event["id"], event["type"]
    with tracer.start_as_current_span(
        f"{topic} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
            "cloudevents.event_type": event_type,
        },
    ):
        try:
            future = await asyncio.wait_for(
                producer.send(topic, value=value, key=key, headers=outgoing_headers()),
                timeout,
            )
            return await asyncio.wait_for(future, timeout)
        except (KafkaError, TimeoutError) as exc:
            log.warning(
                "publish not acknowledged", extra={"topic": topic, "error_type": type(exc).__name__}
            )
            raise BrokerUnavailableError(type(exc).__name__) from exc

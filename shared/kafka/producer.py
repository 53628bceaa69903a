"""Publishing an envelope and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.envelope import CloudEvent
from shared.kafka.headers import outgoing_headers

tracer = trace.get_tracer(__name__)


class BrokerUnavailableError(RuntimeError):
    """Kafka did not acknowledge in time: the caller must not report success."""


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    *,
    key: bytes,
    event: CloudEvent,
    timeout: float = 10.0,  # noqa: ASYNC109 - the ack deadline is part of the contract
) -> RecordMetadata:
    """Send one event and return only once it is acknowledged (``acks=all``)."""
    with tracer.start_as_current_span(
        f"{topic} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.message.id": str(event.id),
            "cloudevents.event_type": event.type,
        },
    ):
        try:
            future = await asyncio.wait_for(
                producer.send(topic, value=event.to_json(), key=key, headers=outgoing_headers()),
                timeout,
            )
            return await asyncio.wait_for(future, timeout)
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailableError(type(exc).__name__) from exc

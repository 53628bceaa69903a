"""Staff actions as commands on ``omni.commands.v1`` (design §2): caseview never changes a
case or party itself; the router, the single writer, answers with timeline events."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer

from services.caseview.auth import Principal
from shared.contracts import Actor, Event, to_cloudevent
from shared.ids import new_id
from shared.kafka.producer import publish

# Namespace for command ids derived from an Idempotency-Key (uuid5): a retried
# request becomes the same command, which the router applies once (by event id).
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0b1f49-3f7e-4c55-9a0e-6f3c1b1d2e7a")


def command_id(principal: Principal, idempotency_key: str | None) -> uuid.UUID:
    if idempotency_key is None:
        return new_id()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{principal.user}\n{idempotency_key}")


def actor(principal: Principal, team: str | None) -> Actor:
    return Actor(user=principal.user, team=team)


async def send(
    producer: AIOKafkaProducer,
    topic: str,
    *,
    source: str,
    command: Event,
    command_id: uuid.UUID,
    key: uuid.UUID,
    timeout: float,  # noqa: ASYNC109 - the ack deadline is part of the contract
) -> None:
    """Publish and return only after the broker acknowledged (raises BrokerUnavailableError).

    The CloudEvent id is the command id; key and subject are the case id (or the
    party id for party commands): opaque, so no personal data in key or headers.
    """
    event = to_cloudevent(command, source=source, subject=key, event_id=command_id)
    await publish(producer, topic, key=str(key).encode(), event=event, timeout=timeout)

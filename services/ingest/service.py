"""Accepting a message: idempotency, then Kafka, then (only then) the 202.

The message id doubles as the CloudEvent id of ``message.received``, so a
re-send that reaches Kafka twice is one event to the router.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Histogram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.orm import idempotency_keys
from shared.contracts import InboundMessage, MessageReceived, Trust, to_cloudevent
from shared.db.dialect import upsert_insert
from shared.ids import new_id
from shared.kafka.producer import publish

ACCEPTED = Counter("eenloket_ingest_accepted_total", "Messages acknowledged by Kafka", ["channel"])
DUPLICATES = Counter("eenloket_ingest_duplicates_total", "Re-sent messages recognised", ["channel"])
REJECTED = Counter("eenloket_ingest_rejected_total", "Messages refused", ["channel", "reason"])
ACK_SECONDS = Histogram(
    "eenloket_ingest_kafka_ack_seconds", "Time from receipt to Kafka acknowledgement", ["channel"]
)

MessageBuilder = Callable[[uuid.UUID], InboundMessage]

_TRUST_ORDER = {Trust.AUTHENTICATED: 0, Trust.VERIFIED: 1, Trust.CLAIMED: 2}


def sender_key(message: InboundMessage, secret: bytes) -> bytes:
    """The record key: an HMAC of the strongest identifier, never the identifier itself."""
    if not message.sender:
        return str(message.message_id).encode()
    best = min(message.sender, key=lambda s: _TRUST_ORDER[s.trust])
    digest = hmac.new(secret, f"{best.kind}:{best.value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32].encode()


@dataclass(frozen=True)
class Accepted:
    message_id: uuid.UUID
    duplicate: bool


@dataclass(frozen=True)
class Intake:
    """Everything accepting a message needs; built once in bootstrap."""

    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    topic: str
    source: str
    key_secret: bytes
    kafka_timeout: float

    async def reserve(self, scope: str, key: str) -> tuple[uuid.UUID, bool]:
        """The message id for this idempotency key: a new one, or the one given before."""
        t = idempotency_keys
        candidate = new_id()
        async with self.sessions() as session, session.begin():
            stmt = upsert_insert(session, t).on_conflict_do_nothing()
            await session.execute(
                stmt,
                {
                    "scope": scope,
                    "key": key,
                    "message_id": candidate,
                    "created_at": datetime.now(UTC),
                },
            )
            existing = await session.scalar(
                select(t.c.message_id).where(t.c.scope == scope, t.c.key == key)
            )
        assert existing is not None
        return existing, existing != candidate

    async def accept(
        self, build: MessageBuilder, *, channel: str, idempotency: list[tuple[str, str]]
    ) -> Accepted:
        """Publish one message and return only once Kafka acknowledged it."""
        started = time.perf_counter()
        if idempotency:
            # The first key decides (the Idempotency-Key header before the channel's id).
            message_id, duplicate = await self.reserve(*idempotency[0])
        else:
            message_id, duplicate = new_id(), False
        message = build(message_id)
        event = to_cloudevent(
            MessageReceived(message=message),
            source=self.source,
            subject=message_id,
            event_id=message_id,
            time=message.received_at,
        )
        # A duplicate is published again: if the first attempt never reached Kafka
        # (503 to the client), this is the send that counts; if it did, the router
        # sees the same event id twice and applies it once.
        await publish(
            self.producer,
            self.topic,
            key=sender_key(message, self.key_secret),
            event=event,
            timeout=self.kafka_timeout,
        )
        ACK_SECONDS.labels(channel).observe(time.perf_counter() - started)
        (DUPLICATES if duplicate else ACCEPTED).labels(channel).inc()
        return Accepted(message_id=message_id, duplicate=duplicate)

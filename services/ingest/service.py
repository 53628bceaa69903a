"""Accepting a message: idempotency, attachments, then Kafka, then (only then) the 202.

The message id doubles as the CloudEvent id of ``message.received``, so a
re-send that reaches Kafka twice is one event to the router.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Histogram
from sqlalchemy import bindparam, case, delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.attachments import AttachmentLimits, AttachmentStore, Blob, check_limits
from services.ingest.orm import idempotency_keys
from shared.contracts import InboundMessage, MessageReceived, Trust
from shared.contracts.inbound import AttachmentRef
from shared.db.dialect import dialect_insert
from shared.envelope import envelope_json
from shared.ids import new_id
from shared.kafka.producer import publish

log = logging.getLogger(__name__)

ACCEPTED = Counter("eenloket_ingest_accepted_total", "Messages acknowledged by Kafka", ["channel"])
DUPLICATES = Counter("eenloket_ingest_duplicates_total", "Re-sent messages recognised", ["channel"])
REJECTED = Counter("eenloket_ingest_rejected_total", "Messages refused", ["channel", "reason"])
ACK_SECONDS = Histogram(
    "eenloket_ingest_kafka_ack_seconds", "Time from receipt to Kafka acknowledgement", ["channel"]
)

MessageBuilder = Callable[[uuid.UUID, list[AttachmentRef]], InboundMessage]

_TRUST_ORDER = {Trust.AUTHENTICATED: 0, Trust.VERIFIED: 1, Trust.CLAIMED: 2}
_KEY_COLUMN_LENGTH = 200


def sender_key(message: InboundMessage, secret: bytes) -> bytes:
    """The record key: an HMAC of the strongest identifier, never the identifier itself."""
    if not message.sender:
        return str(message.message_id).encode()
    best = min(message.sender, key=lambda s: _TRUST_ORDER[s.trust])
    digest = hmac.new(secret, f"{best.kind}:{best.value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32].encode()


def storable_key(key: str) -> str:
    """Keys longer than the column (a long Message-ID) are stored by their hash."""
    if len(key) <= _KEY_COLUMN_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    """Bind a key to a candidate message id; returns the id it is bound to.

    A new key gets the candidate, an expired one is taken over, a live one keeps its id
    (the update that changes nothing is there so RETURNING gives every row, not only
    inserted ones). Built once: the statement is compiled once and cached."""
    t = idempotency_keys
    insert = dialect_insert(dialect, t)
    expired = t.c.created_at < bindparam("cutoff")
    return insert.on_conflict_do_update(
        index_elements=[t.c.scope, t.c.key],
        set_={
            "message_id": case((expired, insert.excluded.message_id), else_=t.c.message_id),
            "created_at": case((expired, insert.excluded.created_at), else_=t.c.created_at),
        },
    ).returning(t.c.message_id)


@dataclass(frozen=True)
class Accepted:
    message_id: uuid.UUID
    duplicate: bool


@dataclass(frozen=True)
class Intake:
    """Everything accepting a message needs; built once in bootstrap."""

    engine: AsyncEngine
    producer: AIOKafkaProducer
    topic: str
    source: str
    key_secret: bytes
    kafka_timeout: float
    attachments: AttachmentStore
    limits: AttachmentLimits
    retention: timedelta = timedelta(days=7)

    async def reserve(self, keys: Sequence[tuple[str, str]]) -> tuple[uuid.UUID, bool]:
        """The message id for these idempotency keys: a new one, or the one given before.

        Any one key seen within the retention window decides (the Idempotency-Key
        header and the channel's own message id are equivalent); every key is then
        bound to that id, so a later re-send with either finds it. A key older than
        the window counts as new, whether or not the purge has removed it yet.
        """
        candidate = new_id()
        now = datetime.now(UTC)
        cutoff = now - self.retention
        pairs = list(dict.fromkeys((scope, storable_key(key)) for scope, key in keys))
        upsert = _upsert_statement(self.engine.dialect.name)
        async with self.engine.connect() as conn:
            if len(pairs) == 1 and self.engine.dialect.name == "postgresql":
                # One statement is atomic on its own: no BEGIN/COMMIT round trips.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with conn.begin():
                bound = [
                    (
                        await conn.execute(
                            upsert,
                            {
                                "scope": scope,
                                "key": key,
                                "message_id": candidate,
                                "created_at": now,
                                "cutoff": cutoff,
                            },
                        )
                    ).scalar_one()
                    for scope, key in pairs
                ]
                earlier = [message_id for message_id in bound if message_id != candidate]
                if not earlier:
                    return candidate, False
                chosen = earlier[0]
                t = idempotency_keys
                for (scope, key), message_id in zip(pairs, bound, strict=True):
                    if message_id == candidate:
                        await conn.execute(
                            update(t)
                            .where(t.c.scope == scope, t.c.key == key)
                            .values(message_id=chosen)
                        )
        return chosen, True

    async def purge_expired(self) -> int:
        """Delete idempotency keys older than the retention window; returns how many."""
        cutoff = datetime.now(UTC) - self.retention
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def purge_forever(self, interval: float) -> None:
        """The periodic purge (a supervised loop); a failed round is retried next time."""
        while True:
            try:
                purged = await self.purge_expired()
                if purged:
                    log.info("purged idempotency keys", extra={"count": purged})
            except Exception as exc:
                log.warning("idempotency purge failed", extra={"error_type": type(exc).__name__})
            await asyncio.sleep(interval)

    async def accept(
        self,
        build: MessageBuilder,
        *,
        channel: str,
        idempotency: Sequence[tuple[str, str]],
        attachments: Sequence[Blob] = (),
    ) -> Accepted:
        """Store the attachments, publish one message, return only once Kafka acknowledged.

        Raises ``AttachmentLimitError`` before anything is stored or reserved, and
        ``BrokerUnavailableError`` when Kafka did not acknowledge in time.
        """
        started = time.perf_counter()
        check_limits(attachments, self.limits)
        if idempotency:
            message_id, duplicate = await self.reserve(idempotency)
        else:
            message_id, duplicate = new_id(), False
        refs = [await self.attachments.put(blob) for blob in attachments]
        message = build(message_id, refs)
        event = envelope_json(
            source=self.source,
            type=MessageReceived.TYPE,
            subject=str(message_id),
            data=MessageReceived(message=message).model_dump(mode="json"),
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
        elapsed = time.perf_counter() - started
        ACK_SECONDS.labels(channel).observe(elapsed)
        (DUPLICATES if duplicate else ACCEPTED).labels(channel).inc()
        log.info(
            "message accepted",
            extra={
                "message_id": str(message_id),
                "channel": channel,
                "count": len(refs),
                "duration_ms": round(elapsed * 1000, 1),
                "reason": "duplicate" if duplicate else "new",
            },
        )
        return Accepted(message_id=message_id, duplicate=duplicate)

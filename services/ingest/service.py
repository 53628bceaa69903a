"""Accepting a message: idempotency, attachments, then Kafka, then (only then) the 202.

The message id doubles as the CloudEvent id of ``message.received``, so a
re-send that reaches Kafka twice is one event to the router.

An idempotency key binds one content (its fingerprint) to one message id. A re-send
with the same key:

- with other content: refused (``IdempotencyConflictError``, HTTP 422);
- of a message Kafka acknowledged: answered as a duplicate, nothing published;
- while the first attempt is in flight (not yet acknowledged, started less than the
  in-flight window ago): ``InFlightError`` (HTTP 409, try again later);
- after a first attempt that failed (503) or never finished (the process died):
  published now, rebuilt from the same content with the same message id and the same
  "now" (the key's ``created_at``), so the event is byte for byte the one the first
  attempt sent or would have sent: one event id never carries two contents.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Histogram
from sqlalchemy import and_, bindparam, case, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.attachments import AttachmentLimits, check_limits
from services.ingest.orm import idempotency_keys
from shared.attachments import AttachmentStore, Blob
from shared.contracts import InboundMessage, MessageReceived
from shared.contracts.inbound import AttachmentRef
from shared.db.dialect import dialect_insert
from shared.envelope import envelope_json
from shared.identifiers import sender_key
from shared.ids import new_id
from shared.kafka.producer import publish
from shared.rounds import purge_every

log = logging.getLogger(__name__)

ACCEPTED = Counter("eenloket_ingest_accepted_total", "Messages acknowledged by Kafka", ["channel"])
DUPLICATES = Counter("eenloket_ingest_duplicates_total", "Re-sent messages recognised", ["channel"])
REJECTED = Counter("eenloket_ingest_rejected_total", "Messages refused", ["channel", "reason"])
ACK_SECONDS = Histogram(
    "eenloket_ingest_kafka_ack_seconds", "Time from receipt to Kafka acknowledgement", ["channel"]
)

# (message id, the stored attachments, "now") -> the message. "Now" is the moment the
# message was first received: a builder uses it wherever the channel gives no time of
# its own (``received_at``), never the clock, so a rebuild is the same message.
MessageBuilder = Callable[[uuid.UUID, list[AttachmentRef], datetime], InboundMessage]

_KEY_COLUMN_LENGTH = 200
# Added to the longest a publish waits (twice the Kafka timeout: for the send, then for the
# acknowledgement) to make the in-flight window: attachments are stored in it as well.
IN_FLIGHT_MARGIN = timedelta(seconds=10)


class IdempotencyConflictError(Exception):
    """A key seen before, bound to other content (HTTP 422). ``scope`` is the key's kind
    (``<channel>:idempotency-key``, ``<channel>:message-id``): which key, never its value."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class InFlightError(Exception):
    """The first request with this key is not yet acknowledged by Kafka (HTTP 409)."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


def storable_key(key: str) -> str:
    """Keys longer than the column (a long Message-ID) are stored by their hash."""
    if len(key) <= _KEY_COLUMN_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


_BOUND = ("message_id", "created_at", "fingerprint", "attempted_at", "accepted_at")


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    """Bind a key to a candidate message; returns the row the key is bound to.

    A new key gets the candidate, an expired one is taken over, a live one keeps its row
    (the update that changes nothing is there so RETURNING gives every row, not only
    inserted ones). Built once: the statement is compiled once and cached."""
    t = idempotency_keys
    insert = dialect_insert(dialect, t)
    expired = t.c.created_at < bindparam("cutoff")
    return insert.on_conflict_do_update(
        index_elements=[t.c.scope, t.c.key],
        set_={c: case((expired, insert.excluded[c]), else_=t.c[c]) for c in _BOUND},
    ).returning(*(t.c[c] for c in _BOUND))


def _mark_statement(**values: Any) -> Any:
    """An update of one key's row, if still bound to the message; run once per key."""
    t = idempotency_keys
    return (
        update(t)
        .where(
            t.c.scope == bindparam("b_scope"),
            t.c.key == bindparam("b_key"),
            t.c.message_id == bindparam("b_message_id"),
        )
        .values(**values)
    )


# After Kafka acknowledged: the hot path's one statement after the reservation.
_ACCEPTED = _mark_statement(accepted_at=bindparam("b_at"))
_ABANDONED = _mark_statement(attempted_at=None).where(
    idempotency_keys.c.accepted_at.is_(None),
    idempotency_keys.c.attempted_at == bindparam("b_attempt"),
)


class _Row(NamedTuple):
    message_id: uuid.UUID
    created_at: datetime
    fingerprint: str | None
    attempted_at: datetime | None
    accepted_at: datetime | None


@dataclass(frozen=True)
class Reservation:
    """What ``Intake.reserve`` decided for a message's keys.

    ``now`` is the moment the message was first received (the builders' "now");
    ``attempt`` the ``attempted_at`` of this request's attempt to publish it, None when
    there is nothing to publish (``acknowledged``: a duplicate of a message Kafka has)."""

    message_id: uuid.UUID
    now: datetime
    pairs: tuple[tuple[str, str], ...]
    recognised: bool  # a key was bound to this message before this request
    acknowledged: bool
    attempt: datetime | None


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
    # How long an unacknowledged first attempt counts as in flight (a re-send is a 409);
    # None: twice the Kafka timeout plus IN_FLIGHT_MARGIN.
    in_flight: timedelta | None = None

    @property
    def in_flight_window(self) -> timedelta:
        if self.in_flight is not None:
            return self.in_flight
        return 2 * timedelta(seconds=self.kafka_timeout) + IN_FLIGHT_MARGIN

    async def reserve(self, keys: Sequence[tuple[str, str]], fingerprint: str) -> Reservation:
        """The message for these idempotency keys: a new one, or the one given before.

        Any one key seen within the retention window decides (the Idempotency-Key
        header and the channel's own message id are equivalent); every key is then
        bound to that message, so a later re-send with either finds it. A key older
        than the window counts as new, whether or not the purge has removed it yet.
        Raises ``IdempotencyConflictError`` when a key was bound to other content,
        ``InFlightError`` when the message's first attempt is still in flight.
        """
        candidate = new_id()
        now = datetime.now(UTC)
        cutoff = now - self.retention
        pairs = tuple(dict.fromkeys((scope, storable_key(key)) for scope, key in keys))
        upsert = _upsert_statement(self.engine.dialect.name)
        t = idempotency_keys
        async with self.engine.connect() as conn:
            if len(pairs) == 1 and self.engine.dialect.name == "postgresql":
                # One statement is atomic on its own: no BEGIN/COMMIT round trips.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with conn.begin():
                rows = [
                    _Row(
                        *(
                            await conn.execute(
                                upsert,
                                {
                                    "scope": scope,
                                    "key": key,
                                    "message_id": candidate,
                                    "created_at": now,
                                    "fingerprint": fingerprint,
                                    "attempted_at": now,
                                    "accepted_at": None,
                                    "cutoff": cutoff,
                                },
                            )
                        ).one()
                    )
                    for scope, key in pairs
                ]
                earlier = [
                    (scope, row)
                    for (scope, _), row in zip(pairs, rows, strict=True)
                    if row.message_id != candidate
                ]
                if not earlier:
                    return Reservation(
                        candidate,
                        rows[0].created_at,
                        pairs,
                        recognised=False,
                        acknowledged=False,
                        attempt=now,
                    )
                for scope, row in earlier:
                    # NULL: a row from before migration 0003, its content unknown.
                    if row.fingerprint is not None and row.fingerprint != fingerprint:
                        raise IdempotencyConflictError(scope)  # rolls back the new keys
                scope, chosen = earlier[0]
                same = [row for _, row in earlier if row.message_id == chosen.message_id]
                for (new_scope, new_key), row in zip(pairs, rows, strict=True):
                    if row.message_id == candidate:  # a new key for a known message
                        await conn.execute(
                            update(t)
                            .where(t.c.scope == new_scope, t.c.key == new_key)
                            .values(chosen._asdict())
                        )
                if any(row.accepted_at is not None for row in same):
                    return Reservation(
                        chosen.message_id,
                        chosen.created_at,
                        pairs,
                        recognised=True,
                        acknowledged=True,
                        attempt=None,
                    )
                stale = now - self.in_flight_window
                if any(row.attempted_at is not None and row.attempted_at >= stale for row in same):
                    raise InFlightError(scope)
                # The first attempt failed or never finished: this request publishes it,
                # unless another re-send claimed the attempt first.
                claimed = await conn.execute(
                    update(t)
                    .where(
                        or_(*(and_(t.c.scope == s, t.c.key == k) for s, k in pairs)),
                        t.c.message_id == chosen.message_id,
                        t.c.accepted_at.is_(None),
                        or_(t.c.attempted_at.is_(None), t.c.attempted_at < stale),
                    )
                    .values(
                        attempted_at=now,
                        fingerprint=case(
                            (t.c.fingerprint.is_(None), fingerprint), else_=t.c.fingerprint
                        ),
                    )
                )
                if not claimed.rowcount:
                    raise InFlightError(scope)
                return Reservation(
                    chosen.message_id,
                    chosen.created_at,
                    pairs,
                    recognised=True,
                    acknowledged=False,
                    attempt=now,
                )

    async def _mark(self, reservation: Reservation, statement: Any, **values: Any) -> None:
        """Update every key's row of the reservation (autocommit on PostgreSQL)."""
        params = [
            {"b_scope": scope, "b_key": key, "b_message_id": reservation.message_id} | values
            for scope, key in reservation.pairs
        ]
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with conn.begin():
                await conn.execute(statement, params[0] if len(params) == 1 else params)

    async def purge_expired(self) -> int:
        """Delete idempotency keys older than the retention window; returns how many."""
        cutoff = datetime.now(UTC) - self.retention
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def purge_forever(self, interval: float) -> None:
        """The periodic purge (a supervised loop, ``shared.rounds.purge_every``)."""
        await purge_every(self.purge_expired, seconds=interval, what="idempotency keys")

    async def accept(
        self,
        build: MessageBuilder,
        *,
        channel: str,
        idempotency: Sequence[tuple[str, str]],
        fingerprint: str,
        attachments: Sequence[Blob] = (),
    ) -> Accepted:
        """Store the attachments, publish one message, return only once Kafka acknowledged.

        ``fingerprint`` identifies the content (the same validated request, the same
        e-mail): a key re-sent with another is refused. Raises ``AttachmentLimitError``
        before anything is stored or reserved, ``IdempotencyConflictError`` and
        ``InFlightError`` (see ``reserve``), and ``BrokerUnavailableError`` when Kafka
        did not acknowledge in time. ``duplicate``: Kafka had acknowledged the message
        before this request, and nothing was published again.
        """
        started = time.perf_counter()
        check_limits(attachments, self.limits)
        if idempotency:
            reservation = await self.reserve(idempotency, fingerprint)
        else:
            now = datetime.now(UTC)
            reservation = Reservation(
                new_id(), now, (), recognised=False, acknowledged=False, attempt=now
            )
        message_id = reservation.message_id
        if reservation.acknowledged:
            DUPLICATES.labels(channel).inc()
            log.info(
                "message accepted",
                extra={"message_id": str(message_id), "channel": channel, "reason": "duplicate"},
            )
            return Accepted(message_id=message_id, duplicate=True)
        try:
            refs = [await self.attachments.put(blob) for blob in attachments]
            message = build(message_id, refs, reservation.now)
            event = envelope_json(
                source=self.source,
                type=MessageReceived.TYPE,
                subject=str(message_id),
                data=MessageReceived(message=message).model_dump(mode="json"),
                event_id=message_id,
                time=message.received_at,
            )
            await publish(
                self.producer,
                self.topic,
                key=sender_key(message, self.key_secret),
                event=event,
                timeout=self.kafka_timeout,
            )
        except Exception:
            if reservation.pairs:
                await self._abandon(reservation)
            raise
        if reservation.pairs:
            try:
                await self._mark(reservation, _ACCEPTED, b_at=datetime.now(UTC))
            except Exception as exc:
                # Kafka has it: the answer is 202. An unmarked row only means that a
                # re-send after the in-flight window publishes the same bytes again.
                log.warning(
                    "acknowledgement not recorded",
                    extra={"message_id": str(message_id), "error_type": type(exc).__name__},
                )
        elapsed = time.perf_counter() - started
        ACK_SECONDS.labels(channel).observe(elapsed)
        ACCEPTED.labels(channel).inc()
        log.info(
            "message accepted",
            extra={
                "message_id": str(message_id),
                "channel": channel,
                "count": len(refs),
                "duration_ms": round(elapsed * 1000, 1),
                "reason": "retry" if reservation.recognised else "new",
            },
        )
        return Accepted(message_id=message_id, duplicate=False)

    async def _abandon(self, reservation: Reservation) -> None:
        """This attempt failed (the client gets a 503): a re-send may publish at once,
        without waiting out the in-flight window. Not if another attempt took over."""
        try:
            await self._mark(reservation, _ABANDONED, b_attempt=reservation.attempt)
        except Exception as exc:  # the database away as well: the window applies
            log.warning(
                "failed attempt not recorded",
                extra={
                    "message_id": str(reservation.message_id),
                    "error_type": type(exc).__name__,
                },
            )

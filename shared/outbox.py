"""The transactional outbox (design §7) and its relay.

A service writes the events it wants published into ``outbox`` in the same
transaction as its state change; the relay publishes them afterwards and marks
them sent. A crash between publish and mark publishes again: duplicates on the
wire are allowed, consumers drop them by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import Table, Text, cast, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.bulk import postgres_driver
from shared.db.dialect import is_postgres
from shared.envelope import CloudEvent
from shared.kafka.config import key_partitioner
from shared.kafka.headers import (
    Headers,
    context_from_carrier,
    headers_from_carrier,
    outgoing_headers,
    trace_carrier,
)
from shared.kafka.producer import ResilientProducer
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED
from shared.telemetry import exporting

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# Only one relay per database publishes at a time, so per-aggregate order on the
# topic equals commit order; other replicas stand by. (Arbitrary constant.)
RELAY_LOCK_KEY = 0x0E_E1_0C_E7


CURRENT_TRACE: Any = object()  # outbox_row's default: the trace context current at the call


def outbox_row(
    *,
    topic: str,
    aggregatetype: str,
    event: CloudEvent | dict[str, Any],
    trace: dict[str, str] | None = CURRENT_TRACE,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """One row for ``outbox``; the Kafka key is the aggregate id (the event's subject).

    ``event`` is an envelope, as a model or already in its JSON form (``envelope_json``).
    ``trace`` is the context to continue (``trace_carrier()``, the default); a caller writing
    several rows under one context passes it once taken."""
    payload = (
        event.model_dump(mode="json", exclude_none=True) if isinstance(event, CloudEvent) else event
    )
    assert payload.get("subject"), "outbox events need a subject (the aggregate id)"
    return {
        "id": uuid.UUID(payload["id"]),
        "aggregatetype": aggregatetype,
        "aggregateid": payload["subject"],
        "type": payload["type"],
        "payload": payload,
        "topic": topic,
        "trace": (trace_carrier() if trace is CURRENT_TRACE else trace) or None,
        "created_at": created_at or datetime.now(UTC),
    }


_OUTBOX_COLUMNS = [
    "id",
    "aggregatetype",
    "aggregateid",
    "type",
    "payload",
    "topic",
    "trace",
    "created_at",
]


async def add_to_outbox(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert the rows in list order (their ``position`` is the publishing order). On
    PostgreSQL one binary COPY, the JSON serialised by orjson."""
    if not rows:
        return
    driver = await postgres_driver(session)
    if driver is None:
        await session.execute(table.insert(), rows)
        return
    dumps = orjson.dumps
    # Binary COPY: the rows in list order (``position`` is assigned in that order), the
    # JSON as text for the json columns (stored as written: shared.db.types.JsonText).
    await driver.copy_records_to_table(
        table.name,
        columns=_OUTBOX_COLUMNS,
        records=[
            (
                r["id"],
                r["aggregatetype"],
                r["aggregateid"],
                r["type"],
                dumps(r["payload"]).decode(),
                r["topic"],
                None if r["trace"] is None else dumps(r["trace"]).decode(),
                r["created_at"],
            )
            for r in rows
        ],
    )


_NO_TRACE = headers_from_carrier({})


class _Unpublished(NamedTuple):
    position: int
    aggregateid: str
    payload: str  # the envelope's JSON text
    topic: str
    trace: dict[str, str] | None


CrashHook = Callable[[str], Awaitable[None]]


async def _no_crash(_: str) -> None:
    return None


class OutboxRelay:
    """Publishes unpublished outbox rows in commit order, then marks them sent."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        producer: AIOKafkaProducer | ResilientProducer,
        batch_size: int = 1000,
        poll_interval: float = 0.5,
        crash_hook: CrashHook = _no_crash,
        after_round: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._crash_hook = crash_hook  # reliability tests crash the process at named points
        # Called after each batch published, outside the retry: what it raises ends the loop
        # (shared/faults.py, the test-only death of a loop).
        self._after_round = after_round

    def notify(self) -> None:
        """Wake the relay now (called after a commit that wrote outbox rows)."""
        self._wakeup.set()

    async def run(self) -> None:
        backoff = self._poll_interval
        while True:
            try:
                published = await self.publish_once()
                backoff = self._poll_interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Kafka or the database is away: nothing was marked, so nothing is lost.
                log.warning(
                    "outbox relay failed; retrying", extra={"error_type": type(exc).__name__}
                )
                published = 0
                backoff = min(backoff * 2, 10.0)
                await asyncio.sleep(backoff)
                continue
            if published and self._after_round is not None:
                self._after_round()
            if published < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
                self._wakeup.clear()

    async def publish_once(self) -> int:
        """Publish one batch; returns how many rows it published."""
        async with self._sessions() as session, session.begin():
            if is_postgres(session):
                got = await session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RELAY_LOCK_KEY}
                )
                if not got:
                    return 0
            rows = await self._unpublished(session)
            if not rows:
                OUTBOX_BACKLOG.set(0)
                return 0
            futures = await self._send(rows)
            await asyncio.gather(*futures)  # every record acknowledged (acks=all)
            await self._crash_hook("after-publish-before-mark")
            await self._mark_sent(session, [r.position for r in rows])
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _unpublished(self, session: AsyncSession) -> list[_Unpublished]:
        """The next unpublished rows in commit order, locked (PostgreSQL: rows another relay
        holds are skipped). The payload as the database writes it, not decoded and encoded
        again here: the compact text it was written as, on SQLite and on PostgreSQL (``json``
        keeps it as written; read through asyncpg directly, no per-row result processing)."""
        t = self._table
        driver = await postgres_driver(session)
        if driver is not None:
            found = await driver.fetch(
                "SELECT position, aggregateid, payload::text, topic, trace::text "  # noqa: S608
                f"FROM {t.name} WHERE published_at IS NULL ORDER BY position LIMIT $1 "
                "FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            return [
                _Unpublished(p, a, payload, topic, None if tr is None else orjson.loads(tr))
                for p, a, payload, topic, tr in found
            ]
        query = (
            select(
                t.c.position,
                t.c.aggregateid,
                cast(t.c.payload, Text).label("payload"),
                t.c.topic,
                t.c.trace,
            )
            .where(t.c.published_at.is_(None))
            .order_by(t.c.position)
            .limit(self._batch_size)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        return [_Unpublished(*row) for row in (await session.execute(query)).all()]

    async def _mark_sent(self, session: AsyncSession, positions: list[int]) -> None:
        t = self._table
        now = datetime.now(UTC)
        driver = await postgres_driver(session)
        if driver is not None:
            await driver.execute(
                f"UPDATE {t.name} SET published_at = $1 "  # noqa: S608 - our own table name
                "WHERE position = ANY($2::bigint[])",
                now,
                positions,
            )
            return
        await session.execute(update(t).where(t.c.position.in_(positions)).values(published_at=now))

    async def _send(self, rows: Sequence[_Unpublished]) -> list[asyncio.Future[Any]]:
        """Hand the rows to the producer in order; the futures of their acknowledgements.

        One producer batch (``send_batch``: aiokafka's, or ``ResilientProducer``'s) per
        partition (split only when full), in row order within each partition: the same
        placement as ``send`` (``key_partitioner`` of the key, over the topic's partitions),
        without a future, a metadata check and a partitioner call for every record."""
        traced = exporting()
        records: list[tuple[str, bytes, bytes, Headers]] = []
        for row in rows:
            if traced:
                with tracer.start_as_current_span(
                    f"{row.topic} publish",
                    context=context_from_carrier(row.trace or {}),
                    kind=SpanKind.PRODUCER,
                ):
                    headers = outgoing_headers()
            elif row.trace:  # the stored context travels on as it is: same trace id, no span
                headers = headers_from_carrier(row.trace)
            else:
                headers = _NO_TRACE  # what headers_from_carrier({}) makes, made once
            records.append((row.topic, row.aggregateid.encode(), row.payload.encode(), headers))
        producer = self._producer
        partitions: dict[str, list[int]] = {}
        by_partition: dict[tuple[str, int], list[tuple[bytes, bytes, Headers]]] = {}
        for topic, key, value, headers in records:
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = sorted(await producer.partitions_for(topic))
            place = (topic, key_partitioner(key, known, known))
            by_partition.setdefault(place, []).append((key, value, headers))
        futures = []
        for (topic, partition), items in by_partition.items():
            batch = producer.create_batch()
            for key, value, headers in items:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    futures.append(await _send_now(producer, batch, topic, partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        raise ValueError("an outbox record does not fit in a producer batch")
            futures.append(await _send_now(producer, batch, topic, partition))
        return futures

    async def backlog(self) -> int:
        t = self._table
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(t).where(t.c.published_at.is_(None))
            )
        OUTBOX_BACKLOG.set(count or 0)
        return int(count or 0)


async def _send_now(
    producer: AIOKafkaProducer | ResilientProducer, batch: Any, topic: str, partition: int
) -> asyncio.Future[Any]:
    """Hand over a finished batch. Closed, it goes out at once instead of lingering for
    records that cannot come (the relay waits for its acknowledgements before its next
    round): the producer's linger only added latency to every round."""
    batch.close()
    return await producer.send_batch(batch, topic, partition=partition)

"""The transactional batch consumer every Eenloket consumer runs on (design §7).

One database transaction per consumed batch holds the effects, the processed
event ids and the next offsets. The offsets in the database are the truth; the
offsets committed to Kafka afterwards only make lag visible. Each event is
applied at most once per consumer group (``processed_events``); a record that
still fails after bounded retries goes to the dead-letter topic and the
partition keeps flowing. Kafka or database outages roll the batch back and
retry it: they never dead-letter a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from sqlalchemy import Table, func, select
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.bulk import postgres_driver
from shared.db.dialect import is_postgres, upsert_insert
from shared.envelope import CloudEvent
from shared.kafka.arrivals import ArrivalRate
from shared.kafka.config import make_consumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.headers import context_from_headers
from shared.kafka.records import Record
from shared.metrics import (
    BATCH_IN_FLIGHT,
    BATCH_RETRIES,
    BATCH_SECONDS,
    CONSUMED,
    CONSUMER_LAG,
    DEAD_LETTERS,
    DUPLICATES,
    EVENT_DELAY,
)
from shared.telemetry import exporting

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class Handler(Protocol):
    """Applies one event inside the batch's transaction. Raise to refuse it."""

    async def __call__(self, session: AsyncSession, event: CloudEvent, record: Record) -> None: ...


class BatchHandler(Protocol):
    """Applies all new events of a batch at once (bulk SQL). Raising sends the batch to the
    careful path, where ``Handler`` applies each record alone in a savepoint."""

    async def __call__(
        self, session: AsyncSession, items: list[tuple[CloudEvent, Record]]
    ) -> None: ...


@dataclass(frozen=True)
class ConsumerTables:
    offsets: Table
    processed: Table


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble (retry the batch) as opposed to a bad record (dead-letter it)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        OperationalError
        | InterfaceError
        | DisconnectionError
        | KafkaError
        | OSError
        | TimeoutError
        # asyncpg's own, from statements sent on the driver connection (``postgres_driver``):
        # the connection is gone, the server shuts down or does not take connections now.
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError,
    )


@contextmanager
def _continued(parent: otel_context.Context) -> Iterator[None]:
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def carries_trace(record: Record) -> bool:
    """Whether the record's headers hold anything the propagators read (trace context,
    baggage)."""
    if not record.headers:
        return False
    fields = propagate.get_global_textmap().fields
    return any(key in fields for key, _ in record.headers)


def record_span(record: Record, event: CloudEvent, group: str) -> AbstractContextManager[object]:
    """The span of processing one record: a child of the trace its producer started.

    While no traces are exported, the producer's context is only made current: what this
    record causes carries the same trace id on, without a span per record nobody records
    (that span cost the router several per cent of its CPU); without a context in its
    headers there is nothing to make current."""
    if not exporting():
        if not carries_trace(record):
            return nullcontext()
        return _continued(context_from_headers(record.headers))
    parent = context_from_headers(record.headers)
    return tracer.start_as_current_span(
        f"{record.topic} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": record.topic,
            "messaging.kafka.partition": record.partition,
            "messaging.kafka.offset": record.offset,
            "messaging.message.id": str(event.id),
            "messaging.consumer.group.name": group,
        },
    )


class TransactionalConsumer:
    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        sessions: async_sessionmaker[AsyncSession],
        tables: ConsumerTables,
        handler: Handler,
        dead_letters: DeadLetters,
        client_id: str,
        max_records: int = 500,
        linger: float = 0.05,
        linger_until: int = 100,
        linger_rate: float = 200.0,
        max_attempts: int = 3,
        on_commit: Callable[[], Awaitable[None] | None] | None = None,
        batch_handler: BatchHandler | None = None,
        kafka_commit_every: float = 1.0,
    ) -> None:
        self.group_id = group_id
        self._topics = list(topics)
        self._sessions = sessions
        self._tables = tables
        self._handler = handler
        self._batch_handler = batch_handler
        self._dead_letters = dead_letters
        self._max_records = max_records
        self._linger = linger  # seconds a small batch waits for more (see _next_batch)
        self._linger_until = min(linger_until, max_records)
        self._linger_rate = linger_rate  # records/s above which a small batch waits
        self._arrivals = ArrivalRate()
        self._max_attempts = max_attempts
        self._on_commit = on_commit
        # Offsets applied but not yet committed to Kafka (see _commit_to_kafka).
        self._kafka_offsets: dict[TopicPartition, int] = {}
        self._kafka_commit_every = kafka_commit_every
        self._kafka_committed_at = float("-inf")  # the first batch commits at once
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer = make_consumer(
            bootstrap=bootstrap,
            client_id=client_id,
            group_id=group_id,
            max_poll_records=max_records,
        )

    @property
    def kafka(self) -> AIOKafkaConsumer:
        return self._consumer

    async def start(self) -> None:
        self._consumer.subscribe(self._topics, listener=_SeekToStoredOffsets(self))
        await self._consumer.start()

    async def stop(self) -> None:
        await self._commit_to_kafka()  # what was applied since the last commit
        await self._consumer.stop()

    async def _next_batch(self) -> dict[TopicPartition, list[Record]]:
        """What has arrived; when that is only a few records *and records are arriving
        fast* (over ``linger_rate`` per second), also what arrives within ``linger`` seconds
        more. Every batch is one transaction with fixed costs (stored offsets, processed ids,
        a statement per table, the commit, the relay's round): at a moderate arrival rate
        each poll found one or two records, and those fixed costs were most of the router's
        and caseview's CPU. Under load a poll fills the batch at once and nothing waits; when
        it is quiet nothing waits either, since a wait would only add latency
        (``shared/kafka/arrivals.py``)."""
        batch: dict[TopicPartition, list[Record]] = await self._consumer.getmany(
            timeout_ms=500, max_records=self._max_records
        )
        count = sum(len(records) for records in batch.values())
        self._arrivals.add(count)
        if not count or count >= self._linger_until:
            return batch
        if self._arrivals.per_second() < self._linger_rate:
            return batch
        deadline = time.monotonic() + self._linger
        while count < self._linger_until and (left := deadline - time.monotonic()) > 0:
            more = await self._consumer.getmany(
                timeout_ms=max(1, int(left * 1000)), max_records=self._max_records - count
            )
            got = 0
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                got += len(records)
            self._arrivals.add(got)
            count += got
        return batch

    async def run(self) -> None:
        backoff = 0.2
        in_flight = BATCH_IN_FLIGHT.labels(self.group_id)
        while True:
            batch = await self._next_batch()
            if not batch:
                await self._commit_to_kafka()  # quiet: Kafka's view catches up at once
                continue
            started = time.perf_counter()
            try:
                async with self._lock:
                    in_flight.set(1)
                    try:
                        applied_times = await self._apply(batch)
                    finally:
                        in_flight.set(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Nothing of this batch is durable: rewind and try again after a pause.
                BATCH_RETRIES.labels(self.group_id).inc()
                log.warning(
                    "batch rolled back; retrying",
                    extra={"group": self.group_id, "error_type": type(exc).__name__},
                )
                assigned = self._consumer.assignment()
                for tp, records in batch.items():
                    if tp in assigned:  # a revoked one's new owner seeks to the stored offset
                        self._consumer.seek(tp, records[0].offset)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.2
            BATCH_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)
            committed = datetime.now(UTC)
            delay = EVENT_DELAY.labels(self.group_id)
            for at in applied_times:
                delay.observe(max(0.0, (committed - at).total_seconds()))
            if self._on_commit is not None:
                result = self._on_commit()
                if result is not None:
                    await result
            self._to_commit_to_kafka(batch)
            if time.monotonic() - self._kafka_committed_at >= self._kafka_commit_every:
                await self._commit_to_kafka()
            self._report_lag(batch)

    async def _apply(self, batch: dict[TopicPartition, list[Record]]) -> list[datetime]:
        """Apply the batch; returns the times of the events it applied (for the delay)."""
        # Decode once: a record that is not an envelope is dead-lettered once per attempt.
        decoded = [(r, await self._decode(r)) for records in batch.values() for r in records]
        envelopes = [(r, e) for r, e in decoded if e is not None]
        try:
            return await self._transaction(batch, envelopes, careful=False)
        except Exception as exc:
            if is_transient(exc):
                raise
            # Some record failed: redo the batch isolating each record in a savepoint.
            return await self._transaction(batch, envelopes, careful=True)

    async def _transaction(
        self,
        batch: dict[TopicPartition, list[Record]],
        envelopes: list[tuple[Record, CloudEvent]],
        *,
        careful: bool,
    ) -> list[datetime]:
        async with self._sessions() as session, session.begin():
            # What this group stored and applied before: the partitions' next offsets, and
            # which of the batch's event ids it applied (any record's, even one below them).
            stored, applied = await self._seen(session, batch, [e.id for _, e in envelopes])
            fresh: list[tuple[Record, CloudEvent]] = []
            for record, event in envelopes:
                if record.offset < stored.get(TopicPartition(record.topic, record.partition), -1):
                    DUPLICATES.labels(self.group_id, record.topic).inc()
                    continue
                fresh.append((record, event))

            new: list[tuple[CloudEvent, Record]] = []
            for record, event in fresh:
                if event.id in applied:  # also a duplicate within this batch
                    DUPLICATES.labels(self.group_id, record.topic).inc()
                    continue
                applied.add(event.id)
                new.append((event, record))

            if self._batch_handler is not None and not careful:
                await self._batch_handler(session, new)
                effective = new
            else:
                # Dead-lettered records are not recorded as processed: a replay after a fix
                # applies them.
                apply = self._careful if careful else self._handle
                effective = [(e, r) for e, r in new if await apply(session, e, r)]

            now = datetime.now(UTC)
            counted: dict[str, int] = {}
            for _, record in effective:
                counted[record.topic] = counted.get(record.topic, 0) + 1
            for topic, count in counted.items():
                CONSUMED.labels(self.group_id, topic).inc(count)
            await self._done(session, [e.id for e, _ in effective], batch, now)
        return [e.time for e, _ in effective]

    async def _seen(
        self,
        session: AsyncSession,
        batch: dict[TopicPartition, list[Record]],
        ids: list[uuid.UUID],
    ) -> tuple[dict[TopicPartition, int], set[uuid.UUID]]:
        """The stored offsets of the batch's partitions and which of ``ids`` this group
        applied before: on PostgreSQL one round trip (a batch's fixed costs are most of its
        time when batches are small, #22)."""
        driver = await postgres_driver(session)
        if driver is None:
            offsets = await self._stored_offsets(session, list(batch))
            return offsets, (await self._applied(session, ids) if ids else set())
        o, p = self._tables.offsets.name, self._tables.processed.name
        rows = await driver.fetch(
            f"SELECT topic, partition, next_offset, NULL::uuid FROM {o} "  # noqa: S608
            "WHERE consumer_group = $1 AND topic = ANY($2::text[]) "
            f"UNION ALL SELECT NULL, NULL, NULL, event_id FROM {p} "
            "WHERE consumer_group = $1 AND event_id = ANY($3::uuid[])",
            self.group_id,
            list({tp.topic for tp in batch}),
            ids,
        )
        stored: dict[TopicPartition, int] = {}
        applied: set[uuid.UUID] = set()
        for topic, partition, offset, event_id in rows:
            if event_id is not None:
                applied.add(event_id)
            elif (tp := TopicPartition(topic, partition)) in batch:
                stored[tp] = int(offset)
        return stored, applied

    async def _done(
        self,
        session: AsyncSession,
        ids: list[uuid.UUID],
        batch: dict[TopicPartition, list[Record]],
        now: datetime,
    ) -> None:
        """Record the applied event ids and the batch's next offsets, in the batch's
        transaction: on PostgreSQL one statement."""
        driver = await postgres_driver(session)
        if driver is None:
            if ids:
                await self._mark_processed(session, ids, now)
            await self._store_offsets(session, batch, now)
            return
        o, p = self._tables.offsets.name, self._tables.processed.name
        tps = list(batch)
        await driver.execute(
            f"WITH applied AS (INSERT INTO {p} (consumer_group, event_id, processed_at) "  # noqa: S608
            "SELECT $1, unnest($2::uuid[]), $3) "
            f"INSERT INTO {o} (consumer_group, topic, partition, next_offset, updated_at) "
            "SELECT $1, t, n, x, $3 FROM unnest($4::text[], $5::int[], $6::bigint[]) AS u(t, n, x) "
            "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
            f"next_offset = greatest({o}.next_offset, excluded.next_offset), "
            "updated_at = excluded.updated_at",
            self.group_id,
            ids,
            now,
            [tp.topic for tp in tps],
            [tp.partition for tp in tps],
            [batch[tp][-1].offset + 1 for tp in tps],
        )

    async def _applied(self, session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these event ids this group applied before."""
        processed = self._tables.processed
        driver = await postgres_driver(session)
        if driver is not None:
            rows = await driver.fetch(
                f"SELECT event_id FROM {processed.name} "  # noqa: S608 - a table name of ours
                "WHERE consumer_group = $1 AND event_id = ANY($2::uuid[])",
                self.group_id,
                ids,
            )
            return {r[0] for r in rows}
        return set(
            (
                await session.scalars(
                    select(processed.c.event_id).where(
                        processed.c.consumer_group == self.group_id,
                        processed.c.event_id.in_(ids),
                    )
                )
            ).all()
        )

    async def _mark_processed(
        self, session: AsyncSession, ids: list[uuid.UUID], now: datetime
    ) -> None:
        processed = self._tables.processed
        driver = await postgres_driver(session)
        if driver is not None:
            await driver.copy_records_to_table(
                processed.name,
                columns=["consumer_group", "event_id", "processed_at"],
                records=[(self.group_id, i, now) for i in ids],
            )
            return
        await session.execute(
            processed.insert(),
            [{"consumer_group": self.group_id, "event_id": i, "processed_at": now} for i in ids],
        )

    async def _handle(self, session: AsyncSession, event: CloudEvent, record: Record) -> bool:
        with record_span(record, event, self.group_id):
            await self._handler(session, event, record)
        return True

    async def _careful(self, session: AsyncSession, event: CloudEvent, record: Record) -> bool:
        last: Exception | None = None
        for _ in range(self._max_attempts):
            try:
                async with session.begin_nested():
                    return await self._handle(session, event, record)
            except Exception as exc:
                if is_transient(exc):
                    raise
                last = exc
        assert last is not None
        await self._dead_letter(record, "handler-failed", last)
        return False

    async def _decode(self, record: Record) -> CloudEvent | None:
        try:
            if record.value is None:
                raise ValueError("record has no value (tombstone)")
            return CloudEvent.from_json(record.value)
        except Exception as exc:
            # Not an envelope at all: retrying cannot help.
            await self._dead_letter(record, "malformed-envelope", exc)
            return None

    async def _dead_letter(self, record: Record, reason: str, error: BaseException) -> None:
        await self._dead_letters.send(record, group=self.group_id, reason=reason, error=error)
        DEAD_LETTERS.labels(self.group_id, record.topic, reason).inc()
        log.error(
            "record dead-lettered",
            extra={
                "group": self.group_id,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason,
                "error_type": type(error).__name__,
            },
        )

    async def _stored_offsets(
        self, session: AsyncSession, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        o = self._tables.offsets
        rows = await session.execute(
            select(o.c.topic, o.c.partition, o.c.next_offset).where(
                o.c.consumer_group == self.group_id, o.c.topic.in_({tp.topic for tp in tps})
            )
        )
        wanted = set(tps)
        return {
            tp: int(r.next_offset)
            for r in rows
            if (tp := TopicPartition(r.topic, r.partition)) in wanted
        }

    async def _store_offsets(
        self, session: AsyncSession, batch: dict[TopicPartition, list[Record]], now: datetime
    ) -> None:
        o = self._tables.offsets
        rows = [
            {
                "consumer_group": self.group_id,
                "topic": tp.topic,
                "partition": tp.partition,
                "next_offset": records[-1].offset + 1,
                "updated_at": now,
            }
            for tp, records in batch.items()
        ]
        stmt = upsert_insert(session, o)
        larger = func.greatest if is_postgres(session) else func.max
        stmt = stmt.on_conflict_do_update(
            index_elements=[o.c.consumer_group, o.c.topic, o.c.partition],
            set_={
                "next_offset": larger(o.c.next_offset, stmt.excluded.next_offset),
                "updated_at": stmt.excluded.updated_at,
            },
        )
        await session.execute(stmt, rows)

    def _to_commit_to_kafka(self, batch: dict[TopicPartition, list[Record]]) -> None:
        for tp, records in batch.items():
            self._kafka_offsets[tp] = records[-1].offset + 1

    async def _commit_to_kafka(self) -> None:
        """Tell Kafka the offsets applied since the last time. The database holds the truth
        (a new owner of a partition starts from the offsets stored there), so Kafka's copy
        only serves the group's lag as tools outside Eenloket see it: committed at most every
        ``kafka_commit_every`` seconds while busy and at once when a poll finds nothing. An
        awaited commit per batch was a broker round trip in every batch's path.

        Only partitions still assigned: a rebalance may have taken some away since the batch
        (aiokafka refuses the whole commit for one it no longer has). Their new owner starts
        from the offsets in the database."""
        if not self._kafka_offsets:
            return
        assigned = self._consumer.assignment()
        offsets = {
            tp: OffsetAndMetadata(offset, "")
            for tp, offset in self._kafka_offsets.items()
            if tp in assigned
        }
        self._kafka_offsets = {}
        self._kafka_committed_at = time.monotonic()
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # Harmless: the database holds the truth; lag only looks larger for a moment.
            log.info("kafka offset commit skipped", extra={"error_type": type(exc).__name__})

    def _report_lag(self, batch: dict[TopicPartition, list[Record]]) -> None:
        """Lag of the batch's partitions that are still assigned. Runs outside the lock (at
        times after an awaited Kafka commit), so a rebalance may have taken partitions away
        meanwhile (aiokafka's ``highwater`` asserts the partition is assigned: that assertion
        killed a projector loop, issue #25). Never raises: a metric is not worth a consumer."""
        try:
            assigned = self._consumer.assignment()
            for tp, records in batch.items():
                if tp not in assigned:
                    continue
                high = self._consumer.highwater(tp)
                if high is not None:
                    lag = max(0, high - (records[-1].offset + 1))
                    CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(lag)
        except Exception as exc:
            log.info("consumer lag not reported", extra={"error_type": type(exc).__name__})


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: TransactionalConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._owner._lock:  # let the batch in flight finish first
            pass
        # Another replica reports these partitions' lag from now on: a stale value here would
        # be added to its own on the dashboards.
        for tp in revoked:
            self._owner._kafka_offsets.pop(tp, None)  # its new owner commits from now on
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._owner.group_id, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if not assigned:
            return
        try:
            async with self._owner._sessions() as session:
                stored = await self._owner._stored_offsets(session, list(assigned))
        except Exception as exc:
            # Not fatal: every batch re-checks the stored offsets before applying.
            log.warning("could not read stored offsets", extra={"error_type": type(exc).__name__})
            return
        for tp, offset in stored.items():
            self._owner.kafka.seek(tp, offset)

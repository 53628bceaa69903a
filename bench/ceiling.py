"""The ceiling: what the broker and the database do with nothing of ours in between.

Kafka: raw aiokafka (one Python process, the pipeline's safety settings: acks=all,
idempotence, read_committed) producing and consuming records of exactly the size of
a real inbound envelope (``MessageReceived`` of a web form, as ingest builds it) and
of a real timeline event (``MessageRouted``, as the router's outbox publishes it),
12 partitions, varied keys: produce alone (``send()`` per record as the services do, and
pre-built per-partition batches with ``send_batch()`` as the bulk importer does; both
with the importer's bulk tuning: linger 20 ms, 1 MiB batches), consume alone, and a
round trip (producer here, consumer in a second process, as in the pipeline).

PostgreSQL: timeline-sized rows into caseview's own ``timeline_entries`` table
(created by caseview's migrations, so the same indexes), in batches: asyncpg
``executemany`` of 500 rows per transaction (what a 500-record consumer batch
writes), and ``COPY`` of 5,000 rows per transaction.

``python -m bench.ceiling consume BOOTSTRAP TOPIC COUNT`` is the round trip's
consumer process.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from bench.workload import TEXTS
from services.ingest.channels import webform
from shared.contracts import (
    Channel,
    MessageReceived,
    MessageRouted,
    RoutingExplanation,
    to_cloudevent,
)
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import CONSUMER_SAFETY, make_producer
from shared.kafka.topics import TopicSpec, ensure_topics

PARTITIONS = 12
# The bulk importer's producer tuning (safety settings are the pipeline's, unchanged).
BULK: dict[str, Any] = {
    "linger_ms": 20,
    "max_batch_size": 1024 * 1024,
    "max_request_size": 4 * 1024 * 1024,
}


def inbound_envelope(n: int = 0) -> CloudEvent:
    """A web form as ingest turns it into the record value on ``omni.inbound.v1``."""
    subject, text = TEXTS[n % len(TEXTS)]
    form = webform.WebFormSubmission(
        email=f"inwoner{n}@example.nl", name="J. de Vries", subject=subject, text=text
    )
    mid = uuid.uuid4()
    message = webform.to_message(form, message_id=mid, authenticated=False)
    return to_cloudevent(
        MessageReceived(message=message),
        source=source_urn("00000000000000000000", "eenloket-ingest"),
        subject=mid,
        event_id=mid,
        time=message.received_at,
    )


def timeline_envelope(n: int = 0) -> CloudEvent:
    """A ``message.routed`` as the router's outbox publishes it on ``omni.timeline.v1``."""
    subject, text = TEXTS[n % len(TEXTS)]
    party = uuid.uuid4()
    routed = MessageRouted(
        message_id=uuid.uuid4(),
        party_id=party,
        case_id=uuid.uuid4(),
        case_number="ZAAK-2026-0000012345",
        channel=Channel.WEB,
        received_at=datetime.now(UTC),
        display_name="J. de Vries",
        subject=subject,
        text=text,
        attachments=[],
        owner_team="burgerzaken",
        explanation=RoutingExplanation(
            case_rule="open-case-same-product",
            case_detail="paspoort",
            owner_rule="product-owner",
            owner_detail="paspoort -> burgerzaken",
            ruleset_version="2026-11-01",
        ),
    )
    return to_cloudevent(
        routed,
        source=source_urn("00000000000000000000", "eenloket-router"),
        subject=party,
        sequence=3,
    )


def payload_sizes() -> dict[str, int]:
    inbound = [len(inbound_envelope(n).to_json()) for n in range(len(TEXTS))]
    timeline = [len(timeline_envelope(n).to_json()) for n in range(len(TEXTS))]
    return {
        "inbound_bytes": round(statistics.median(inbound)),
        "timeline_bytes": round(statistics.median(timeline)),
    }


@dataclass
class KafkaCeiling:
    size: int
    count: int
    produce_per_second: float  # send() per record, as the services do
    produce_batched_per_second: float  # send_batch(), as the bulk importer does
    consume_per_second: float
    round_trip_per_second: float
    round_trip_p50_ms: float
    round_trip_p99_ms: float


def _keys(count: int) -> list[bytes]:
    # Like ingest's keys: 32 hex characters of an HMAC per sender, senders writing again.
    return [uuid.UUID(int=n * 7919 % max(1, count // 4)).hex.encode() for n in range(count)]


async def _produce(bootstrap: str, topic: str, value: bytes, keys: list[bytes]) -> float:
    producer = make_producer(bootstrap, "bench-ceiling", **BULK)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"warm-up")
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=k) for k in keys]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _produce_batched(bootstrap: str, topic: str, value: bytes, keys: list[bytes]) -> float:
    """The fastest raw aiokafka path: records pre-grouped per partition (murmur2 of the key,
    as ``send()`` would pick) into batches sent with ``send_batch`` — what the bulk
    importer does."""
    producer = make_producer(bootstrap, "bench-ceiling-batch", **BULK)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"warm-up")
        started = time.perf_counter()
        open_batches: dict[int, Any] = {}
        futures = []
        by_key: dict[bytes, int] = {}  # senders write again: hash each key once
        for key in keys:
            partition = by_key.get(key, -1)
            if partition < 0:
                partition = by_key[key] = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for partition, batch in open_batches.items():
            batch.close()
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    settings = {k: v for k, v in CONSUMER_SAFETY.items() if k != "enable_auto_commit"}
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, max_poll_records=500, **settings
    )


async def _consume(bootstrap: str, topic: str, count: int) -> tuple[float, list[float]]:
    """Seconds to read ``count`` records from the start (partitions assigned, no group), and
    for each record the delay from its producer timestamp to its arrival here (ms)."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        delays: list[float] = []
        seen = 0
        started = time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            now = time.time() * 1000
            for records in batches.values():
                for r in records:
                    if r.key != b"warm-up":
                        seen += 1
                        delays.append(now - r.timestamp)
        return time.perf_counter() - started, delays
    finally:
        await consumer.stop()


async def kafka(bootstrap: str, size_name: str, value: bytes, count: int) -> KafkaCeiling:
    keys = _keys(count)
    topic = f"bench.ceiling.{size_name}.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS)])
    produce = await _produce(bootstrap, topic, value, keys)
    consume, _ = await _consume(bootstrap, topic, count)
    batch_topic = topic + ".batch"
    await ensure_topics(bootstrap, [TopicSpec(batch_topic, PARTITIONS)])
    batched = await _produce_batched(bootstrap, batch_topic, value, keys)
    # Round trip: the consumer in its own process (as a downstream service is), reading a
    # fresh topic while this process produces into it.
    trip_topic = topic + ".trip"
    await ensure_topics(bootstrap, [TopicSpec(trip_topic, PARTITIONS)])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ceiling",
        "consume",
        bootstrap,
        trip_topic,
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    await proc.stdout.readline()  # "ready": partitions assigned
    started = time.time()
    await _produce(bootstrap, trip_topic, value, keys)
    out, _ = await proc.communicate()
    trip = json.loads(out)
    delays = sorted(trip["delays_ms"])
    return KafkaCeiling(
        size=len(value),
        count=count,
        produce_per_second=count / produce,
        produce_batched_per_second=count / batched,
        consume_per_second=count / consume,
        round_trip_per_second=count / (trip["last_at"] - started),
        round_trip_p50_ms=statistics.median(delays),
        round_trip_p99_ms=delays[int(len(delays) * 0.99) - 1],
    )


async def _consume_process(bootstrap: str, topic: str, count: int) -> None:
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await consumer.getmany(timeout_ms=100)
        print("ready", flush=True)
        delays: list[float] = []
        while len(delays) < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            now = time.time() * 1000
            delays += [
                now - r.timestamp for rs in batches.values() for r in rs if r.key != b"warm-up"
            ]
        print(json.dumps({"last_at": time.time(), "delays_ms": delays}), flush=True)
    finally:
        await consumer.stop()


@dataclass
class PostgresCeiling:
    rows: int
    executemany_per_second: float
    copy_per_second: float


COLUMNS = [
    "event_id",
    "party_id",
    "sequence",
    "sort_at",
    "case_id",
    "message_id",
    "type",
    "channel",
    "occurred_at",
    "body",
]
INSERT = (
    "INSERT INTO timeline_entries (event_id, party_id, sequence, sort_at, case_id, message_id, "
    "type, channel, occurred_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)


def _rows(count: int, parties: int) -> list[tuple[Any, ...]]:
    event = timeline_envelope()
    body = orjson.dumps(event.data).decode()
    party_ids = [uuid.uuid4() for _ in range(parties)]
    case_ids = [uuid.uuid4() for _ in range(parties)]
    start = datetime.now(UTC) - timedelta(days=1)
    return [
        (
            uuid.uuid4(),
            party_ids[n % parties],
            n // parties + 1,
            start + timedelta(milliseconds=n),
            case_ids[n % parties],
            uuid.uuid4(),
            event.type,
            "web",
            start + timedelta(milliseconds=n),
            body,
        )
        for n in range(count)
    ]


async def postgres(dsn_db: str, rows: int) -> PostgresCeiling:
    """``dsn_db``: a plain ``postgresql://`` URL of a database with caseview's tables."""
    conn = await asyncpg.connect(dsn_db)
    try:
        insert = INSERT
        data = _rows(rows, max(1, rows // 10))
        started = time.perf_counter()
        for n in range(0, rows, 500):
            async with conn.transaction():
                await conn.executemany(insert, data[n : n + 500])
        executemany = time.perf_counter() - started
        data = _rows(rows, max(1, rows // 10))
        started = time.perf_counter()
        for n in range(0, rows, 5000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "timeline_entries", records=data[n : n + 5000], columns=COLUMNS
                )
        copy = time.perf_counter() - started
    finally:
        await conn.close()
    return PostgresCeiling(
        rows=rows, executemany_per_second=rows / executemany, copy_per_second=rows / copy
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["consume"]:
        asyncio.run(_consume_process(sys.argv[2], sys.argv[3], int(sys.argv[4])))

"""Reading the dead-letter topic and replaying records to where they came from."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.kafka.config import make_producer

DLT_PREFIX = "dlt."


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    original_headers: list[tuple[str, bytes]]

    @property
    def source(self) -> tuple[str, int, int] | None:
        try:
            return (
                self.headers["dlt.source.topic"],
                int(self.headers["dlt.source.partition"]),
                int(self.headers["dlt.source.offset"]),
            )
        except (KeyError, ValueError):
            return None


async def read(bootstrap: str, topic: str, *, max_seconds: float = 10.0) -> list[DeadLetter]:
    """Every record on the dead-letter topic, without joining a consumer group."""
    probe = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        partitions = await probe.partitions_for(topic)
    finally:
        await probe.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(p >= ends[tp] for p, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    headers = list(r.headers or ())
                    letters.append(
                        DeadLetter(
                            offset=r.offset,
                            key=r.key,
                            value=r.value,
                            headers={
                                k: v.decode("utf-8", "replace")
                                for k, v in headers
                                if k.startswith(DLT_PREFIX)
                            },
                            original_headers=[
                                (k, v) for k, v in headers if not k.startswith(DLT_PREFIX)
                            ],
                        )
                    )
        return sorted(letters, key=lambda d: d.offset)
    finally:
        await consumer.stop()


async def replay(bootstrap: str, letters: list[DeadLetter]) -> int:
    """Send each record back to its source topic: same key, same bytes, original headers.

    The event id inside is unchanged and was never recorded as processed (dead letters
    are not), so the consumer applies it once; replaying twice is harmless."""
    producer = make_producer(bootstrap, "eenloket-ops")
    await producer.start()
    try:
        sent = 0
        for letter in letters:
            source = letter.source
            if source is None:
                continue
            headers = [*letter.original_headers, ("dlt.replayed-from", str(letter.offset).encode())]
            await producer.send_and_wait(source[0], letter.value, key=letter.key, headers=headers)
            sent += 1
        return sent
    finally:
        await producer.stop()

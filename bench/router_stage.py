"""Router stage: routed messages per second from a pre-filled ``omni.inbound.v1``.

One router process (as in production: `python -m services.router serve`) on
PostgreSQL, against N messages already on the topic. Measures from the moment
the router is ready until every message's offset is stored and every outbox
row is published.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench.workload import messages
from services.router import orm
from shared.contracts import MessageReceived, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.devstack import run_services
from shared.envelope import source_urn
from shared.kafka.config import make_producer
from shared.kafka.topics import TopicSpec, ensure_topics

SOURCE = source_urn("00000000000000000000", "eenloket-ingest")


@dataclass
class RouterResult:
    messages: int
    senders: int
    processes: int
    seconds_to_consume: float
    seconds_to_publish: float

    @property
    def routed_per_second(self) -> float:
        return self.messages / self.seconds_to_publish


async def prefill(bootstrap: str, topic: str, count: int, sender_count: int) -> None:
    await ensure_topics(bootstrap, [TopicSpec(topic, 12)])
    producer = make_producer(bootstrap, "bench-prefill", linger_ms=20)
    await producer.start()
    try:
        futures = []
        for m in messages(count, sender_count):
            event = to_cloudevent(
                MessageReceived(message=m),
                source=SOURCE,
                subject=m.message_id,
                event_id=m.message_id,
            )
            key = (m.sender[0].kind + m.sender[0].value).encode()
            futures.append(await producer.send(topic, event.to_json(), key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run(
    bootstrap: str, database_url: str, *, count: int, sender_count: int, processes: int, logs: Path
) -> RouterResult:
    suffix = uuid.uuid4().hex[:6]
    topics = {
        "EENLOKET_TOPIC_INBOUND": f"bench.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"bench.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
    }
    await prefill(bootstrap, topics["EENLOKET_TOPIC_INBOUND"], count, sender_count)
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_CONSUMER_GROUP": f"bench-router-{suffix}",
        "EENLOKET_LOG_LEVEL": "WARNING",
        **topics,
    }
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    # The first process migrates; the others start once it is ready.
    with run_services({"router": env}, logs / "router-0"):
        started = time.perf_counter()
        extra = [run_services({"router": env}, logs / f"router-{n}") for n in range(1, processes)]
        for ctx in extra:
            ctx.__enter__()
        try:
            consumed_at = published_at = None
            while published_at is None:
                async with sessions() as s:
                    consumed = await s.scalar(
                        select(
                            func.coalesce(func.sum(orm.consumer_offsets.c.next_offset), 0)
                        ).where(orm.consumer_offsets.c.topic == topics["EENLOKET_TOPIC_INBOUND"])
                    )
                    pending = await s.scalar(
                        select(func.count())
                        .select_from(orm.outbox)
                        .where(orm.outbox.c.published_at.is_(None))
                    )
                if consumed_at is None and (consumed or 0) >= count:
                    consumed_at = time.perf_counter()
                if consumed_at is not None and pending == 0:
                    published_at = time.perf_counter()
                await asyncio.sleep(0.05)
        finally:
            for ctx in extra:
                ctx.__exit__(None, None, None)
    await engine.dispose()
    assert consumed_at is not None
    return RouterResult(
        messages=count,
        senders=sender_count,
        processes=processes,
        seconds_to_consume=consumed_at - started,
        seconds_to_publish=published_at - started,
    )

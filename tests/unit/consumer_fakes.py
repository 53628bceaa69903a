"""A ``TransactionalConsumer`` without a broker or a database, for tests of its Kafka-side
logic: its aiokafka consumer is real but never started (or replaced by a small fake), and
records are plain values."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from shared.kafka.consumer import TransactionalConsumer


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


Make = Callable[..., TransactionalConsumer]


@asynccontextmanager
async def unstarted_consumers(topic: str) -> AsyncIterator[Make]:
    """``make(fake=None, **options)`` builds consumers of ``topic``; their aiokafka consumers
    are stopped (closed) when the block ends."""
    made: list[Any] = []

    def make(fake: Any = None, **options: Any) -> TransactionalConsumer:
        nothing = cast(Any, None)  # the database side is not used by what these tests call
        consumer = TransactionalConsumer(
            bootstrap="127.0.0.1:9",
            group_id=f"test-{uuid.uuid4().hex[:8]}",
            topics=[topic],
            sessions=nothing,
            tables=nothing,
            handler=nothing,
            dead_letters=nothing,
            client_id="test",
            **options,
        )
        made.append(consumer.kafka)
        if fake is not None:
            consumer._consumer = fake
        return consumer

    try:
        yield make
    finally:
        for kafka in made:
            await kafka.stop()

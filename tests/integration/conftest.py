"""Fixtures of the integration tests that span services (the shared ones are in tests/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.kafka.config import make_producer
from tests.integration.stack import Timeline, running


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer for the test's own records (a test module may define its own)."""
    p = make_producer(kafka_bootstrap, "test")
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def stack(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any, tmp_path: Path
) -> AsyncIterator[tuple[Any, Timeline, Any, Any]]:
    """Ingest (every channel's key) and the router, with the timeline read in the background."""
    producer = make_producer(kafka_bootstrap, "test")
    await producer.start()
    try:
        async with running(kafka_bootstrap, pg_urls, topics, tmp_path, producer) as running_stack:
            yield running_stack
    finally:
        await producer.stop()

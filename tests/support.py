"""Helpers for tests: polling with a deadline, reading a topic to the end."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from services.router.config import RouterSettings

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def eventually_sync(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2
) -> T:
    """``eventually`` for code outside an event loop (processes, files)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning until ``expect`` records arrived (or fail)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for rs in batch.values():
                records.extend(rs)
    finally:
        await consumer.stop()
    assert len(records) >= expect, f"expected {expect} records on {topic}, got {len(records)}"
    return records


def router_settings(
    kafka_bootstrap: str, url: str, topics: Any, group: str | None = None, **extra: Any
) -> RouterSettings:
    return RouterSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=url,
        topic_inbound=topics.inbound,
        topic_timeline=topics.timeline,
        topic_commands=topics.commands,
        topic_deadletter=topics.deadletter,
        topic_outbound=topics.outbound,
        topic_outbound_status=topics.outbound_status,
        consumer_group=group or f"router-{uuid.uuid4().hex[:8]}",
        **extra,
    )


def promtool() -> str:
    """Prometheus' promtool (deploy/local/promtool.sh; `make test` builds it first through
    system-deps). Skips only where Go is missing, so it cannot be built."""
    root = Path(__file__).resolve().parents[1]
    if shutil.which("go") is None and shutil.which("promtool") is None:
        pytest.skip("Go is not installed: promtool cannot be built (deploy/local/promtool.sh)")
    if shutil.which("go") is None:
        return str(shutil.which("promtool"))
    out = subprocess.run(
        ["bash", "deploy/local/promtool.sh", "path"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return out.stdout.strip().splitlines()[-1]

"""Helpers for tests: polling with a deadline, reading a topic to the end."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.structs import ConsumerRecord

from services.ingest.auth import Integration, hash_key
from services.ingest.config import IngestSettings
from services.outbound.channels.base import PermanentDeliveryError, Sent, TemporaryDeliveryError
from services.outbound.config import OutboundSettings
from services.router.config import RouterSettings
from shared.contracts.outbound import DeliverReply, ReplyChannel

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


@contextlib.asynccontextmanager
async def within(seconds: float, phase: str) -> AsyncIterator[None]:
    """A deadline for one phase of a test, so that a hang fails naming the phase."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"{phase}: not done within {seconds:.0f}s") from None


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


def outbound_settings(
    kafka_bootstrap: str, url: str, topics: Any, group: str | None = None, **extra: Any
) -> OutboundSettings:
    extra.setdefault("backoff_base_seconds", 0.05)  # retries within a test's patience
    extra.setdefault("backoff_max_seconds", 0.2)
    extra.setdefault("worker_poll_seconds", 0.05)
    return OutboundSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=url,
        topic_deadletter=topics.deadletter,
        topic_outbound=topics.outbound,
        topic_outbound_status=topics.outbound_status,
        topic_delivery_reports=topics.delivery_reports,
        consumer_group=group or f"outbound-{uuid.uuid4().hex[:8]}",
        **extra,
    )


def deliver_reply(channel: ReplyChannel = ReplyChannel.EMAIL) -> DeliverReply:
    """A send request as the router makes it, for a new reply."""
    reply_id = uuid.uuid4()
    return DeliverReply(
        reply_id=reply_id,
        case_id=uuid.uuid4(),
        case_number="2026-000042",
        party_id=uuid.uuid4(),
        channel=channel,
        address="inwoner@example.org",
        subject="Uw vraag over afval",
        text="Beste inwoner, de container wordt morgen geleegd.",
        attachments=[],
        token=f"t{reply_id.hex[:25]}",
        requested_at=datetime.now(UTC),
    )


class FakeAdapter:
    """A channel adapter that does as it is told per reply: send (the default), fail
    temporarily a number of times first, or fail permanently with a reason."""

    def __init__(self) -> None:
        self.calls: list[DeliverReply] = []
        self._temporary: dict[uuid.UUID, int] = {}
        self._permanent: dict[uuid.UUID, str] = {}

    def tell(
        self, reply_id: uuid.UUID, *, temporary: int = 0, permanent: str | None = None
    ) -> None:
        self._temporary[reply_id] = temporary
        if permanent is not None:
            self._permanent[reply_id] = permanent

    def sent(self, reply_id: uuid.UUID) -> int:
        """How often the adapter was asked to send this reply."""
        return sum(1 for r in self.calls if r.reply_id == reply_id)

    async def send(self, request: DeliverReply) -> Sent:
        self.calls.append(request)
        if request.reply_id in self._permanent:
            raise PermanentDeliveryError(self._permanent[request.reply_id])
        if self._temporary.get(request.reply_id, 0) > 0:
            self._temporary[request.reply_id] -= 1
            raise TemporaryDeliveryError("aanbieder antwoordt 503")
        return Sent(reference=f"<{request.reply_id}@test.example>")


def promtool() -> str:
    """Prometheus' promtool (deploy/local/promtool.sh; `make test` builds it first through
    system-deps). Skips only where Go is missing, so it cannot be built."""
    if shutil.which("go") is None and shutil.which("promtool") is None:
        pytest.skip("Go is not installed: promtool cannot be built (deploy/local/promtool.sh)")
    if shutil.which("go") is None:
        return str(shutil.which("promtool"))
    return built_tool("promtool.sh", "path")


def built_tool(script: str, *args: str) -> str:
    """The path a deploy/local/ build script prints last, having built its tool if missing."""
    out = subprocess.run(
        ["bash", f"deploy/local/{script}", *args],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return out.stdout.strip().splitlines()[-1]


def session_database_name(service: str) -> str:
    """The session's database of ``service``, one per checkout: two worktrees sharing a server
    (each with its own migrations) do not migrate each other's databases."""
    checkout = hashlib.sha1(str(Path(__file__).resolve().parent).encode()).hexdigest()[:8]
    return f"eenloket_test_{service}_{checkout}"


def ingest_with_keys(
    keys: dict[str, tuple[str, Any, bool]],
    *,
    kafka: str,
    database_url: str,
    topic: str,
    attachments: Path,
    **options: Any,
) -> IngestSettings:
    """Ingest's settings for channel tests: no anonymous callers, one integration per entry
    of ``keys`` (name -> (key, channels, may assert a login))."""
    return IngestSettings(
        environment="test",
        kafka_bootstrap=kafka,
        database_url=database_url,
        topic_inbound=topic,
        allow_anonymous=False,
        api_keys={
            name: Integration(sha256=hash_key(k), channels=frozenset(c), may_assert_login=login)
            for name, (k, c, login) in keys.items()
        },
        attachment_dir=attachments,
        **options,
    )


async def assignment(admin: AIOKafkaAdminClient, group: str) -> list[set[TopicPartition]]:
    """The partitions of each member of ``group`` once it is stable (the broker's view); empty
    while it rebalances."""
    [response] = await admin.describe_consumer_groups([group])
    [described] = response.to_object()["groups"]
    if described["state"] != "Stable":
        return []
    return [
        set(ConsumerProtocolMemberAssignment.decode(m["member_assignment"]).partitions())
        for m in described["members"]
        if m["member_assignment"]
    ]

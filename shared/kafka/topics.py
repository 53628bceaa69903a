"""Topic names and their idempotent creation (design §2)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int | None = None  # None: the broker's default


async def ensure_topics(
    bootstrap: str, specs: list[TopicSpec], *, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(
                name=s.name,
                num_partitions=s.partitions,
                replication_factor=replication_factor,
                topic_configs=(
                    {"retention.ms": str(s.retention_ms)} if s.retention_ms is not None else {}
                ),
            )
            for s in missing
        ]
        with contextlib.suppress(
            TopicAlreadyExistsError
        ):  # another replica won the race: the topic exists, which is all we need
            await admin.create_topics(new)
        # Created on the controller is not yet in every broker's metadata: wait until the
        # topics are listed, so a producer started right after finds them.
        deadline = time.monotonic() + 15
        while not {s.name for s in missing} <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError("created topics did not appear in the broker's metadata")
            await asyncio.sleep(0.1)
        # ... and until every partition has a leader: a producer's first send to a partition
        # without one fails with NotLeaderForPartition and waits for a metadata refresh.
        while not await _led(admin, missing):
            if time.monotonic() > deadline:
                raise TimeoutError("created topics have partitions without a leader")
            await asyncio.sleep(0.1)
        return [s.name for s in missing]
    finally:
        await admin.close()


async def _led(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> bool:
    """Whether every partition of these topics has a leader (the broker's metadata)."""
    described = await admin.describe_topics([s.name for s in specs])
    wanted = {s.name: s.partitions for s in specs}
    led = {
        t["topic"]: sum(1 for p in t["partitions"] if p.get("leader", -1) >= 0)
        for t in described
        if not t.get("error_code")
    }
    return all(led.get(name, 0) >= count for name, count in wanted.items())

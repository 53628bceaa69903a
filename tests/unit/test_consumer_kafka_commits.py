"""Offsets reach Kafka after the database, at most every ``kafka_commit_every`` seconds while
busy and at once when a poll finds nothing: an awaited commit per batch was a broker round
trip in every batch's way to caseview. The database holds the truth; Kafka's copy is what
tools outside Eenloket see as the group's lag, so it must catch up when it is quiet.

No broker: a fake with aiokafka's calls, scripted polls, and the batch's transaction replaced
(what it does is tested with the real components elsewhere)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.kafka.consumer import TransactionalConsumer, _SeekToStoredOffsets
from tests.unit.consumer_fakes import Make, Rec, unstarted_consumers


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    async with unstarted_consumers(TOPIC) as make:
        yield make


TOPIC = f"commits-{uuid.uuid4().hex[:6]}"
TP0 = TopicPartition(TOPIC, 0)
TP1 = TopicPartition(TOPIC, 1)


class Scripted:
    """Polls answer the scripted batches in turn, then end the loop; commits are recorded."""

    def __init__(self, *polls: dict[TopicPartition, list[Any]]) -> None:
        self.polls = list(polls)
        self.commits: list[dict[TopicPartition, int]] = []
        self.assigned = {TP0, TP1}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        if not self.polls:
            raise asyncio.CancelledError  # the script is over
        return self.polls.pop(0)

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


async def _run(consumer: TransactionalConsumer) -> None:
    async def applied(batch: Any) -> list[Any]:
        return []

    consumer._apply = applied  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await consumer.run()


async def test_while_busy_kafka_hears_at_most_every_interval_and_when_quiet_at_once(
    make: Make,
) -> None:
    fake = Scripted(
        {TP0: [Rec(TOPIC, 0, 4)]},
        {TP0: [Rec(TOPIC, 0, 5)], TP1: [Rec(TOPIC, 1, 9)]},
        {TP1: [Rec(TOPIC, 1, 10)]},
        {},  # quiet
    )
    await _run(make(fake, kafka_commit_every=3600))
    # The first batch at once (nothing committed yet), the next two only when it was quiet,
    # each partition at the offset after its last record.
    assert fake.commits == [{TP0: 5}, {TP0: 6, TP1: 11}]


async def test_every_batch_commits_when_the_interval_is_zero(make: Make) -> None:
    fake = Scripted({TP0: [Rec(TOPIC, 0, 4)]}, {TP0: [Rec(TOPIC, 0, 5)]})
    await _run(make(fake, kafka_commit_every=0))
    assert fake.commits == [{TP0: 5}, {TP0: 6}]


async def test_a_revoked_partition_is_not_committed_by_its_old_owner(make: Make) -> None:
    fake = Scripted()
    consumer = make(fake, kafka_commit_every=3600)
    consumer._to_commit_to_kafka({TP0: [Rec(TOPIC, 0, 4)], TP1: [Rec(TOPIC, 1, 7)]})
    await _SeekToStoredOffsets(consumer).on_partitions_revoked([TP0])
    await consumer._commit_to_kafka()
    assert fake.commits == [{TP1: 8}]

"""After a batch is committed, reporting its lag and committing its offsets to Kafka cannot kill
the consumer loop when a rebalance took a partition away meanwhile (issue #25: aiokafka's
``highwater`` asserts the partition is still assigned, and the loop died of it).

No broker: the consumer is a real, unstarted ``AIOKafkaConsumer`` whose assignment is changed
by hand, or a small fake with aiokafka's checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from shared.metrics import CONSUMER_LAG
from tests.unit.consumer_fakes import Make, Rec, unstarted_consumers

TOPIC = f"lag-{uuid.uuid4().hex[:6]}"
TP0 = TopicPartition(TOPIC, 0)
TP1 = TopicPartition(TOPIC, 1)


def _batch() -> dict[TopicPartition, list[Any]]:
    return {
        TP0: [Rec(TOPIC, 0, 4), Rec(TOPIC, 0, 5)],
        TP1: [Rec(TOPIC, 1, 7)],
    }


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    async with unstarted_consumers(TOPIC) as make:
        yield make


class Revoked:
    """Partition 0 was revoked during the awaited commit; aiokafka's checks, our highwater."""

    def __init__(self, high: int | None = 12, error: Exception | None = None) -> None:
        self.high = high
        self.error = error
        self.committed: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return {TP1}

    def highwater(self, tp: TopicPartition) -> int | None:
        assert tp in self.assignment(), "Partition is not assigned"
        if self.error is not None:
            raise self.error
        return self.high

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        for tp in offsets:
            if tp not in self.assignment():
                raise IllegalStateError(f"Partition {tp} is not assigned")
        self.committed.update({tp: o.offset for tp, o in offsets.items()})


def _lag(group: str, tp: TopicPartition) -> float | None:
    for metric in CONSUMER_LAG.collect():
        for sample in metric.samples:
            if sample.labels == {"group": group, "topic": tp.topic, "partition": str(tp.partition)}:
                return sample.value
    return None


async def test_lag_of_a_partition_a_rebalance_took_away_is_not_reported_and_kills_nothing(
    make: Make,
) -> None:
    consumer = make()
    consumer.kafka.assign([TP0, TP1])
    consumer.kafka.assign([TP1])  # the rebalance, between the batch's commit and its lag
    consumer._report_lag(_batch())  # aiokafka's highwater(TP0) would assert
    assert _lag(consumer.group_id, TP0) is None


async def test_lag_is_still_reported_for_the_partitions_kept(make: Make) -> None:
    consumer = make(Revoked(high=12))
    consumer._report_lag(_batch())
    assert _lag(consumer.group_id, TP1) == 12 - 8
    assert _lag(consumer.group_id, TP0) is None


async def test_lag_reporting_never_raises(make: Make) -> None:
    consumer = make(Revoked(error=RuntimeError("anything at all")))
    consumer._report_lag(_batch())


async def test_offsets_of_the_partitions_kept_are_still_committed_to_kafka(make: Make) -> None:
    fake = Revoked()
    consumer = make(fake)
    consumer._to_commit_to_kafka(_batch())
    await consumer._commit_to_kafka()
    assert fake.committed == {TP1: 8}


async def test_a_revoked_partitions_lag_is_withdrawn(make: Make) -> None:
    from shared.kafka.consumer import _SeekToStoredOffsets

    consumer = make(Revoked(high=12))
    CONSUMER_LAG.labels(consumer.group_id, TOPIC, "0").set(5)
    CONSUMER_LAG.labels(consumer.group_id, TOPIC, "1").set(4)
    await _SeekToStoredOffsets(consumer).on_partitions_revoked([TP0])
    # The replica that takes partition 0 over reports it; this one no longer does.
    assert _lag(consumer.group_id, TP0) is None
    assert _lag(consumer.group_id, TP1) == 4
    await _SeekToStoredOffsets(consumer).on_partitions_revoked([TP0])  # twice: no error

"""The safety defaults of every producer and consumer in Eenloket.

These are the guarantees "nothing lost, nothing doubled" rests on; a unit test
fails if anyone weakens them (reliability catalogue R9).
"""

from __future__ import annotations

import functools
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

# acks=all: the leader waits for every in-sync replica; idempotence: a retried
# send never writes a second copy.
PRODUCER_SAFETY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}

# No auto-commit: an offset moves only after the work it stands for is durable.
# read_committed: never see records of aborted transactions.
CONSUMER_SAFETY: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
}


class UnsafeKafkaSettingError(ValueError):
    pass


def _merge(safety: dict[str, Any], tuning: dict[str, Any]) -> dict[str, Any]:
    clash = {k for k in tuning if k in safety and tuning[k] != safety[k]}
    if clash:
        raise UnsafeKafkaSettingError(f"refusing to weaken Kafka safety settings: {sorted(clash)}")
    return {**tuning, **safety}


def producer_config(bootstrap: str, client_id: str, **tuning: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "linger_ms": 2,
        "request_timeout_ms": 15_000,
        "retry_backoff_ms": 200,
        "max_batch_size": 256 * 1024,
    }
    return _merge(PRODUCER_SAFETY, {**defaults, **tuning})


def consumer_config(bootstrap: str, client_id: str, group_id: str, **tuning: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "group_id": group_id,
        "max_poll_records": 500,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
        "max_poll_interval_ms": 300_000,
    }
    return _merge(CONSUMER_SAFETY, {**defaults, **tuning})


@functools.lru_cache(maxsize=65_536)
def _murmur2(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioning (murmur2 of the key, as the Java client), remembering the
    hash of recent keys: the same parties and messages come back, and aiokafka's murmur2 is
    pure Python (a measurable share of the router's CPU)."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_murmur2(key) % len(all_partitions)]


def make_producer(bootstrap: str, client_id: str, **tuning: Any) -> AIOKafkaProducer:
    tuning.setdefault("partitioner", key_partitioner)
    return AIOKafkaProducer(**producer_config(bootstrap, client_id, **tuning))


def make_consumer(
    *topics: str, bootstrap: str, client_id: str, group_id: str, **tuning: Any
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **consumer_config(bootstrap, client_id, group_id, **tuning))

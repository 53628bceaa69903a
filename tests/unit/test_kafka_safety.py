"""R9: the safety settings nothing-lost rests on. Change them and this fails."""

import pytest
from aiokafka.partitioner import DefaultPartitioner

from shared.kafka.config import (
    CONSUMER_SAFETY,
    PRODUCER_SAFETY,
    UnsafeKafkaSettingError,
    consumer_config,
    key_partitioner,
    make_consumer,
    make_producer,
    producer_config,
)


def test_safety_constants_are_what_the_design_requires():
    assert PRODUCER_SAFETY == {"acks": "all", "enable_idempotence": True}
    assert CONSUMER_SAFETY["enable_auto_commit"] is False
    assert CONSUMER_SAFETY["isolation_level"] == "read_committed"


def test_producer_config_carries_acks_all_and_idempotence():
    cfg = producer_config("127.0.0.1:1", "t")
    assert cfg["acks"] == "all"
    assert cfg["enable_idempotence"] is True


def test_consumer_config_never_auto_commits():
    cfg = consumer_config("127.0.0.1:1", "t", "g")
    assert cfg["enable_auto_commit"] is False


@pytest.mark.parametrize(
    ("factory", "override"),
    [
        (producer_config, {"acks": 1}),
        (producer_config, {"enable_idempotence": False}),
        (lambda b, c, **kw: consumer_config(b, c, "g", **kw), {"enable_auto_commit": True}),
    ],
)
def test_weakening_a_safety_setting_is_refused(factory, override):
    with pytest.raises(UnsafeKafkaSettingError):
        factory("127.0.0.1:1", "t", **override)


async def test_the_real_client_objects_are_configured_safely():
    producer = make_producer("127.0.0.1:1", "t")
    # aiokafka keeps a transaction manager (producer id, sequence numbers) only when
    # idempotence is on, and normalises acks='all' to -1 on its sender.
    assert producer._txn_manager is not None
    assert producer._sender._acks == -1
    await producer.stop()
    consumer = make_consumer("x", bootstrap="127.0.0.1:1", client_id="t", group_id="g")
    assert consumer._enable_auto_commit is False
    assert consumer._isolation_level == "read_committed"
    await consumer.stop()


def test_key_partitioner_places_keys_as_kafkas_default_does():
    # The Java client's murmur2 placement: per-party order on a topic depends on it.
    default = DefaultPartitioner()
    partitions = list(range(12))
    for n in range(500):
        key = f"party-{n}".encode()
        assert key_partitioner(key, partitions, partitions) == default(key, partitions, partitions)
        assert key_partitioner(key, partitions[:5], partitions) == default(
            key, partitions[:5], partitions
        )
    assert key_partitioner(None, partitions, [3]) == 3

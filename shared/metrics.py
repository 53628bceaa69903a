"""Prometheus metrics of the shared plumbing (each service adds its own beside these)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter(
    "eenloket_consumer_records_total",
    "Records a consumer group applied (duplicates and dead letters excluded)",
    ["group", "topic"],
)
DUPLICATES = Counter(
    "eenloket_consumer_duplicates_total",
    "Records skipped because their event id was already applied",
    ["group", "topic"],
)
DEAD_LETTERS = Counter(
    "eenloket_dead_letters_total",
    "Records sent to the dead-letter topic",
    ["group", "topic", "reason"],
)
BATCH_SECONDS = Histogram(
    "eenloket_consumer_batch_seconds",
    "Time to apply one consumed batch in one database transaction",
    ["group"],
)
BATCH_IN_FLIGHT = Gauge(
    "eenloket_consumer_batch_in_flight",
    "1 while a consumed batch is being applied (its database transaction open or about to be), "
    "else 0; the reliability tests kill a consumer while it is 1",
    ["group"],
)
CONSUMER_LAG = Gauge(
    "eenloket_consumer_lag",
    "Records behind the end of the partition",
    ["group", "topic", "partition"],
)
BATCH_RETRIES = Counter(
    "eenloket_consumer_batch_retries_total",
    "Batches rolled back and retried because Kafka or the database was away",
    ["group"],
)
EVENT_DELAY = Histogram(
    "eenloket_consumer_event_delay_seconds",
    "From an event's time (when its producer made it) to the commit of its effects, per "
    "consumer group; for caseview's group this is the projection delay: how long a contact "
    "takes to become visible",
    ["group"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
PRODUCER_RESETS = Counter(
    "eenloket_kafka_producer_resets_total",
    "Kafka producers replaced because their idempotence state was broken (after an outage)",
)
OUTBOX_BACKLOG = Gauge("eenloket_outbox_backlog", "Outbox rows not yet published")
OUTBOX_PUBLISHED = Counter("eenloket_outbox_published_total", "Outbox rows published")

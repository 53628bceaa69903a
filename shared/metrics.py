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
OUTBOX_BACKLOG = Gauge("eenloket_outbox_backlog", "Outbox rows not yet published")
OUTBOX_PUBLISHED = Counter("eenloket_outbox_published_total", "Outbox rows published")

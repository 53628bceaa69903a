"""Prometheus metrics of the notifications publisher."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

QUEUED = Counter(
    "eenloket_notifications_queued_total",
    "Notifications recorded to be sent, per kanaal",
    ["kanaal"],
)
ATTEMPTS = Counter(
    "eenloket_notifications_attempts_total",
    "Sends to the notification component per kanaal and outcome (sent, temporary, permanent)",
    ["kanaal", "outcome"],
)
GAVE_UP = Counter(
    "eenloket_notifications_gave_up_total",
    "Notifications given up (the dead letter: status gave_up in the table), per kanaal",
    ["kanaal"],
)
OLDEST_DUE = Gauge(
    "eenloket_notifications_oldest_due_seconds",
    "Age of the oldest notification due to be sent (0 when none is): a component that is "
    "down shows here first",
)
